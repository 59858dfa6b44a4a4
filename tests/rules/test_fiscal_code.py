"""The codice fiscale rule: its form, its check letter (D.M. 23/12/1976), SPID's prefix."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.fiscal_code import check_letter, normalize_fiscal_code
from tests.rules.support import format_error, properties

OMOCODE = "LMNPQRSTUV"
digit = st.sampled_from(string.digits + OMOCODE)
letter = st.sampled_from(string.ascii_uppercase)


@st.composite
def first_fifteen(draw: st.DrawFn) -> str:
    """Surname and name letters, year, month letter, day (women from 41), place, as the
    fifteen characters before the check letter."""
    day = draw(st.integers(1, 31)) + draw(st.sampled_from([0, 40]))
    day_text = "".join(OMOCODE[int(c)] if draw(st.booleans()) else c for c in f"{day:02d}")
    return (
        "".join(draw(letter) for _ in range(6))
        + "".join(draw(digit) for _ in range(2))
        + draw(st.sampled_from("ABCDEHLMPRST"))
        + day_text
        + draw(letter)
        + "".join(draw(digit) for _ in range(3))
    )


@pytest.mark.parametrize(
    "code",
    ["RSSMRA80A01H501U", "MRTMTT25D09F205Z", "RSSMRA85T10A562S", "BNCGLI70M45L219W"],
)
def test_real_codes_pass(code: str) -> None:
    assert normalize_fiscal_code(code) == code


def test_spid_prefix_spaces_and_case_are_taken_off() -> None:
    assert normalize_fiscal_code("TINIT-RSSMRA80A01H501U") == "RSSMRA80A01H501U"
    assert normalize_fiscal_code(" rssmra 80a01 h501u ") == "RSSMRA80A01H501U"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "required"),
        ("TINIT-", "required"),
        ("RSSMRA80A01H501", "fiscal_code_invalid"),
        ("RSSMRA80A01H501UU", "fiscal_code_invalid"),
        ("RSSMRA80Z01H501U", "fiscal_code_invalid"),  # Z is no month
        ("RSSMRA80A32H501U", "fiscal_code_invalid"),  # no 32nd day
        ("RSSMRA80A00H501U", "fiscal_code_invalid"),
        ("RSSMRÀ80A01H501U", "fiscal_code_invalid"),
        ("01234567890", "fiscal_code_invalid"),  # a company's number is no person's code
        ("RSSMRA80A01H501A", "fiscal_code_check"),
    ],
)
def test_bad_codes_say_what_is_wrong(raw: str, code: str) -> None:
    error = format_error(normalize_fiscal_code, raw)
    assert (error.field, error.code) == ("fiscal_code", code)


def test_not_text_is_refused() -> None:
    assert format_error(normalize_fiscal_code, None).code == "fiscal_code_invalid"


@properties
@given(first_fifteen())
def test_the_computed_check_letter_makes_a_valid_code(body: str) -> None:
    code = body + check_letter(body)
    assert normalize_fiscal_code(code.lower()) == code


@properties
@given(first_fifteen(), letter)
def test_any_other_check_letter_is_refused(body: str, last: str) -> None:
    if last == check_letter(body):
        return
    assert format_error(normalize_fiscal_code, body + last).code == "fiscal_code_check"


@properties
@given(first_fifteen(), st.integers(0, 14), st.sampled_from(string.ascii_uppercase + string.digits))
def test_one_changed_character_is_caught(body: str, position: int, new: str) -> None:
    """A single mistyped character: refused, whether as not a code or by its check letter."""
    code = body + check_letter(body)
    if code[position] == new:
        return
    typo = code[:position] + new + code[position + 1 :]
    try:
        normalize_fiscal_code(typo)
    except Exception as exc:
        assert "fiscal_code" in str(exc)
    else:
        pytest.fail(f"{typo} (from {code}) was taken")
