"""R1 to R3: parsing the codes, the reading value and the reading date."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import NoReturn

from .errors import FieldError, FormatError
from .window import ROME

# Codes are printed on the bill; customers copy them with stray spaces and lower case.
_CODE = re.compile(r"[A-Z0-9][A-Z0-9/_-]{0,39}")
# A match when a text is a code already in canonical form, which normalize_code gives back
# as it is: one C call, for the bulk paths that check a million codes.
canonical_code_match = _CODE.fullmatch
_SPACES = re.compile(r"\s+")
# ASCII digits only: `\d` alone would also take other scripts' digits.
_DMY = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d+)", re.ASCII)
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)

# The largest register there is (Meter.digits is 1 to 9). Anything longer cannot be a
# reading of any meter, and a bound keeps int() away from Python's 4,300-digit limit.
MAX_REGISTER_DIGITS = 9


def _text(raw: object, field: str, code: str) -> str:
    """`raw` as text; an int too large for str() is refused as `code` instead of a crash."""
    if raw is None:
        return ""
    try:
        return str(raw)
    except ValueError:
        raise FormatError(FieldError(field, code)) from None


def normalize_code(raw: object, *, field: str) -> str:
    """A customer or supply code in canonical form (no spaces, upper case).

    Raises FormatError `required` when empty and `code_invalid` when it cannot be a code.
    """
    if type(raw) is str and _CODE.fullmatch(raw):
        return raw  # as below, without the conversion to text
    text = _text(raw, field, "code_invalid")
    if _CODE.fullmatch(text):
        # Already canonical (no space, upper case, ASCII), as nearly every code a file or a
        # form brings: what the steps below would give, for one scan (a bulk import's CPU).
        return text
    code = _SPACES.sub("", text)
    if not code:
        raise FormatError(FieldError(field, "required"))
    # Checked before upper(): "ß" (sharp s) would otherwise turn into the ASCII "SS".
    if not code.isascii() or not _CODE.fullmatch(code.upper()):
        raise FormatError(FieldError(field, "code_invalid"))
    return code.upper()


def parse_bill_codes(*, supply_code: object, customer_code: object) -> tuple[str, str]:
    """R1's two codes, as printed on page 1 of the bill, in canonical form:
    (supply code, customer code).

    Raises one FormatError with the error of every malformed code, each beside its field.
    """
    errors: list[FieldError] = []
    codes: list[str] = []
    for field, raw in (("supply_code", supply_code), ("customer_code", customer_code)):
        try:
            codes.append(normalize_code(raw, field=field))
        except FormatError as exc:
            errors.extend(exc.errors)
    if errors:
        raise FormatError(*errors)
    return codes[0], codes[1]


def register_text(value: int, digits: int) -> str:
    """R2 the other way round: a reading as the meter's register shows it, zero-padded to
    its `digits` (01404 on a five-digit register), whether it was typed with its leading
    zeros or without. Every page, message, PDF and API answer shows a reading this way."""
    return f"{value:0{digits}d}"


def parse_reading_value(raw: object, *, digits: int | None = None) -> int:
    """R2: the register value in whole m³.

    Digits only, leading zeros allowed, surrounding spaces ignored, at most `digits` of them
    as written, zeros included (without `digits`, MAX_REGISTER_DIGITS, the largest register
    there is): "000123" for a register of five black digits is a red digit copied too.
    Raises FormatError with `required`, `decimals_not_allowed`, `reading_invalid` or
    `too_many_digits`.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise FormatError(FieldError("reading", "required"))
    if isinstance(raw, bool):
        raise FormatError(FieldError("reading", "reading_invalid"))
    if isinstance(raw, float):
        raise FormatError(FieldError("reading", "decimals_not_allowed"))
    limit = MAX_REGISTER_DIGITS if digits is None else digits
    if isinstance(raw, int):
        if raw < 0:
            raise FormatError(FieldError("reading", "reading_invalid"))
        value = raw
    else:
        text = _text(raw, "reading", "reading_invalid").strip()
        if re.fullmatch(r"[\d.,]*\d[\d.,]*", text) and re.search(r"[.,]", text):
            raise FormatError(FieldError("reading", "decimals_not_allowed"))
        # isdecimal() would also take other scripts' digits; the register shows ASCII ones.
        if not text.isascii() or not text.isdigit():
            raise FormatError(FieldError("reading", "reading_invalid"))
        if len(text) > limit:
            _too_many_digits(limit)
        value = int(text)
    check_reading_digits(value, limit)
    return value


def _too_many_digits(digits: int) -> NoReturn:
    raise FormatError(FieldError("reading", "too_many_digits", {"digits": digits}))


def check_reading_digits(value: int, digits: int) -> None:
    """R2: a register of `digits` integer digits shows at most 10**digits - 1."""
    if value >= 10**digits:
        _too_many_digits(digits)


def parse_read_on(raw: object, *, allow_iso: bool = True) -> date:
    """R3: a reading date written dd/mm/yyyy or d/m/yyyy (and ISO yyyy-mm-dd if allowed).

    Raises FormatError `required` or `date_invalid` (two-digit year, impossible date,
    anything unparseable).
    """
    if isinstance(raw, datetime):
        # A datetime is a date too, but compared with one it raises TypeError: keep its day
        # (in Europe/Rome when it is an instant).
        return raw.astimezone(ROME).date() if raw.utcoffset() is not None else raw.date()
    if isinstance(raw, date):
        return raw
    text = _text(raw, "read_on", "date_invalid").strip()
    if not text:
        raise FormatError(FieldError("read_on", "required"))
    match = _DMY.fullmatch(text)
    if match:
        day, month, year = int(match[1]), int(match[3]), match[4]
        if len(year) != 4:
            raise FormatError(FieldError("read_on", "date_invalid"))
        return _make_date(int(year), month, day)
    match = _ISO.fullmatch(text) if allow_iso else None
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
