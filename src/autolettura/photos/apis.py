"""POST /api/v1/meter-photo: the register read from a photo of the meter."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from autolettura import clock
from autolettura.accounts.apis import optional_customer
from autolettura.customers.models import Supply
from autolettura.customers.selectors import code_names, meter_current, supplies_of
from autolettura.customers.services import supply_identify_by_codes
from autolettura.photos import services
from autolettura.photos.selectors import register_history
from autolettura.readings.messages import error_message
from autolettura.readings.photos import photo_check, photo_error_message
from autolettura.rules import parsing
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.window import rome_today
from autolettura.schemas import ErrorOut, ErrorsOut, Text
from autolettura.throttling import client_address, throttle

router = Router(tags=["readings"])


class MeterPhotoOut(Schema):
    # The string the register shows, leading zeros kept ("00530").
    reading: str
    confidence: float
    # The register in the photo (upright, in its pixels): x, y, width, height.
    box: list[int]
    # Other readings the photo allows, most likely first.
    alternatives: list[str]


def unreadable_message() -> str:
    return _(
        "We could not read the meter in this photo. Take it again from close up and straight "
        "on, with all the black digits inside the picture and without the flash, so that no "
        "glare covers them."
    )


def _errors(*errors: tuple[FieldError, str]) -> Status[ErrorsOut]:
    return Status(
        422,
        ErrorsOut(errors=[ErrorOut(field=e.field, code=e.code, message=m) for e, m in errors]),
    )


@router.post(
    "",
    response={200: MeterPhotoOut, 400: ErrorsOut, 401: ErrorsOut, 422: ErrorsOut, 429: ErrorsOut},
    auth=None,
    summary="Read the meter from a photo",
)
def meter_photo(
    request: HttpRequest,
    photo: File[UploadedFile],
    supply_code: Form[Text | None] = None,
    customer_code: Form[Text | None] = None,
) -> Status[MeterPhotoOut] | Status[ErrorsOut]:
    """A multipart upload of one photo of the meter (JPEG, PNG or HEIC): the whole m³ as its
    black wheels show them, leading zeros kept, with a confidence from 0 to 1 and the box
    where they were read (`[x, y, width, height]`). Nothing is recorded as a reading: send
    the value to `POST /api/v1/readings`.

    With both codes, or a customer token (and `supply_code` when the customer has several
    supplies), the meter's number of digits and its history choose among the readings the
    photo allows; without them the photo is read as it is. Wrong codes are counted per
    client address and per supply code, as on every channel (past the limit, 429). A photo
    in which no register can be read is a 422 `photo_unreadable`, whose message says how to
    take a better one. Photos are limited per client address: reading one costs time.
    """
    throttle(
        "meter-photo-address",
        client_address(request),
        limit=settings.AUTOLETTURA_THROTTLE_PHOTOS_PER_ADDRESS,
    )
    try:
        image = photo_check(photo).read()
        supply = _supply(request, supply_code, customer_code)
    except FormatError as exc:
        return _errors(
            *(
                (e, photo_error_message(e) if e.field == "photo" else error_message(e))
                for e in exc.errors
            )
        )
    now = clock.now()
    meter = meter_current(supply) if supply is not None else None
    read = services.photo_read(
        image=image,
        meter_digits=meter.digits if meter is not None else None,
        history=register_history(supply=supply, read_on=rome_today(now)) if supply else None,
        now=now,
    )
    if read.reading is None or not read.box:
        return _errors((FieldError("photo", "photo_unreadable"), unreadable_message()))
    xs = [x for x, _y in read.box]
    ys = [y for _x, y in read.box]
    return Status(
        200,
        MeterPhotoOut(
            reading=read.reading,
            confidence=read.confidence,
            box=[min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
            alternatives=list(read.alternatives),
        ),
    )


def _supply(
    request: HttpRequest, supply_code: str | None, customer_code: str | None
) -> Supply | None:
    """The supply the caller names (its meter's digits and history), or None: no codes.

    Raises FormatError for a missing or malformed code, or codes that match no supply.
    """
    customer = optional_customer(request)
    if customer is not None:
        supplies = supplies_of(customer)
        if supply_code:
            code = parsing.normalize_code(supply_code, field="supply_code")
            found = supplies.filter(code_names(code)).first()
            if found is None:
                raise FormatError(FieldError("supply_code", "codes_mismatch"))
            return found
        # One supply: it is the one photographed; several: read with unknown digits.
        return supplies.first() if supplies.count() == 1 else None
    if not supply_code and not customer_code:
        return None
    return supply_identify_by_codes(
        supply_code=supply_code or "",
        customer_code=customer_code or "",
        source=f"address:{client_address(request)}",
    )
