"""A bound on the size of a whole request, checked before any of its body is read.

Django bounds the form fields and JSON it keeps in memory (DATA_UPLOAD_MAX_MEMORY_SIZE) but
not uploaded files: a multipart body of any size would be streamed to a temporary file in
full before a view could refuse its photo. Here a request whose Content-Length is above
AUTOLETTURA_REQUEST_MAX_MB is answered 413 at once, saying the limit, and its body is never
read. Under WSGI (gunicorn) a body without a Content-Length (chunked) is not read either:
Django takes its length as 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

logger = logging.getLogger("django.security.RequestTooLarge")

MB = 1024 * 1024


def max_request_bytes() -> int:
    return int(settings.AUTOLETTURA_REQUEST_MAX_MB) * MB


def declared_length(request: HttpRequest) -> int | None:
    """The body's size as the client declared it; None when absent or not a number
    (Django then reads no body at all)."""
    raw = request.META.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def too_large_response(request: HttpRequest) -> HttpResponse:
    """413 naming the limit: the API's JSON error for the API, plain text elsewhere."""
    max_mb = int(settings.AUTOLETTURA_REQUEST_MAX_MB)
    message = _(
        "The request is too large: this site accepts at most %(max_mb)s MB at a time. "
        "Send a smaller photo, or none."
    ) % {"max_mb": max_mb}
    if request.path.startswith("/api/"):
        body = {"errors": [{"field": None, "code": "request_too_large", "message": message}]}
        return JsonResponse(body, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class RequestBodyLimitMiddleware:
    """Refuses a request declared larger than AUTOLETTURA_REQUEST_MAX_MB (413)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = declared_length(request)
        if length is not None and length > max_request_bytes():
            logger.warning(
                "%s %s: a body of %s bytes refused", request.method, request.path, length
            )
            return too_large_response(request)
        return self.get_response(request)
