"""The Italian codice fiscale of a person: its form and its check letter.

SPID and CIE identities carry it (SPID as `TINIT-` and the code); the customers import may
carry it too. A code whose check letter does not match was mistyped or made up, and is
refused before it can link anyone to anything.
"""

from __future__ import annotations

import re

from autolettura.rules.errors import FieldError, FormatError

# Letters that replace digits in codes given to people born with the same data (omocodia).
_OMOCODE = "LMNPQRSTUV"
_DIGIT = f"[0-9{_OMOCODE}]"
_MONTHS = "ABCDEHLMPRST"
_FORM = re.compile(rf"[A-Z]{{6}}{_DIGIT}{{2}}[{_MONTHS}]{_DIGIT}{{2}}[A-Z]{_DIGIT}{{3}}[A-Z]")

# The values of each character in odd (1st, 3rd, ...) positions, per the Ministry's decree
# of 1976 (D.M. 23/12/1976); in even positions a digit counts as itself and a letter as its
# place in the alphabet from 0.
_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [1, 0, 5, 7, 9, 13, 15, 17, 19, 21] * 2
        + [2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23],
        strict=True,
    )
)
_EVEN = {**{str(d): d for d in range(10)}, **{chr(65 + i): i for i in range(26)}}

SPID_PREFIX = "TINIT-"


def check_letter(first_fifteen: str) -> str:
    """The 16th character of a codice fiscale whose first fifteen are given."""
    total = sum(
        (_ODD if position % 2 == 0 else _EVEN)[char] for position, char in enumerate(first_fifteen)
    )
    return chr(65 + total % 26)


def _day(code: str) -> int:
    digits = "".join(str(_OMOCODE.index(c)) if c in _OMOCODE else c for c in code[9:11])
    return int(digits)


def normalize_fiscal_code(raw: object, *, field: str = "fiscal_code") -> str:
    """A person's codice fiscale in canonical form (upper case, no spaces), with SPID's
    `TINIT-` prefix taken off.

    Raises FormatError `required` when empty, `fiscal_code_invalid` when it is not in the
    form of a codice fiscale (16 characters: surname, name, date and place of birth) and
    `fiscal_code_check` when its last letter does not match the other fifteen.
    """
    if not isinstance(raw, str):
        raise FormatError(FieldError(field, "fiscal_code_invalid"))
    code = re.sub(r"\s+", "", raw).upper()
    if code.startswith(SPID_PREFIX):
        code = code[len(SPID_PREFIX) :]
    if not code:
        raise FormatError(FieldError(field, "required"))
    # ASCII first: upper() would turn some letters of other alphabets into A-Z.
    if not code.isascii() or not _FORM.fullmatch(code):
        raise FormatError(FieldError(field, "fiscal_code_invalid"))
    # Women's days count from 41: 1-31 or 41-71.
    day = _day(code)
    if not (1 <= day <= 31 or 41 <= day <= 71):
        raise FormatError(FieldError(field, "fiscal_code_invalid"))
    if check_letter(code[:15]) != code[15]:
        raise FormatError(FieldError(field, "fiscal_code_check"))
    return code
