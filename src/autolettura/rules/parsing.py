"""R1 to R3: parsing the codes, the reading value and the reading date."""

from __future__ import annotations

import re
from datetime import date

from .errors import FieldError, FormatError

# Codes are printed on the bill; customers copy them with stray spaces and lower case.
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9/_-]{0,39}$")
_DMY = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d+)$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def normalize_code(raw: object, *, field: str) -> str:
    """A customer or supply code in canonical form (no spaces, upper case).

    Raises FormatError `required` when empty and `code_invalid` when it cannot be a code.
    """
    text = "" if raw is None else str(raw)
    code = re.sub(r"\s+", "", text).upper()
    if not code:
        raise FormatError(FieldError(field, "required"))
    if not _CODE.match(code):
        raise FormatError(FieldError(field, "code_invalid"))
    return code


def parse_reading_value(raw: object, *, digits: int | None = None) -> int:
    """R2: the register value in whole m³.

    Digits only, leading zeros allowed, surrounding spaces ignored. Raises FormatError with
    `required`, `decimals_not_allowed`, `reading_invalid` or `too_many_digits`.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise FormatError(FieldError("reading", "required"))
    if isinstance(raw, bool):
        raise FormatError(FieldError("reading", "reading_invalid"))
    if isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, float):
        raise FormatError(FieldError("reading", "decimals_not_allowed"))
    else:
        text = str(raw).strip()
    if re.fullmatch(r"[\d.,]*\d[\d.,]*", text) and re.search(r"[.,]", text):
        raise FormatError(FieldError("reading", "decimals_not_allowed"))
    # isdecimal() would also take other scripts' digits; the register shows ASCII ones.
    if not text.isascii() or not text.isdigit():
        raise FormatError(FieldError("reading", "reading_invalid"))
    value = int(text)
    if digits is not None:
        check_reading_digits(value, digits)
    return value


def check_reading_digits(value: int, digits: int) -> None:
    """R2: a register of `digits` integer digits shows at most 10**digits - 1."""
    if value >= 10**digits:
        raise FormatError(FieldError("reading", "too_many_digits", {"digits": digits}))


def parse_read_on(raw: object, *, allow_iso: bool = True) -> date:
    """R3: a reading date written dd/mm/yyyy or d/m/yyyy (and ISO yyyy-mm-dd if allowed).

    Raises FormatError `required` or `date_invalid` (two-digit year, impossible date,
    anything unparseable).
    """
    if isinstance(raw, date):
        return raw
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise FormatError(FieldError("read_on", "required"))
    match = _DMY.match(text)
    if match:
        day, month, year = int(match[1]), int(match[3]), match[4]
        if len(year) != 4:
            raise FormatError(FieldError("read_on", "date_invalid"))
        return _make_date(int(year), month, day)
    match = _ISO.match(text) if allow_iso else None
    if match:
        return _make_date(int(match[1]), int(match[2]), int(match[3]))
    raise FormatError(FieldError("read_on", "date_invalid"))


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise FormatError(FieldError("read_on", "date_invalid")) from None


def check_read_on(read_on: date, *, today: date, meter_installed_on: date | None) -> None:
    """R3: the date may not be after today (Europe/Rome) nor before the meter was installed."""
    if read_on > today:
        raise FormatError(FieldError("read_on", "date_in_future"))
    if meter_installed_on is not None and read_on < meter_installed_on:
        raise FormatError(
            FieldError("read_on", "date_before_meter", {"installed_on": meter_installed_on})
        )
