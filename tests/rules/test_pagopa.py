"""pagoPA notice numbers (R16): the IUV's check digits, the notice number and the QR code's
content, as the "Avviso di pagamento" and SACI specify them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules import pagopa
from autolettura.rules.pagopa import NoticeInvalid
from tests.rules.support import properties

CREDITOR = "80012345678"


class TestCheckDigits:
    def test_are_the_16_digit_number_mod_93(self) -> None:
        # 3 12 2027000000042 read as one number: 3122027000000042 mod 93 = 35.
        assert 3122027000000042 % 93 == 35
        assert (
            pagopa.check_digits(aux_digit=3, segregation_code="12", iuv_base="2027000000042")
            == "35"
        )

    def test_are_written_on_two_digits(self) -> None:
        # 3010000000000000 mod 93 is 43.
        value = pagopa.check_digits(aux_digit=3, segregation_code="01", iuv_base="0000000000000")
        assert value == f"{3010000000000000 % 93:02d}" and len(value) == 2

    @pytest.mark.parametrize(
        ("aux", "segregation", "base"),
        [(0, "12", "2027000000042"), (3, "1", "2027000000042"), (3, "12", "20270000042")],
    )
    def test_refuse_what_the_specification_does_not_allow(
        self, aux: int, segregation: str, base: str
    ) -> None:
        with pytest.raises(NoticeInvalid):
            pagopa.check_digits(aux_digit=aux, segregation_code=segregation, iuv_base=base)


class TestBillNotice:
    def test_numbers_the_notice_by_the_bill(self) -> None:
        notice = pagopa.bill_notice(
            creditor_fiscal_code=CREDITOR,
            segregation_code="12",
            year=2027,
            sequence=42,
            amount_cents=12345,
        )

        assert notice.iuv == "202700000004235"
        assert notice.notice_number == "312202700000004235"
        assert notice.qr_payload == "PAGOPA|002|312202700000004235|80012345678|12345"
        assert pagopa.format_notice_number(notice.notice_number) == "3122 0270 0000 0042 35"

    @pytest.mark.parametrize(
        ("fields", "words"),
        [
            ({"creditor_fiscal_code": "8001234567"}, "eleven digits"),
            ({"creditor_fiscal_code": "8001234567X"}, "eleven digits"),
            ({"amount_cents": 0}, "positive amount"),
            ({"amount_cents": -5}, "positive amount"),
            ({"sequence": 10**9}, "bill sequence"),
            ({"year": 999}, "four digits"),
        ],
    )
    def test_refuses_what_no_notice_can_carry(self, fields: dict, words: str) -> None:
        values = {
            "creditor_fiscal_code": CREDITOR,
            "segregation_code": "12",
            "year": 2027,
            "sequence": 1,
            "amount_cents": 100,
        } | fields
        with pytest.raises(NoticeInvalid, match=words):
            pagopa.bill_notice(**values)

    def test_reads_euro_as_cents(self) -> None:
        assert pagopa.euro_to_cents(Decimal("123.45")) == 12345
        assert pagopa.euro_to_cents(Decimal("7")) == 700
        with pytest.raises(NoticeInvalid):
            pagopa.euro_to_cents(Decimal("1.005"))


notices = st.builds(
    lambda segregation, year, sequence, cents: pagopa.bill_notice(
        creditor_fiscal_code=CREDITOR,
        segregation_code=f"{segregation:02d}",
        year=year,
        sequence=sequence,
        amount_cents=cents,
    ),
    st.integers(0, 99),
    st.integers(1000, 9999),
    st.integers(1, 10**9 - 1),
    st.integers(1, pagopa.MAX_AMOUNT_CENTS),
)


class TestNoticeProperties:
    @properties
    @given(notices)
    def test_has_18_digits_and_checks_out(self, notice: pagopa.Notice) -> None:
        number = notice.notice_number

        assert len(number) == 18 and number.isdigit() and number[0] == "3"
        assert pagopa.notice_number_parts(number) == (3, notice.segregation_code, notice.iuv)
        assert int(number[:16]) % 93 == int(number[16:])

    @properties
    @given(notices, st.integers(0, 17), st.integers(1, 9))
    def test_any_changed_digit_is_caught_or_changes_the_bill(
        self, notice: pagopa.Notice, position: int, shift: int
    ) -> None:
        # Any one digit changed: the check digits no longer match (mod 93
        # catches every single-digit change, since 93 divides no d * 10^k with d < 10).
        number = notice.notice_number
        changed = (
            number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
        )

        with pytest.raises(NoticeInvalid):
            pagopa.notice_number_parts(changed)

    @properties
    @given(notices)
    def test_qr_payload_has_the_five_fields_of_version_002(self, notice: pagopa.Notice) -> None:
        fields = notice.qr_payload.split("|")

        assert fields[:2] == ["PAGOPA", "002"]
        assert fields[2] == notice.notice_number
        assert fields[3] == CREDITOR
        assert int(fields[4]) == notice.amount_cents and fields[4] == str(notice.amount_cents)

    @properties
    @given(
        st.integers(1000, 9999),
        st.integers(1, 10**9 - 1),
        st.integers(1000, 9999),
        st.integers(1, 10**9 - 1),
    )
    def test_two_bills_never_share_an_iuv(self, y1: int, s1: int, y2: int, s2: int) -> None:
        first = pagopa.bill_iuv_base(year=y1, sequence=s1)
        second = pagopa.bill_iuv_base(year=y2, sequence=s2)

        assert (first == second) == ((y1, s1) == (y2, s2))
