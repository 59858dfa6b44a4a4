"""A reader's visit to a meter, as plain values: the walking order of a day's round and the
position a phone gives as evidence of a failed visit. No Django here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from autolettura.rules.errors import FieldError, FormatError

# "Via Roma 12/B, 15090 Valmora": the street, the house number and what follows it.
_ADDRESS = re.compile(r"^\s*(?P<street>[^\d,]*)(?P<number>\d+)?(?P<rest>.*)$")


def walking_key(address: str) -> tuple[str, int, str]:
    """Where an address comes in a reader's walk: street by street, and along a street by
    house number as a number (12 after 2, which a plain text order would not give).

    A simple order on purpose: supplies carry one address string and no coordinates, and a
    reader knows the streets; the street's odd and even sides are left to the reader."""
    found = _ADDRESS.match(address)
    if found is None:  # pragma: no cover - the pattern matches any string
        return (address.casefold(), 0, "")
    number = found.group("number")
    return (
        " ".join(found.group("street").casefold().split()),
        int(number) if number else 0,
        found.group("rest").strip().casefold(),
    )


@dataclass(frozen=True)
class Position:
    """Where the phone was, in decimal degrees (WGS 84), and within how many metres."""

    latitude: Decimal
    longitude: Decimal
    accuracy_m: Decimal | None


# A phone's own estimate can be poor indoors; past 100 km it says nothing of the address.
MAX_ACCURACY_M = Decimal(100_000)


def _decimal(value: object, field: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise FormatError(FieldError(field, "position_invalid")) from None
    if not number.is_finite():
        raise FormatError(FieldError(field, "position_invalid"))
    return number


def position_parse(latitude: object, longitude: object, accuracy: object) -> Position | None:
    """The position sent with a failed visit: both coordinates or none (the reader may not
    allow it, or the phone may not know), latitude -90 to 90, longitude -180 to 180, an
    accuracy of 0 to 100 km only with a position. Raises FormatError `position_invalid`."""
    lat = _decimal(latitude, "latitude")
    lon = _decimal(longitude, "longitude")
    acc = _decimal(accuracy, "accuracy")
    if lat is None and lon is None:
        if acc is not None:
            raise FormatError(FieldError("accuracy", "position_invalid"))
        return None
    if lat is None or lon is None:
        raise FormatError(
            FieldError("latitude" if lat is None else "longitude", "position_invalid")
        )
    if not Decimal(-90) <= lat <= Decimal(90):
        raise FormatError(FieldError("latitude", "position_invalid"))
    if not Decimal(-180) <= lon <= Decimal(180):
        raise FormatError(FieldError("longitude", "position_invalid"))
    if acc is not None and not Decimal(0) <= acc <= MAX_ACCURACY_M:
        raise FormatError(FieldError("accuracy", "position_invalid"))
    # As stored: six decimals of a degree (about 10 cm), a tenth of a metre.
    return Position(
        latitude=lat.quantize(Decimal("0.000001")),
        longitude=lon.quantize(Decimal("0.000001")),
        accuracy_m=acc.quantize(Decimal("0.1")) if acc is not None else None,
    )
