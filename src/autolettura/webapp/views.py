"""The app's own files: its manifest, its service worker and the page shown without signal."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from autolettura.webapp import selectors


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        json.dumps(selectors.app_manifest(), ensure_ascii=False, indent=2),
        content_type="application/manifest+json",
    )
    # In the customer's language: the same address answers in Italian or English.
    response["Cache-Control"] = "public, max-age=3600"
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    body = render_to_string(
        "webapp/sw.js",
        {
            "version": selectors.shell_version(),
            "shell": json.dumps(selectors.shell_urls()),
            "public_pages": json.dumps(selectors.public_page_urls()),
            "private_pages": json.dumps(selectors.private_page_urls()),
            "offline_page": json.dumps(selectors.offline_page_url()),
            "queue_script": json.dumps(selectors.queue_script_url()),
        },
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    # Browsers check for a new worker at every visit; it must never come from a cache.
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "webapp/offline.html")
