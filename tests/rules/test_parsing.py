"""R1 to R3: the codes, the reading value and the reading date."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.parsing import (
    canonical_code_match,
    check_read_on,
    check_reading_digits,
    normalize_code,
    parse_bill_codes,
    parse_read_on,
    parse_reading_value,
)
from autolettura.rules.window import rome_today

from .support import format_error, properties

CODE = re.compile(r"[A-Z0-9][A-Z0-9/_-]{0,39}")


class TestParseBillCodes:
    def test_gives_both_codes_in_canonical_form(self) -> None:
        assert parse_bill_codes(supply_code=" s 000 123", customer_code=1004127) == (
            "S000123",
            "1004127",
        )

    def test_says_what_is_wrong_with_each_code_beside_its_field(self) -> None:
        with pytest.raises(FormatError) as raised:
            parse_bill_codes(supply_code="S0001!", customer_code="  ")

        assert raised.value.errors == (
            FieldError("supply_code", "code_invalid"),
            FieldError("customer_code", "required"),
        )

    @properties
    @given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
    def test_agrees_with_each_code_parsed_on_its_own(
        self, supply_code: str | None, customer_code: str | None
    ) -> None:
        codes: list[str] = []
        errors: list[FieldError] = []
        for raw, field in ((supply_code, "supply_code"), (customer_code, "customer_code")):
            try:
                codes.append(normalize_code(raw, field=field))
            except FormatError as exc:
                errors.extend(exc.errors)

        if errors:
            with pytest.raises(FormatError) as raised:
                parse_bill_codes(supply_code=supply_code, customer_code=customer_code)
            assert raised.value.errors == tuple(errors)
        else:
            assert parse_bill_codes(supply_code=supply_code, customer_code=customer_code) == (
                codes[0],
                codes[1],
            )


class TestNormalizeCode:
    def test_removes_spaces_and_upper_cases(self) -> None:
        assert normalize_code("  s 000 123 ", field="supply_code") == "S000123"

    def test_removes_tabs_and_newlines_pasted_with_the_code(self) -> None:
        assert normalize_code("\tu-0042\n", field="customer_code") == "U-0042"

    def test_keeps_slashes_underscores_and_dashes_inside_a_code(self) -> None:
        assert normalize_code("ab/12_c-3", field="supply_code") == "AB/12_C-3"

    def test_takes_a_number_as_a_code(self) -> None:
        assert normalize_code(123456, field="customer_code") == "123456"

    @pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
    def test_an_empty_code_is_required(self, raw: object) -> None:
        error = format_error(normalize_code, raw, field="supply_code")
        assert (error.field, error.code) == ("supply_code", "required")

    @pytest.mark.parametrize(
        "raw",
        [
            "S0001!",
            "-S0001",
            "/123",
            "S.0001",
            "S'0001",
            "S" * 41,
            "àbc",
            "€123",
            "\u0661\u0662\u0663",
        ],
    )
    def test_junk_is_code_invalid(self, raw: str) -> None:
        error = format_error(normalize_code, raw, field="customer_code")
        assert (error.field, error.code) == ("customer_code", "code_invalid")

    @pytest.mark.parametrize("raw", ["\u00df01", "\u017f0001", "\ufb0101"])
    def test_refuses_letters_that_would_upper_case_into_a_different_ascii_code(
        self, raw: str
    ) -> None:
        assert format_error(normalize_code, raw, field="supply_code").code == "code_invalid"

    def test_accepts_the_longest_code_of_forty_characters(self) -> None:
        assert normalize_code("a" * 40, field="supply_code") == "A" * 40

    def test_refuses_an_integer_too_large_to_write_as_code_invalid(self) -> None:
        assert format_error(normalize_code, 10**5000, field="supply_code").code == "code_invalid"

    @properties
    @given(st.one_of(st.none(), st.text(), st.integers()))
    def test_any_input_either_normalises_or_raises_a_format_error(self, raw: object) -> None:
        try:
            code = normalize_code(raw, field="supply_code")
        except FormatError as exc:
            assert [(e.field, e.code) for e in exc.errors] in (
                [("supply_code", "required")],
                [("supply_code", "code_invalid")],
            )
        else:
            assert CODE.fullmatch(code)
            assert normalize_code(code, field="supply_code") == code

    @properties
    @given(st.one_of(st.text(), st.from_regex(CODE, fullmatch=True)))
    def test_a_text_matched_as_canonical_is_the_code_it_normalises_to(self, text: str) -> None:
        # The bulk import stages a code so matched as it is, without normalize_code.
        if canonical_code_match(text):
            assert normalize_code(text, field="supply_code") == text

    @properties
    @given(
        st.from_regex(CODE, fullmatch=True),
        st.integers(min_value=0, max_value=2**40 - 1),
        st.integers(min_value=0, max_value=2**40 - 1),
    )
    def test_any_code_written_with_spaces_and_lower_case_normalises_to_itself(
        self, code: str, lowered: int, spaced: int
    ) -> None:
        # Bit i of `lowered` and `spaced` say how the customer wrote the code's i-th character.
        written = "".join(
            (c.lower() if lowered >> i & 1 else c) + (" " if spaced >> i & 1 else "")
            for i, c in enumerate(code)
        )
        assert normalize_code(f"  {written} ", field="supply_code") == code


class TestParseReadingValue:
    def test_keeps_leading_zeros_out_of_the_value(self) -> None:
        assert parse_reading_value("00020") == 20

    def test_ignores_surrounding_spaces(self) -> None:
        assert parse_reading_value("  01234 \n") == 1234

    def test_takes_an_int(self) -> None:
        assert parse_reading_value(1234) == 1234

    def test_takes_zero(self) -> None:
        assert parse_reading_value("00000") == 0

    def test_takes_a_whole_decimal(self) -> None:
        assert parse_reading_value(Decimal("1234")) == 1234

    @pytest.mark.parametrize(
        "raw", ["12,5", "12.5", "1.234", "1,234", "12.", ",5", " 00012,50 ", 12.5, 12.0]
    )
    def test_a_comma_or_a_dot_gives_decimals_not_allowed(self, raw: object) -> None:
        error = format_error(parse_reading_value, raw)
        assert (error.field, error.code) == ("reading", "decimals_not_allowed")

    def test_a_decimal_with_a_fraction_gives_decimals_not_allowed(self) -> None:
        assert format_error(parse_reading_value, Decimal("12.5")).code == "decimals_not_allowed"

    @pytest.mark.parametrize(
        "raw",
        [
            "12a",
            "abc",
            "l2345",
            "-5",
            "+5",
            "12 34",
            "1_000",
            "1e3",
            "\u0661\u0662\u0663",  # Arabic-Indic 123
            "\uff11\uff12\uff13",  # full-width 123
            "²",
            -5,
            True,
            False,
        ],
    )
    def test_anything_else_that_is_not_a_whole_number_is_reading_invalid(self, raw: object) -> None:
        error = format_error(parse_reading_value, raw)
        assert (error.field, error.code) == ("reading", "reading_invalid")

    @pytest.mark.parametrize("raw", [None, "", "   "])
    def test_an_empty_reading_is_required(self, raw: object) -> None:
        error = format_error(parse_reading_value, raw)
        assert (error.field, error.code) == ("reading", "required")

    def test_takes_the_largest_value_of_a_five_digit_register(self) -> None:
        assert parse_reading_value("99999", digits=5) == 99999

    def test_keeps_leading_zeros_up_to_the_registers_digits(self) -> None:
        assert parse_reading_value("00020", digits=5) == 20

    def test_a_leading_zero_past_the_registers_digits_gives_too_many_digits(self) -> None:
        # Register 00012 with a red 3 copied too: "000123" must not be taken as 123 m³.
        error = format_error(parse_reading_value, "000123", digits=5)
        assert (error.code, error.params) == ("too_many_digits", {"digits": 5})

    @pytest.mark.parametrize(("raw", "digits"), [("100000", 5), ("123456", 5), ("10000", 4)])
    def test_a_value_past_the_register_gives_too_many_digits(self, raw: str, digits: int) -> None:
        error = format_error(parse_reading_value, raw, digits=digits)
        assert (error.code, error.params) == ("too_many_digits", {"digits": digits})

    def test_takes_the_largest_value_of_a_four_digit_register(self) -> None:
        assert parse_reading_value("9999", digits=4) == 9999

    def test_an_int_past_the_register_gives_too_many_digits(self) -> None:
        assert format_error(parse_reading_value, 10000, digits=4).code == "too_many_digits"

    @pytest.mark.parametrize(
        "raw",
        [
            "1234567890",
            pytest.param("9" * 5000, id="5000-nines"),
            10**9,
            pytest.param(10**5000, id="10**5000"),
        ],
    )
    def test_without_a_meter_a_value_past_the_largest_register_gives_too_many_digits(
        self, raw: object
    ) -> None:
        error = format_error(parse_reading_value, raw)
        assert (error.code, error.params) == ("too_many_digits", {"digits": 9})

    def test_leading_zeros_count_against_the_largest_register(self) -> None:
        assert format_error(parse_reading_value, "0" * 5000 + "42").code == "too_many_digits"

    @properties
    @given(
        st.one_of(
            st.none(),
            st.text(),
            st.integers(),
            st.floats(),
            st.booleans(),
            st.decimals(),
            st.text(alphabet="0123456789., -"),
        ),
        st.one_of(st.none(), st.integers(min_value=1, max_value=9)),
    )
    def test_any_input_gives_a_value_or_a_format_error(
        self, raw: object, digits: int | None
    ) -> None:
        try:
            value = parse_reading_value(raw, digits=digits)
        except FormatError as exc:
            assert [e.code for e in exc.errors] in (
                ["required"],
                ["decimals_not_allowed"],
                ["reading_invalid"],
                ["too_many_digits"],
            )
        else:
            assert 0 <= value < 10 ** (digits or 9)

    @properties
    @given(st.integers(min_value=1, max_value=9), st.data())
    def test_any_digit_string_no_longer_than_the_register_parses_back(
        self, digits: int, data: st.DataObject
    ) -> None:
        text = data.draw(st.text(alphabet="0123456789", min_size=1, max_size=digits))
        padding = data.draw(st.sampled_from(["", " ", "\t", "  \n"]))
        assert parse_reading_value(f"{padding}{text}{padding}", digits=digits) == int(text)


class TestCheckReadingDigits:
    def test_lets_the_largest_value_of_the_register_through(self) -> None:
        check_reading_digits(99999, 5)

    def test_refuses_one_more_than_the_register_shows(self) -> None:
        error = format_error(check_reading_digits, 100000, 5)
        assert (error.field, error.code, error.params) == (
            "reading",
            "too_many_digits",
            {"digits": 5},
        )


class TestParseReadOn:
    @pytest.mark.parametrize("raw", ["01/01/2026", "1/1/2026", " 01/1/2026 ", "01.01.2026"])
    def test_reads_day_month_year(self, raw: str) -> None:
        assert parse_read_on(raw) == date(2026, 1, 1)

    def test_reads_the_day_before_the_month(self) -> None:
        assert parse_read_on("12/03/2026") == date(2026, 3, 12)

    def test_takes_iso_when_allowed(self) -> None:
        assert parse_read_on("2026-03-12", allow_iso=True) == date(2026, 3, 12)

    def test_refuses_iso_when_not_allowed(self) -> None:
        error = format_error(parse_read_on, "2026-03-12", allow_iso=False)
        assert (error.field, error.code) == ("read_on", "date_invalid")

    def test_still_reads_day_month_year_when_iso_is_not_allowed(self) -> None:
        assert parse_read_on("12/03/2026", allow_iso=False) == date(2026, 3, 12)

    def test_takes_a_date_as_it_is(self) -> None:
        assert parse_read_on(date(2026, 3, 12)) == date(2026, 3, 12)

    def test_takes_the_rome_day_of_an_aware_datetime(self) -> None:
        late_evening_utc = datetime(2026, 3, 11, 23, 30, tzinfo=UTC)
        assert parse_read_on(late_evening_utc) == date(2026, 3, 12)
        assert type(parse_read_on(late_evening_utc)) is date

    def test_takes_the_day_of_a_naive_datetime(self) -> None:
        assert parse_read_on(datetime(2026, 3, 12, 23, 30)) == date(2026, 3, 12)

    def test_takes_29_february_of_a_leap_year(self) -> None:
        assert parse_read_on("29/02/2024") == date(2024, 2, 29)

    @pytest.mark.parametrize(
        "raw",
        [
            "31/02/2026",
            "29/02/2025",
            "31/04/2026",
            "00/01/2026",
            "01/13/2026",
            "01/00/2026",
            "29/02/1900",
            "01/01/0000",
            "2026-02-30",
            "2026-13-01",
        ],
    )
    def test_an_impossible_date_is_date_invalid(self, raw: str) -> None:
        error = format_error(parse_read_on, raw)
        assert (error.field, error.code) == ("read_on", "date_invalid")

    @pytest.mark.parametrize("raw", ["01/01/26", "1/1/26", "01/01/026", "01/01/20260"])
    def test_a_year_that_is_not_four_digits_is_date_invalid(self, raw: str) -> None:
        assert format_error(parse_read_on, raw).code == "date_invalid"

    @pytest.mark.parametrize(
        "raw",
        [
            "yesterday",
            "1 gennaio 2026",
            "01/01-2026",
            "01012026",
            "01/01/2026 10:00",
            "\u0661/\u0661/\u0662\u0660\u0662\u0666",  # Arabic-Indic 1/1/2026
            "2026/01/01",
            20260101,
            pytest.param(10**5000, id="10**5000"),
        ],
    )
    def test_an_unparseable_date_is_date_invalid(self, raw: object) -> None:
        assert format_error(parse_read_on, raw).code == "date_invalid"

    @pytest.mark.parametrize("raw", [None, "", "  "])
    def test_an_empty_date_is_required(self, raw: object) -> None:
        error = format_error(parse_read_on, raw)
        assert (error.field, error.code) == ("read_on", "required")

    @properties
    @given(st.one_of(st.none(), st.text(), st.text(alphabet="0123456789/-. "), st.integers()))
    def test_any_input_gives_a_date_or_a_format_error(self, raw: object) -> None:
        try:
            day = parse_read_on(raw)
        except FormatError as exc:
            assert [(e.field, e.code) for e in exc.errors] in (
                [("read_on", "required")],
                [("read_on", "date_invalid")],
            )
        else:
            assert type(day) is date

    @properties
    @given(st.dates())
    def test_every_date_written_day_month_year_reads_back(self, day: date) -> None:
        assert parse_read_on(f"{day.day:02d}/{day.month:02d}/{day.year:04d}") == day
        assert parse_read_on(f"{day.day}/{day.month}/{day.year:04d}") == day

    @properties
    @given(st.dates(min_value=date(1000, 1, 1)))
    def test_every_iso_date_reads_back_when_allowed(self, day: date) -> None:
        assert parse_read_on(day.isoformat()) == day


class TestCheckReadOn:
    TODAY = date(2026, 2, 20)

    def test_lets_today_through(self) -> None:
        check_read_on(self.TODAY, today=self.TODAY, meter_installed_on=date(2024, 1, 1))

    def test_lets_the_installation_day_through(self) -> None:
        check_read_on(date(2024, 1, 1), today=self.TODAY, meter_installed_on=date(2024, 1, 1))

    def test_a_date_after_today_is_date_in_future(self) -> None:
        error = format_error(
            check_read_on, self.TODAY + timedelta(days=1), today=self.TODAY, meter_installed_on=None
        )
        assert (error.field, error.code) == ("read_on", "date_in_future")

    def test_a_date_before_the_meter_was_installed_is_date_before_meter(self) -> None:
        installed_on = date(2025, 6, 1)
        error = format_error(
            check_read_on, date(2025, 5, 31), today=self.TODAY, meter_installed_on=installed_on
        )
        assert (error.field, error.code, error.params) == (
            "read_on",
            "date_before_meter",
            {"installed_on": installed_on},
        )

    def test_without_a_meter_only_the_future_is_refused(self) -> None:
        check_read_on(date(1990, 1, 1), today=self.TODAY, meter_installed_on=None)

    def test_today_is_compared_with_the_rome_day_of_the_submission(self) -> None:
        # 23:30 UTC on 19 February is already 20 February in Rome.
        now = datetime(2026, 2, 19, 23, 30, tzinfo=UTC)
        check_read_on(date(2026, 2, 20), today=rome_today(now), meter_installed_on=None)
