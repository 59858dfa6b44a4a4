"""The Content-Security-Policy header, on every response.

Scripts, styles, images and fonts come from this site only (images and fonts also as data:
URLs, which Bootstrap Italia's CSS carries); nothing may frame the site and forms post only
to it. Two inline pieces are allowed by their exact hash, not by 'unsafe-inline':
the `<style>` htmx adds for its request indicators, and the back office's print button
(`onclick="window.print()"`, allowed by 'unsafe-hashes'). Change either text and the browser
refuses it: update the hash here (tests/ops check both in a real browser).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# htmx 2 (vendor/htmx/htmx.min.js) inserts exactly this element unless told not to.
HTMX_INDICATOR_STYLE = (
    ".htmx-indicator{opacity:0;visibility: hidden} "
    ".htmx-request .htmx-indicator, .htmx-request.htmx-indicator"
    "{opacity:1;visibility: visible;transition: opacity 200ms ease-in}"
)
# backoffice/receipt.html's "Print the receipt" button.
PRINT_HANDLER = "window.print()"

POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' 'unsafe-hashes' {_sha256(PRINT_HANDLER)}",
        f"style-src 'self' {_sha256(HTMX_INDICATOR_STYLE)}",
        # Bootstrap Italia's CSS carries some icons and a font inline, as data: URLs.
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


def policy_with_form_targets(origins: list[str]) -> str:
    """POLICY, with forms also allowed to lead to `origins` (a form whose answer sends the
    browser to another site, such as pagoPA checkout): a page that needs it sets this as
    its own header, which the middleware keeps."""
    extra = " ".join(o for o in origins if o.startswith(("https://", "http://")) and " " not in o)
    return POLICY.replace("form-action 'self'", f"form-action 'self' {extra}".rstrip())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response
