"""POST /api/v1/readings and GET /api/v1/readings/{receipt}."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date
from typing import Any, Literal

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Router
from ninja.errors import HttpError, ValidationError
from pydantic import BaseModel, Field, StrictInt
from pydantic import ValidationError as PydanticValidationError

from autolettura import clock
from autolettura.accounts.apis import optional_customer
from autolettura.customers.models import Customer
from autolettura.customers.services import codes_failures
from autolettura.readings import selectors, services
from autolettura.readings.messages import outcome_message, reading_text
from autolettura.readings.models import Reading
from autolettura.rules import parsing
from autolettura.rules.errors import FormatError
from autolettura.rules.window import Window
from autolettura.schemas import UNREADABLE_BODY, ErrorsOut, FiniteFloat, StrictText, Text
from autolettura.throttling import Throttled, client_address, throttle

router = Router(tags=["readings"])


# The submission's own schemas are pydantic models, not ninja Schemas: a Schema validates
# through ninja's wrapper, which reads every field through a getter made for ORM objects
# (about 30 µs of a submission's CPU for these three). They are built from a dict and
# from keywords only, where that getter has nothing to do; the OpenAPI document is the same.
class ReadingIn(BaseModel):
    supply_code: Text | None = None
    customer_code: Text | None = None
    # A string keeps leading zeros; numbers are taken too, and a decimal is told apart.
    # Strict: JSON true must not become the reading 1.
    reading: StrictText | StrictInt | FiniteFloat | None = None
    read_on: Text | None = None
    # The API is the app's (or a web client's): the operators' channels (counter, call
    # centre) and the other providers' exist only behind their own doors, so a caller
    # cannot pass its reading off as one of theirs. Anything else is a 422.
    channel: Literal["app", "web"] = Field(
        "app", description="`app` (the default) or `web`; any other value is refused (422)."
    )


# The same fields as a multipart form, with the photo: the OpenAPI document's other body.
_FORM_SCHEMA: dict[str, Any] = {
    "title": "ReadingForm",
    "type": "object",
    "properties": {
        "supply_code": {"type": "string"},
        "customer_code": {"type": "string"},
        "reading": {"type": "string", "description": "The black digits, leading zeros kept."},
        "read_on": {"type": "string"},
        "channel": {"type": "string", "enum": ["app", "web"], "default": "app"},
        "photo": {
            "type": "string",
            "format": "binary",
            "description": (
                "A photo of the meter (JPEG, PNG or HEIC, at most 5 MB), kept as evidence and "
                "read: a photo that shows another value sends the reading to our staff "
                "(`under_review`, reason `photo_mismatch`)."
            ),
        },
    },
}


def openapi_components() -> dict[str, Any]:
    """The request bodies of POST /api/v1/readings, for the OpenAPI document's components
    (the operation reads its body itself: JSON, or a form with a photo)."""
    return {
        "ReadingIn": ReadingIn.model_json_schema(ref_template="#/components/schemas/{model}"),
        "ReadingForm": _FORM_SCHEMA,
    }


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _reading_in(request: HttpRequest) -> tuple[ReadingIn, UploadedFile | None]:
    """The request's fields, from a JSON body or from a form (which may carry a photo).

    Raises HttpError 400 for a body that cannot be read, and ninja's ValidationError (the
    API's 422 with every field named) for one of the wrong shape.
    """
    photo: UploadedFile | None = None
    if request.content_type in _FORM_TYPES:
        data: object = {key: request.POST.get(key) for key in request.POST}
        photos = request.FILES.getlist("photo")
        if len(photos) > 1:
            raise ValidationError([{"loc": ("form", "photo"), "msg": "one photo at most"}])
        photo = photos[0] if photos else None
    else:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise HttpError(400, UNREADABLE_BODY) from None
    if not isinstance(data, dict):
        raise ValidationError([{"loc": ("body", "payload"), "msg": "an object is expected"}])
    try:
        return ReadingIn.model_validate(data), photo
    except PydanticValidationError as exc:
        raise ValidationError(
            [{**error, "loc": ("body", "payload", *error["loc"])} for error in exc.errors()]
        ) from None


class WindowOut(BaseModel):
    start: date
    end: date


class ReadingOut(BaseModel):
    receipt: str | None
    status: str
    reason: str | None
    message: str
    consumption_m3: int | None
    window: WindowOut
    supply_code: str
    # The string the register shows, leading zeros kept ("01404"): DESIGN.md section 7.
    reading: str
    read_on: date
    source: str
    channel: str


def _reading_body(reading: Reading, window: Window) -> dict[str, Any]:
    """A reading as the API shows it (ReadingOut's fields, in their order), in JSON's types."""
    return {
        "receipt": reading.receipt,
        "status": reading.status.lower(),
        "reason": reading.reason,
        "message": outcome_message(reading, window),
        "consumption_m3": reading.consumption_m3,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "supply_code": reading.supply.supply_code,
        "reading": reading_text(reading),
        "read_on": reading.read_on.isoformat(),
        "source": reading.source.lower(),
        "channel": reading.channel.lower(),
    }


def reading_out(reading: Reading, window: Window) -> ReadingOut:
    return ReadingOut.model_validate(_reading_body(reading, window))


def reading_response(reading: Reading, window: Window, status: int) -> HttpResponse:
    """`reading_out` as the API answers it, the JSON written from the reading directly: the
    same bytes as ninja renders ReadingOut (tests/test_api_protocol.py compares them),
    without validating a model built from values that are already of their types and
    dumping it again."""
    return HttpResponse(
        json.dumps(_reading_body(reading, window)), status=status, content_type=_JSON
    )


_JSON = "application/json; charset=utf-8"


@router.post(
    "",
    response={
        200: ReadingOut,
        201: ReadingOut,
        400: ErrorsOut,
        401: ErrorsOut,
        422: ErrorsOut,
        429: ErrorsOut,
    },
    auth=None,
    summary="Submit a meter reading",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ReadingIn"}},
                "multipart/form-data": {
                    "schema": {"$ref": "#/components/schemas/ReadingForm"},
                    "encoding": {"photo": {"contentType": "image/jpeg, image/png, image/heic"}},
                },
            },
        }
    },
)
def reading_create(request: HttpRequest) -> HttpResponse:
    """Take a self-reading in charge. 201 for a new reading, 200 for the repeat of one.

    The body is JSON, or a `multipart/form-data` form of the same fields with a `photo` of
    the meter (JPEG, PNG or HEIC, at most 5 MB). The photo is kept as evidence and read:
    one that shows another value than `reading` sends the reading to our staff
    (`under_review`, reason `photo_mismatch`); one that shows the same value has an
    `implausible` reading checked by our staff instead of discarded. If the photo cannot
    be read in time, the reading is taken on its value alone. Photos are limited per
    client address, as on POST /api/v1/meter-photo.

    Identify with both codes, or with a customer token (then the codes may be left out).
    An `Idempotency-Key` header makes a retried request (the same body from the same caller)
    return the first answer. `channel` is `app` (the default) or `web`. Wrong codes are
    counted per client address and per supply code, as on every channel: past the limit the
    answer is 429 with `Retry-After`, whether the codes are right or not; a client address
    that has not sent wrong codes is never stopped by others' failures.
    """
    customer = optional_customer(request)
    if customer is None:
        throttle(
            "submit-address",
            client_address(request),
            limit=settings.AUTOLETTURA_THROTTLE_PER_ADDRESS,
        )
    payload, photo = _reading_in(request)
    if photo is not None:
        # Reading a photo costs time: as many per address as the meter-photo endpoint.
        throttle(
            "meter-photo-address",
            client_address(request),
            limit=settings.AUTOLETTURA_THROTTLE_PHOTOS_PER_ADDRESS,
        )
    body = payload.model_dump()
    # A retry with another photo is another request: the photo's hash is part of its key.
    scope = {**body, "photo_sha256": _sha256(photo)} if photo is not None else body
    outcome = services.inbound_reading_submit(
        channel=payload.channel.upper(),
        provider_message_id=_message_id(request.META.get("HTTP_IDEMPOTENCY_KEY"), scope, customer),
        payload=body,
        customer=customer,
        now=clock.now(),
        sender=client_address(request),
        photo=photo,
    )
    if outcome.submission is None:
        # Wrong codes are counted by the service, on every channel; past the limit, a 429.
        for error in outcome.errors:
            if error.code == "too_many_attempts":
                raise Throttled(error.params["retry_after"])
        raise services.SubmissionRejected(outcome.errors)
    status = 201 if outcome.submission.created else 200
    return reading_response(outcome.submission.reading, outcome.submission.window, status)


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _message_id(key: str | None, body: dict[str, Any], customer: Customer | None) -> str:
    """The inbound message id of a request: its Idempotency-Key, scoped to its caller and body.

    A key only says "this is a retry of my earlier request": another caller (or another
    body) sending the same key is a different request, and must not get that answer.
    """
    if not key:
        return uuid.uuid4().hex
    scope = json.dumps(
        {"key": key, "customer": customer.pk if customer else None, "body": body},
        sort_keys=True,
        default=str,
    )
    return f"idempotency:{hashlib.sha256(scope.encode()).hexdigest()}"


@router.get(
    "/{receipt}",
    response={200: ReadingOut, 401: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut, 429: ErrorsOut},
    auth=None,
    summary="Follow a reading by its receipt",
)
def reading_detail(
    request: HttpRequest,
    receipt: Text,
    supply_code: Text | None = None,
    customer_code: Text | None = None,
) -> ReadingOut:
    """The reading with this receipt, for its supply's holder (codes or token)."""
    customer = optional_customer(request)
    failures, source, target = codes_failures(), "", ""
    if customer is None:
        throttle(
            "submit-address",
            client_address(request),
            limit=settings.AUTOLETTURA_THROTTLE_PER_ADDRESS,
        )
        # Receipts follow one another: wrong codes here count as on every channel.
        source = f"address:{client_address(request)}"
        target = _code_or_empty(supply_code)
        failures.check(source=source, target=target)
    reading = selectors.reading_for_holder(
        receipt=receipt, customer=customer, supply_code=supply_code, customer_code=customer_code
    )
    if reading is None:
        if customer is None:
            failures.record(source=source, target=target)
        raise HttpError(404, _("No reading with this receipt for these codes."))
    return reading_out(reading, selectors.current_window(clock.now(), reading.supply))


def _code_or_empty(raw: object) -> str:
    try:
        return parsing.normalize_code(raw, field="supply_code")
    except FormatError:
        return ""
