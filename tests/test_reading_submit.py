"""reading_submit: identification, format errors, the window, plausibility, receipts, repeats.

Time is an input: every call passes `now`. The December 2026 window runs from the 15th to
the 30th; the next one from 15 to 28 February 2027.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.test import override_settings

from autolettura.customers.models import Meter, Supply
from autolettura.readings.models import Channel, InboundMessage, Reading, Source
from autolettura.readings.selectors import receipt_last_numbers
from autolettura.readings.services import (
    Submission,
    SubmissionRejected,
    inbound_reading_submit,
    reading_submit,
)
from autolettura.rules.window import Window
from tests.api_helpers import requires_postgres, run_together
from tests.conftest import make_supply, rome

NOW = rome(2026, 12, 20, 10, 0)
DECEMBER = Window(date(2026, 12, 15), date(2026, 12, 30))
FEBRUARY = Window(date(2027, 2, 15), date(2027, 2, 28))


def submit(
    supply: Supply, reading: object, read_on: object = "20/12/2026", **kw: Any
) -> Submission:
    kw.setdefault("now", NOW)
    kw.setdefault("channel", Channel.APP)
    if "customer" not in kw:
        kw.setdefault("supply_code", supply.supply_code)
        kw.setdefault("customer_code", supply.holder.customer_code)
    return reading_submit(reading=reading, read_on=read_on, **kw)


def rejected(supply: Supply, reading: object, read_on: object = "20/12/2026", **kw: Any) -> list:
    before = Reading.objects.count()
    with pytest.raises(SubmissionRejected) as caught:
        submit(supply, reading, read_on, **kw)
    assert Reading.objects.count() == before
    return [(e.field, e.code) for e in caught.value.errors]


@pytest.mark.django_db
class TestReadingSubmit:
    def test_accepts_a_reading_inside_the_window_with_its_consumption(self, supply: Supply) -> None:
        result = submit(supply, " 00012 ")

        assert result.created is True
        reading = result.reading
        assert (reading.value, reading.read_on) == (12, date(2026, 12, 20))
        assert (reading.status, reading.reason, reading.consumption_m3) == ("ACCEPTED", None, 12)
        assert (reading.source, reading.channel, reading.submitted_at) == ("SELF", "APP", NOW)
        assert reading.meter == supply.meters.get()
        assert reading.receipt == "AL-2026-000001"
        assert result.window == DECEMBER

    def test_takes_an_iso_date_and_today_when_no_date_is_given(self, supply: Supply) -> None:
        assert submit(supply, "10", "2026-12-18").reading.read_on == date(2026, 12, 18)
        assert submit(supply, "11", None).reading.read_on == date(2026, 12, 20)

    def test_accepts_an_equal_value_with_zero_consumption(self, db: None) -> None:
        supply = make_supply(installed_on=date(2026, 1, 1), initial_reading=500)

        reading = submit(supply, "00500").reading

        assert (reading.status, reading.consumption_m3) == ("ACCEPTED", 0)

    def test_returns_the_first_receipt_for_a_repeated_submission(self, supply: Supply) -> None:
        first = submit(supply, "12")

        again = submit(supply, "0012", "2026-12-20", now=rome(2026, 12, 22, 18, 0))

        assert again.created is False
        assert again.reading.pk == first.reading.pk
        assert again.reading.receipt == first.reading.receipt
        assert Reading.objects.count() == 1
        assert receipt_last_numbers() == {2026: 1}

    def test_repeats_even_an_outcome_that_was_a_discard(self, supply: Supply) -> None:
        first = submit(supply, "12", "10/12/2026")

        again = submit(supply, "12", "10/12/2026")

        assert (again.created, again.reading.pk) == (False, first.reading.pk)
        assert again.reading.reason == "outside_window"

    def test_a_voided_reading_is_not_repeated_but_taken_again(self, supply: Supply) -> None:
        first = submit(supply, "12").reading
        Reading.objects.filter(pk=first.pk).update(voided_at=NOW, void_reason="wrong meter")

        again = submit(supply, "12")

        assert again.created is True
        assert again.reading.receipt == "AL-2026-000002"


@pytest.mark.django_db
class TestIdentification:
    def test_refuses_a_wrong_customer_code_with_the_generic_error(self, supply: Supply) -> None:
        assert rejected(supply, "12", customer_code="U999999") == [("codes", "codes_mismatch")]

    def test_refuses_an_unknown_supply_with_the_same_error(self, supply: Supply) -> None:
        assert rejected(supply, "12", supply_code="S999999") == [("codes", "codes_mismatch")]

    def test_refuses_the_codes_of_two_different_customers(self, supply: Supply) -> None:
        other = make_supply()

        errors = rejected(supply, "12", customer_code=other.holder.customer_code)

        assert errors == [("codes", "codes_mismatch")]

    def test_takes_codes_with_spaces_and_lower_case(self, supply: Supply) -> None:
        result = submit(
            supply,
            "12",
            supply_code=f" {supply.supply_code.lower()} ",
            customer_code=supply.holder.customer_code.lower(),
        )

        assert result.reading.supply == supply

    def test_names_missing_codes(self, supply: Supply) -> None:
        errors = rejected(supply, "12", supply_code="", customer_code=None)

        assert errors == [("supply_code", "required"), ("customer_code", "required")]

    def test_a_signed_in_customer_with_one_supply_needs_no_codes(self, supply: Supply) -> None:
        result = submit(supply, "12", customer=supply.holder)

        assert result.reading.supply == supply

    def test_a_signed_in_customer_with_two_supplies_names_one(self, supply: Supply) -> None:
        second = make_supply(customer=supply.holder)

        assert rejected(supply, "12", customer=supply.holder) == [("supply_code", "required")]
        result = submit(supply, "12", customer=supply.holder, supply_code=second.supply_code)
        assert result.reading.supply == second

    def test_a_signed_in_customer_cannot_submit_for_another_customers_supply(
        self, supply: Supply
    ) -> None:
        other = make_supply()

        errors = rejected(
            other,
            "12",
            customer=supply.holder,
            supply_code=other.supply_code,
            customer_code=other.holder.customer_code,
        )

        assert errors == [("codes", "codes_mismatch")]


@pytest.mark.django_db
class TestFormatErrors:
    @pytest.mark.parametrize(
        ("reading", "code"),
        [
            ("12,5", "decimals_not_allowed"),
            ("12.5", "decimals_not_allowed"),
            (12.5, "decimals_not_allowed"),
            ("12a4", "reading_invalid"),
            ("-12", "reading_invalid"),
            ("\uff11\uff12", "reading_invalid"),  # full-width digits
            ("123456", "too_many_digits"),
            ("", "required"),
        ],
    )
    def test_refuses_a_reading_that_is_not_a_whole_number_of_the_meters_digits(
        self, supply: Supply, reading: object, code: str
    ) -> None:
        assert rejected(supply, reading) == [("reading", code)]

    def test_counts_digits_against_the_meters_own_register(self, db: None) -> None:
        supply = make_supply(digits=4)

        assert rejected(supply, "10000") == [("reading", "too_many_digits")]

    @pytest.mark.parametrize(
        ("read_on", "code"),
        [
            ("31/02/2026", "date_invalid"),
            ("2026-02-31", "date_invalid"),
            ("20/12/26", "date_invalid"),
            ("ieri", "date_invalid"),
            ("21/12/2026", "date_in_future"),
            ("15/12/2023", "date_before_meter"),
        ],
    )
    def test_refuses_a_date_that_is_impossible_in_the_future_or_before_the_meter(
        self, supply: Supply, read_on: str, code: str
    ) -> None:
        assert rejected(supply, "12", read_on) == [("read_on", code)]

    def test_today_is_the_day_in_rome_just_after_midnight(self, supply: Supply) -> None:
        # 23:30 UTC on the 20th is already the 21st in Rome.
        just_after_midnight = rome(2026, 12, 21, 0, 30)

        result = submit(supply, "12", "21/12/2026", now=just_after_midnight)

        assert result.reading.read_on == date(2026, 12, 21)
        assert result.reading.status == "ACCEPTED"
        assert rejected(supply, "12", "22/12/2026", now=just_after_midnight) == [
            ("read_on", "date_in_future")
        ]

    def test_reports_every_format_error_at_once(self, supply: Supply) -> None:
        errors = rejected(supply, "12,5", "31/02/2026", customer_code="U99 99!")

        assert errors == [
            ("customer_code", "code_invalid"),
            ("reading", "decimals_not_allowed"),
            ("read_on", "date_invalid"),
        ]

    def test_does_not_look_the_codes_up_while_anything_else_is_malformed(
        self, supply: Supply
    ) -> None:
        # Otherwise a malformed date would tell right codes from wrong ones, storing nothing.
        wrong = rejected(supply, "12,5", "31/02/2026", customer_code="U999999")
        right = rejected(supply, "12,5", "31/02/2026")

        assert wrong == right == [("reading", "decimals_not_allowed"), ("read_on", "date_invalid")]

    def test_refuses_an_unknown_channel(self, supply: Supply) -> None:
        assert rejected(supply, "12", channel="FAX") == [("channel", "channel_invalid")]


@pytest.mark.django_db
class TestWindow:
    def test_discards_a_reading_sent_outside_the_window_and_names_the_next(
        self, supply: Supply
    ) -> None:
        result = submit(supply, "12", "31/12/2026", now=rome(2026, 12, 31, 9, 0))

        reading = result.reading
        assert (reading.status, reading.reason) == ("DISCARDED", "outside_window")
        assert reading.receipt == "AL-2026-000001"
        assert result.window == FEBRUARY

    def test_discards_a_reading_taken_before_the_window_opened(self, supply: Supply) -> None:
        result = submit(supply, "12", "14/12/2026")

        assert result.reading.reason == "outside_window"
        # It may be read again today, inside this same window.
        assert result.window == DECEMBER

    def test_the_window_opens_at_midnight_in_rome(self, supply: Supply) -> None:
        # 23:30 UTC on the 14th is 00:30 on the 15th in Rome.
        result = submit(supply, "12", "15/12/2026", now=rome(2026, 12, 15, 0, 30))

        assert result.reading.status == "ACCEPTED"

    def test_the_october_window_closes_at_midnight_in_rome_after_the_clocks_go_back(
        self, supply: Supply
    ) -> None:
        # Summer time ended on 25 October 2026: Rome is UTC+1 again.
        last_minute = datetime(2026, 10, 30, 22, 59, tzinfo=UTC)  # 23:59 on the 30th
        too_late = datetime(2026, 10, 30, 23, 0, tzinfo=UTC)  # 00:00 on the 31st

        inside = submit(supply, "12", "30/10/2026", now=last_minute)
        outside = submit(supply, "13", "30/10/2026", now=too_late)

        assert inside.reading.status == "ACCEPTED"
        assert (outside.reading.reason, outside.window) == ("outside_window", DECEMBER)

    def test_the_april_window_opens_at_midnight_in_rome_after_the_clocks_go_forward(
        self, supply: Supply
    ) -> None:
        # Summer time began on 28 March 2027: Rome is UTC+2.
        too_early = datetime(2027, 4, 14, 21, 59, tzinfo=UTC)  # 23:59 on the 14th
        opening = datetime(2027, 4, 14, 22, 0, tzinfo=UTC)  # 00:00 on the 15th

        before = submit(supply, "12", "14/04/2027", now=too_early)
        first = submit(supply, "13", "15/04/2027", now=opening)

        assert before.reading.reason == "outside_window"
        assert before.window == Window(date(2027, 4, 15), date(2027, 4, 30))
        assert (first.reading.status, first.reading.read_on) == ("ACCEPTED", date(2027, 4, 15))

    def test_day_30_is_the_last_day_of_february(self, db: None) -> None:
        supply = make_supply(installed_on=date(2026, 1, 1))

        result = submit(supply, "12", "28/02/2027", now=rome(2027, 2, 28, 23, 0))

        assert result.reading.status == "ACCEPTED"
        assert result.window == FEBRUARY

    @override_settings(AUTOLETTURA_WINDOW_POLICY="lenient")
    def test_a_lenient_policy_accepts_readings_outside_the_window(self, supply: Supply) -> None:
        result = submit(supply, "12", "05/01/2027", now=rome(2027, 1, 5, 9, 0))

        assert (result.reading.status, result.reading.reason) == ("ACCEPTED", None)
        assert result.window == FEBRUARY

    def test_an_operator_reading_is_not_bound_to_the_window(self, supply: Supply) -> None:
        result = submit(
            supply, "12", "05/01/2027", now=rome(2027, 1, 5, 9, 0), source=Source.OPERATOR
        )

        assert (result.reading.status, result.reading.source) == ("ACCEPTED", "OPERATOR")


@pytest.fixture
def fitted_dec_1(db: None) -> Supply:
    """A meter fitted on 1 December 2026 showing 1000: 19 days before NOW."""
    return make_supply(installed_on=date(2026, 12, 1), initial_reading=1000)


@pytest.mark.django_db
class TestPlausibility:
    def test_discards_a_value_lower_than_the_last_valid_reading(self, fitted_dec_1: Supply) -> None:
        reading = submit(fitted_dec_1, "900").reading

        assert (reading.status, reading.reason, reading.consumption_m3) == (
            "DISCARDED",
            "lower_than_previous",
            None,
        )

    def test_accepts_a_rollover_with_the_consumption_across_the_wrap(self, db: None) -> None:
        supply = make_supply(installed_on=date(2026, 1, 1), initial_reading=99950)

        reading = submit(supply, "00020").reading

        assert (reading.status, reading.reason) == ("ACCEPTED", None)
        assert (reading.consumption_m3, reading.rollover) == (70, True)

    def test_discards_a_reading_older_than_the_last_valid_one(self, fitted_dec_1: Supply) -> None:
        submit(fitted_dec_1, "1005", "18/12/2026")

        reading = submit(fitted_dec_1, "1003", "16/12/2026").reading

        assert (reading.status, reading.reason) == ("DISCARDED", "older_than_last_reading")

    def test_discards_what_the_meter_cannot_physically_pass(self, fitted_dec_1: Supply) -> None:
        # 3.125 m³/h for 20 days is 1500 m³: a digit too many.
        reading = submit(fitted_dec_1, "10050").reading

        assert (reading.status, reading.reason, reading.consumption_m3) == (
            "DISCARDED",
            "implausible",
            9050,
        )

    def test_sends_a_much_higher_consumption_for_review(self, fitted_dec_1: Supply) -> None:
        reading = submit(fitted_dec_1, "1100").reading

        assert (reading.status, reading.reason, reading.consumption_m3) == (
            "UNDER_REVIEW",
            "high_consumption",
            100,
        )

    def test_measures_against_the_last_valid_reading_only(self, fitted_dec_1: Supply) -> None:
        submit(fitted_dec_1, "10050", "16/12/2026")  # implausible
        submit(fitted_dec_1, "1100", "17/12/2026")  # under review
        submit(fitted_dec_1, "1004", "18/12/2026")  # accepted

        reading = submit(fitted_dec_1, "1010").reading

        assert (reading.status, reading.consumption_m3) == ("ACCEPTED", 6)

    def test_measures_a_new_meter_from_its_initial_reading(self, fitted_dec_1: Supply) -> None:
        Meter.objects.filter(supply=fitted_dec_1).update(
            removed_on=date(2026, 12, 10), final_reading=1010
        )
        Meter.objects.create(
            supply=fitted_dec_1, serial="NEW1", installed_on=date(2026, 12, 10), initial_reading=3
        )

        reading = submit(fitted_dec_1, "8").reading

        assert (reading.status, reading.consumption_m3, reading.meter.serial) == (
            "ACCEPTED",
            5,
            "NEW1",
        )


@pytest.mark.django_db
class TestReceipts:
    def test_receipts_are_sequential_within_a_year(self, supply: Supply) -> None:
        receipts = [submit(supply, str(v)).reading.receipt for v in (10, 11, 12)]

        assert receipts == ["AL-2026-000001", "AL-2026-000002", "AL-2026-000003"]

    def test_receipts_start_again_each_year_in_rome(self, supply: Supply) -> None:
        submit(supply, "10", "30/12/2026", now=rome(2026, 12, 30, 23, 30))
        # 23:30 UTC on 31 December is already 2027 in Rome.
        new_year = rome(2027, 1, 1, 0, 30)

        first_of_2027 = submit(supply, "11", "01/01/2027", now=new_year).reading

        assert re.fullmatch(r"AL-\d{4}-\d{6}", first_of_2027.receipt or "")
        assert first_of_2027.receipt == "AL-2027-000001"

    def test_a_refused_submission_uses_no_receipt(self, supply: Supply) -> None:
        rejected(supply, "12,5")

        assert submit(supply, "12").reading.receipt == "AL-2026-000001"


@pytest.mark.django_db
class TestInboundReadingSubmit:
    def payload(self, supply: Supply, **fields: object) -> dict[str, object]:
        return {
            "supply_code": supply.supply_code,
            "customer_code": supply.holder.customer_code,
            "reading": "12",
            "read_on": "20/12/2026",
            **fields,
        }

    def test_logs_a_format_error_with_its_errors_and_makes_no_reading(self, supply: Supply) -> None:
        outcome = inbound_reading_submit(
            channel=Channel.SMS,
            provider_message_id="sms-1",
            payload=self.payload(supply, reading="12,5"),
            now=NOW,
            sender="+393331234567",
        )

        assert outcome.submission is None
        assert [(e.field, e.code) for e in outcome.errors] == [("reading", "decimals_not_allowed")]
        message = InboundMessage.objects.get()
        assert message.errors == [{"field": "reading", "code": "decimals_not_allowed"}]
        assert (message.processed_at, message.reading, message.sender) == (
            NOW,
            None,
            "+393331234567",
        )
        assert message.payload["reading"] == "12,5"
        assert not Reading.objects.exists()

    def test_a_retried_message_gives_back_the_first_reading(self, supply: Supply) -> None:
        first = inbound_reading_submit(
            channel=Channel.SMS, provider_message_id="sms-2", payload=self.payload(supply), now=NOW
        )

        retry = inbound_reading_submit(
            channel=Channel.SMS,
            provider_message_id="sms-2",
            payload=self.payload(supply),
            now=rome(2026, 12, 20, 10, 5),
        )

        assert first.submission is not None and retry.submission is not None
        assert retry.submission.created is False
        assert retry.submission.reading.receipt == first.submission.reading.receipt
        assert retry.submission.window == first.submission.window
        assert Reading.objects.count() == InboundMessage.objects.count() == 1
        assert InboundMessage.objects.get().reading == first.submission.reading


# --- Parallel submissions (PostgreSQL) ---------------------------------------------------

THREADS = 8


def _codes(supply: Supply) -> tuple[str, str]:
    return supply.supply_code, supply.holder.customer_code


@pytest.mark.postgres
@requires_postgres
@pytest.mark.django_db(transaction=True)
class TestParallelSubmissions:
    def test_the_same_reading_sent_at_once_is_taken_once(self) -> None:
        supply = make_supply()
        supply_code, customer_code = _codes(supply)

        def work(_: int) -> tuple[str | None, bool]:
            result = reading_submit(
                channel=Channel.APP,
                supply_code=supply_code,
                customer_code=customer_code,
                reading="00042",
                read_on="20/12/2026",
                now=NOW,
            )
            return result.reading.receipt, result.created

        answers = run_together(THREADS, work)

        assert len({receipt for receipt, _ in answers}) == 1
        assert sum(created for _, created in answers) == 1
        assert Reading.objects.count() == 1
        assert receipt_last_numbers() == {2026: 1}

    def test_increasing_values_sent_at_once_stay_consistent(self) -> None:
        supply = make_supply(installed_on=date(2026, 12, 1), initial_reading=1000)
        supply_code, customer_code = _codes(supply)

        def work(i: int) -> str | None:
            return reading_submit(
                channel=Channel.APP,
                supply_code=supply_code,
                customer_code=customer_code,
                reading=str(1001 + i),
                read_on="20/12/2026",
                now=NOW,
            ).reading.receipt

        receipts = run_together(THREADS, work)

        assert len(set(receipts)) == THREADS
        readings = list(Reading.objects.order_by("id"))
        assert sorted(r.receipt for r in readings) == [
            f"AL-2026-{n:06d}" for n in range(1, THREADS + 1)
        ]
        # In the order they were taken, every accepted value is above the one accepted before,
        # and every consumption is measured from it: none was assessed against a stale value.
        last = 1000
        accepted = 0
        for reading in readings:
            if reading.status == "ACCEPTED":
                assert reading.value > last
                assert reading.consumption_m3 == reading.value - last
                last = reading.value
                accepted += 1
            else:
                assert (reading.status, reading.reason) == ("DISCARDED", "lower_than_previous")
                assert reading.value < last
        assert accepted >= 1

    def test_receipts_of_different_supplies_sent_at_once_are_unique_and_gapless(self) -> None:
        supplies = [_codes(make_supply()) for _ in range(THREADS)]

        def work(i: int) -> str | None:
            supply_code, customer_code = supplies[i]
            return reading_submit(
                channel=Channel.APP,
                supply_code=supply_code,
                customer_code=customer_code,
                reading="7",
                read_on="20/12/2026",
                now=NOW,
            ).reading.receipt

        receipts = run_together(THREADS, work)

        assert sorted(r or "" for r in receipts) == [
            f"AL-2026-{n:06d}" for n in range(1, THREADS + 1)
        ]


class TestReadingDigits:
    """R2: at most the meter's number of digits as written, leading zeros included."""

    def test_refuses_a_red_digit_copied_after_the_black_ones(self, db: None) -> None:
        supply = make_supply(digits=5)

        with pytest.raises(SubmissionRejected) as refused:
            reading_submit(
                channel="APP",
                reading="000123",
                read_on="20/12/2026",
                supply_code=supply.supply_code,
                customer_code=supply.holder.customer_code,
                now=rome(2026, 12, 20, 10, 0),
            )

        [error] = refused.value.errors
        assert (error.code, dict(error.params)) == ("too_many_digits", {"digits": 5})

    def test_names_the_meters_digits_even_for_a_number_no_meter_shows(self, db: None) -> None:
        supply = make_supply(digits=5)

        with pytest.raises(SubmissionRejected) as refused:
            reading_submit(
                channel="APP",
                reading="12345678901",
                read_on="20/12/2026",
                supply_code=supply.supply_code,
                customer_code=supply.holder.customer_code,
                now=rome(2026, 12, 20, 10, 0),
            )

        [error] = refused.value.errors
        assert (error.code, dict(error.params)) == ("too_many_digits", {"digits": 5})
