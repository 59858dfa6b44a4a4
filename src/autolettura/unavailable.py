"""A database that cannot be reached answers 503 "try again", not 500 "something broke".

When PostgreSQL is down, restarting or failing over, a view's query raises Django's
OperationalError or InterfaceError. A submission's reading, its receipt and its inbound
message's outcome commit together, so a submission cut by such an error leaves no reading
behind (at most the log of what was received): the answer is "not recorded, send it again
in a few minutes". The API answers in its own error format; pages get a plain page that
needs no database. Retry-After says when to try again.

A database error raised outside a view (a middleware's, such as the session's save after
the view) never reaches process_exception: Django answers it with handler500, which here
gives the same 503 for it (`server_error`).

The broken connection is not reused: Django closes a connection that raised such an error
at the end of the request, and with CONN_HEALTH_CHECKS (settings) a persistent connection
the server dropped is found before the next request uses it. So the process recovers by
itself once the database is back, with no restart.

Sending again is safe: the same reading (supply, date, value) is never recorded twice, so
in the rare case where the database committed just as the connection was cut, the retry
returns the first receipt.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views import defaults

logger = logging.getLogger(__name__)

# Long enough for a restart or a failover; the message says "a few minutes".
RETRY_AFTER_SECONDS = 120
ERROR_CODE = "service_unavailable"

# The views that take a reading in charge: their answer names the reading.
_READING_SUBMISSIONS = frozenset(
    {"api-v1:reading_create", "portal:reading_new", "backoffice:counter"}
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def unavailable_message(request: HttpRequest) -> str:
    """What the person is told, in the request's language: what was not recorded, and when
    to try again."""
    if request.method in _SAFE_METHODS:
        return _("The service is temporarily unavailable. Please try again in a few minutes.")
    match = request.resolver_match
    if match is not None and match.view_name in _READING_SUBMISSIONS:
        return _(
            "The service is temporarily unavailable: the reading has not been recorded and "
            "no receipt was issued. Please send it again in a few minutes."
        )
    return _(
        "The service is temporarily unavailable: what you sent has not been recorded. "
        "Please send it again in a few minutes."
    )


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """The 503 answer: JSON in the API's error format under /api/, else a plain page."""
    message = unavailable_message(request)
    response: HttpResponse
    if request.path_info.startswith("/api/"):
        response = JsonResponse(
            {"errors": [{"field": None, "code": ERROR_CODE, "message": message}]},
            status=503,
            # As the API's own answers say it.
            content_type="application/json; charset=utf-8",
        )
    else:
        # Rendered without the request: context processors (the signed-in user, messages
        # kept in the session) would query the database that is down.
        page = render_to_string(
            "503.html",
            {
                "title": _("Service temporarily unavailable"),
                "message": message,
                "language": translation.get_language() or "it",
            },
        )
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # A proxy must not keep serving the outage after it is over.
    add_never_cache_headers(response)
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database error raised by a view into the 503 answer, logged once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        # One line, no traceback: during an outage every request fails the same way, and a
        # traceback each would bury the log. The driver's first line says what happened.
        detail = str(exception).strip().splitlines()[0] if str(exception).strip() else ""
        logger.error(
            "database unavailable: %s %s answered 503 (%s: %s)",
            request.method,
            request.path,
            type(exception).__name__,
            detail,
        )
        response = unavailable_response(request)
        # Django would log the 503 again ("Service Unavailable: /path"): once is enough.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the 503 answer for a database error raised where no view could catch it
    (Django calls this inside its except block, so the error is sys.exc_info()'s), Django's
    own 500 page for anything else. Django has already logged the error with its traceback."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return unavailable_response(request)
    return defaults.server_error(request)
