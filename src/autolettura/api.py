"""The JSON API v1 (DESIGN.md section 7): one NinjaAPI, routers from each domain app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema

from autolettura.accounts.apis import router as auth_router
from autolettura.billing.apis import router as billing_router
from autolettura.customers.apis import router as me_router
from autolettura.photos.apis import router as meter_photo_router
from autolettura.readings.apis import openapi_components as readings_openapi_components
from autolettura.readings.apis import router as readings_router
from autolettura.readings.messages import error_message
from autolettura.readings.photos import photo_error_message
from autolettura.readings.services import SubmissionRejected
from autolettura.rules.errors import FieldError
from autolettura.schemas import UNREADABLE_BODY
from autolettura.service.apis import faults_router, hours_router
from autolettura.service.messages import fault_error_message
from autolettura.service.services import FaultReportRejected
from autolettura.throttling import Throttled

# The headers a client sends or reads, as the OpenAPI document names them.
_HEADER_PARAMETERS: dict[str, dict[str, Any]] = {
    "AcceptLanguage": {
        "name": "Accept-Language",
        "in": "header",
        "required": False,
        "description": "The language of the messages: Italian by default, `en` for English.",
        "schema": {"type": "string", "example": "en"},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "Any unique string chosen by the client for this request. Sent again with the "
            "same body by the same caller, it returns the first answer instead of taking "
            "the reading a second time."
        ),
        "schema": {"type": "string", "maxLength": 200},
    },
}
_RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "RetryAfter": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWWAuthenticate": {
        "description": "`Bearer`: send a token from POST /api/v1/auth/token.",
        "schema": {"type": "string"},
    },
}
# Which operations take an Idempotency-Key: (path, method) as in the document.
_IDEMPOTENT = {("/api/v1/readings", "post")}
_ERRORS_REF = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorsOut"}}}
}


class AutoletturaApi(NinjaAPI):
    """NinjaAPI whose document also names the headers the API reads and sets."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(
            readings_openapi_components()
        )
        document_headers(schema)
        return schema


def document_headers(schema: dict[str, Any]) -> None:
    """Add to every operation the headers it honours (Accept-Language, Idempotency-Key) and
    to its answers the ones they carry (Retry-After on 429 and 503, WWW-Authenticate on
    401), the 503 every operation answers while the database cannot be reached, and the
    413 of a body over AUTOLETTURA_REQUEST_MAX_MB."""
    components = schema.setdefault("components", {})
    components.setdefault("parameters", {}).update(_HEADER_PARAMETERS)
    components.setdefault("headers", {}).update(_RESPONSE_HEADERS)
    retry_after = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            parameters = operation.setdefault("parameters", [])
            parameters.append({"$ref": "#/components/parameters/AcceptLanguage"})
            if (path, method) in _IDEMPOTENT:
                parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                503,
                {
                    "description": "The service is temporarily unavailable: nothing was recorded.",
                    **_ERRORS_REF,
                },
            )
            if "requestBody" in operation:
                responses.setdefault(
                    413,
                    {
                        "description": "The request is larger than the site accepts.",
                        **_ERRORS_REF,
                    },
                )
            for status, response in responses.items():
                if int(status) in {429, 503}:
                    response.setdefault("headers", {}).update(retry_after)
                elif int(status) == 401:
                    response.setdefault("headers", {})["WWW-Authenticate"] = {
                        "$ref": "#/components/headers/WWWAuthenticate"
                    }


api = AutoletturaApi(
    title="Autolettura API",
    version="1",
    description="Self-readings of water meters: submit a reading, follow it, see your supplies.",
    urls_namespace="api-v1",
)
api.add_router("/readings", readings_router)
api.add_router("/meter-photo", meter_photo_router)
api.add_router("/auth", auth_router)
api.add_router("/me", me_router)
api.add_router("/me", billing_router)
api.add_router("/faults", faults_router)
api.add_router("/service-hours", hours_router)


def errors_response(request: HttpRequest, errors: list[FieldError], status: int) -> HttpResponse:
    body = {
        "errors": [
            {
                "field": e.field,
                "code": e.code,
                "message": photo_error_message(e) if e.field == "photo" else error_message(e),
            }
            for e in errors
        ]
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
    "photo": "photo_count",
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


def _bearer_challenge(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    # RFC 6750: a 401 names the scheme; when a token was sent and refused, also why.
    challenge = 'Bearer realm="api"'
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        challenge += ', error="invalid_token"'
    response["WWW-Authenticate"] = challenge
    return response


@api.exception_handler(AuthenticationError)
def on_unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = _("Sign in again: the token is missing, expired or not valid.")
    response = api.create_response(
        request,
        {"errors": [{"field": None, "code": "unauthorized", "message": message}]},
        status=401,
    )
    return _bearer_challenge(request, response)


_HTTP_ERROR_CODES = {400: "body_invalid", 401: "unauthorized", 404: "not_found"}


def body_invalid_message() -> str:
    return _(
        "We could not read the request body: check that it is valid JSON, or a well-formed "
        "form where a photo is sent."
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = _HTTP_ERROR_CODES.get(exc.status_code, "error")
    # django-ninja's own words for a body it cannot parse are English only.
    message = body_invalid_message() if str(exc) == UNREADABLE_BODY else str(exc)
    response = api.create_response(
        request,
        {"errors": [{"field": None, "code": code, "message": message}]},
        status=exc.status_code,
    )
    if exc.status_code == 401:
        _bearer_challenge(request, response)
    return response


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


# --- Errors answered outside the API's views ---------------------------------------------------

API_PREFIX = "/api/v1/"

# The API's operations but sign-in: a client sends a token or the codes, never a session,
# and nothing there reads a session, a signed-in user or a flash message.
# Sign-in (/auth/) runs django-axes, which may use the session; the docs are pages.
API_OPERATIONS = tuple(
    f"{API_PREFIX}{prefix}"
    for prefix in ("readings", "meter-photo", "me", "faults", "service-hours")
)


def _not_on_api_operations(middleware: type[Any]) -> type[Any]:
    """`middleware` as it is, but passed by on the API's operations (API_OPERATIONS): its
    work there is none of the API's. Subclasses: Django's checks (the admin's) find them as
    the middleware they are. CSRF's stays for every request: `check --deploy` looks for it
    by its name, and the API's operations are exempt from its check anyway."""

    class NotOnApiOperations(middleware):
        def __call__(self, request: HttpRequest) -> HttpResponse:
            if request.path_info.startswith(API_OPERATIONS):
                return self.get_response(request)
            return super().__call__(request)

    NotOnApiOperations.__name__ = NotOnApiOperations.__qualname__ = middleware.__name__
    NotOnApiOperations.__module__ = __name__
    return NotOnApiOperations


SessionMiddleware = _not_on_api_operations(sessions.SessionMiddleware)
AuthenticationMiddleware = _not_on_api_operations(auth.AuthenticationMiddleware)
MessageMiddleware = _not_on_api_operations(messages.MessageMiddleware)


def _error_for(request: HttpRequest, response: HttpResponse) -> tuple[str, str]:
    """(code, message) for an error answer Django or django-ninja made in their own format."""
    status = response.status_code
    if status == 404:
        return "not_found", _(
            "There is nothing at this address of the API: the list of endpoints is at /api/v1/docs."
        )
    if status == 405:
        allowed = ", ".join(sorted(m.strip() for m in response.get("Allow", "").split(",") if m))
        return "method_not_allowed", _(
            "This address does not take %(method)s requests: use %(allowed)s."
        ) % {"method": request.method, "allowed": allowed}
    if status == 400:
        return "body_invalid", body_invalid_message()
    if status == 403 and b"CSRF" in response.content:
        # Django's CSRF check, on the API's pages that are not endpoints (its docs).
        return "csrf_failed", _(
            "Refused: a request that changes something needs the site's CSRF token."
        )
    if status == 403:
        return "forbidden", _("This request is not allowed.")
    if status >= 500:
        return "server_error", _(
            "Something went wrong on our side. Please try again in a few minutes; what you "
            "sent may not have been recorded."
        )
    return "error", _("The request could not be handled (HTTP %(status)s).") % {"status": status}


class ApiErrorsMiddleware:
    """Every error under /api/v1/ in the API's format, `{"errors": [{field, code, message}]}`,
    in the request's language: also those made before or after the API's views (an unknown
    address, a method an address does not take, Django's own 400, 403 and 500 pages).

    Outermost but for the metrics, so that it sees the answers of every other middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path_info.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
            or response.streaming
        ):
            return response
        language = getattr(request, "LANGUAGE_CODE", None) or translation.get_language_from_request(
            request
        )
        with translation.override(language):
            code, message = _error_for(request, response)
        converted = JsonResponse(
            {"errors": [{"field": None, "code": code, "message": message}]},
            status=response.status_code,
            content_type="application/json; charset=utf-8",
            json_dumps_params={"ensure_ascii": False},
        )
        # The rest of what was said stays: Allow, Retry-After, the security headers.
        for header, value in response.items():
            if header.lower() not in {"content-type", "content-length", "content-language"}:
                converted[header] = value
        converted["Content-Language"] = language
        return converted
