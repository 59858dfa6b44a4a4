"""The JSON API v1 (DESIGN.md section 7): one NinjaAPI, routers from each domain app."""

from __future__ import annotations

import logging

from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from autolettura.accounts.apis import router as auth_router
from autolettura.billing.apis import router as billing_router
from autolettura.customers.apis import router as me_router
from autolettura.readings.apis import router as readings_router
from autolettura.readings.messages import error_message
from autolettura.readings.services import SubmissionRejected
from autolettura.rules.errors import FieldError
from autolettura.schemas import UNREADABLE_BODY
from autolettura.service.apis import faults_router, hours_router
from autolettura.service.messages import fault_error_message
from autolettura.service.services import FaultReportRejected
from autolettura.throttling import Throttled

api = NinjaAPI(
    title="Autolettura API",
    version="1",
    description="Self-readings of water meters: submit a reading, follow it, see your supplies.",
    urls_namespace="api-v1",
)
api.add_router("/readings", readings_router)
api.add_router("/auth", auth_router)
api.add_router("/me", me_router)
api.add_router("/me", billing_router)
api.add_router("/faults", faults_router)
api.add_router("/service-hours", hours_router)


def errors_response(request: HttpRequest, errors: list[FieldError], status: int) -> HttpResponse:
    body = {
        "errors": [{"field": e.field, "code": e.code, "message": error_message(e)} for e in errors]
    }
    return api.create_response(request, body, status=status)


@api.exception_handler(SubmissionRejected)
def on_submission_rejected(request: HttpRequest, exc: SubmissionRejected) -> HttpResponse:
    return errors_response(request, exc.errors, 422)


@api.exception_handler(FaultReportRejected)
def on_fault_report_rejected(request: HttpRequest, exc: FaultReportRejected) -> HttpResponse:
    body = {
        "errors": [
            {"field": e.field, "code": e.code, "message": fault_error_message(e)}
            for e in exc.errors
        ]
    }
    return api.create_response(request, body, status=422)


# Where a value came from, as ninja puts it before the field's name in an error's "loc".
_LOCATIONS = {"body", "payload", "path", "query", "form", "file", "header", "cookie"}

_SCHEMA_ERROR_CODES = {
    "supply_code": "code_invalid",
    "customer_code": "code_invalid",
    "reading": "reading_invalid",
    "read_on": "date_invalid",
    "channel": "channel_invalid",
    "body": "body_invalid",
}


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # Schema errors (a field of the wrong JSON type, a body that is not JSON) in the same
    # shape as the rules' own errors, so clients handle one format.
    errors: list[FieldError] = []
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ()) if part not in _LOCATIONS]
        field = location[0] if location else "body"
        found = FieldError(field, _SCHEMA_ERROR_CODES.get(field, "invalid"))
        # A union field (the reading) fails once per type it could have been: say it once.
        if found not in errors:
            errors.append(found)
    return errors_response(request, errors, 422)


@api.exception_handler(Throttled)
def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = api.create_response(
        request,
        {
            "errors": [
                {
                    "field": None,
                    "code": "throttled",
                    "message": _("Too many requests: please try again in %(seconds)s seconds.")
                    % {"seconds": exc.retry_after},
                }
            ]
        },
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(AuthenticationError)
def on_unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = _("Sign in again: the token is missing, expired or not valid.")
    return api.create_response(
        request,
        {"errors": [{"field": None, "code": "unauthorized", "message": message}]},
        status=401,
    )


_HTTP_ERROR_CODES = {400: "body_invalid", 401: "unauthorized", 404: "not_found"}


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = _HTTP_ERROR_CODES.get(exc.status_code, "error")
    return api.create_response(
        request,
        {"errors": [{"field": None, "code": code, "message": str(exc)}]},
        status=exc.status_code,
    )


@api.exception_handler(MultiPartParserError)
@api.exception_handler(SuspiciousOperation)
def on_unreadable_body(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A form Django cannot parse (a multipart body without its boundary, too many fields):
    # the API's JSON error, like a body that is not JSON, rather than Django's HTML page.
    if isinstance(exc, SuspiciousOperation):
        # Logged where Django logs the ones it answers itself.
        logging.getLogger(f"django.security.{type(exc).__name__}").warning(
            "%s: %s", request.path, exc
        )
    return on_http_error(request, HttpError(400, UNREADABLE_BODY))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    # The same answer for a supply that is someone else's and one that does not exist.
    message = _("Not found: check the code, or sign in as the customer it belongs to.")
    return api.create_response(
        request,
        {"errors": [{"field": None, "code": "not_found", "message": message}]},
        status=404,
    )
