"""The bill run (R11, R12) on the database: one bill per supply and period, amounts by
tariff line, progressive numbers without gaps, errors recorded per supply, re-runs and a
resume after a chunk died halfway."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from autolettura.billing import services
from autolettura.billing.models import Bill, BillRun, BillRunChunk, BillRunError
from autolettura.billing.selectors import billed_window
from autolettura.billing.tasks import bill_run_chunk_task
from autolettura.customers.models import Customer, Supply, Usage
from autolettura.readings.models import Channel, Source, Status
from autolettura.readings.services import reading_submit
from autolettura.rules.window import Window
from tests.conftest import make_supply, rome

from .support import add_reading, bill_run, issue_time, load_tariffs, swap_meter

pytestmark = pytest.mark.django_db

YEAR_END = date(2025, 12, 31)
ISSUED = date(2026, 1, 10)
PERIOD_ENDS_2025 = [
    date(2025, 2, 28),
    date(2025, 4, 30),
    date(2025, 6, 30),
    date(2025, 8, 31),
    date(2025, 10, 31),
    date(2025, 12, 31),
]


@pytest.fixture(autouse=True)
def _tariffs() -> None:
    load_tariffs(2025, 2026)


def new_supply(**fields: Any) -> Supply:
    """A supply activated on 1 January 2025, its meter fitted at 0 the evening before."""
    fields.setdefault("installed_on", date(2024, 12, 31))
    fields.setdefault("activated_on", date(2025, 1, 1))
    return make_supply(**fields)


def bills(supply: Supply) -> list[Bill]:
    return list(Bill.objects.filter(supply=supply).order_by("period_start"))


def assert_adds_up(bill: Bill) -> None:
    assert bill.billed_m3 == bill.effective_m3 + bill.estimated_m3 + bill.adjustment_m3
    assert bill.net_eur == sum(line.amount for line in bill.line_items)
    assert bill.total_eur == bill.net_eur + bill.vat_eur
    # R12: half-up to the cent (4.465 is 4.47, where Python's default would give 4.46).
    assert bill.vat_eur == (bill.net_eur * Decimal("0.10")).quantize(Decimal("0.01"), ROUND_HALF_UP)


class TestAnAllRealYear:
    def test_bills_each_period_on_its_readings_with_nothing_estimated(self) -> None:
        supply = new_supply(initial_reading=1000)
        for end, value in zip(PERIOD_ENDS_2025, [1020, 1045, 1075, 1110, 1130, 1150], strict=True):
            add_reading(supply, end, value, source=Source.SELF)
        summary = bill_run(through=YEAR_END, issued_on=ISSUED)
        made = bills(supply)
        assert [b.period_end for b in made] == PERIOD_ENDS_2025
        assert [b.effective_m3 for b in made] == [20, 25, 30, 35, 20, 20]
        assert {(b.estimated_m3, b.adjustment_m3) for b in made} == {(0, 0)}
        assert {b.current_register_source for b in made} == {"SELF"}
        assert [b.current_register for b in made] == [1020, 1045, 1075, 1110, 1130, 1150]
        assert made[0].previous_register == 1000
        assert (summary.bills_made, summary.bills_real, summary.bills_estimated) == (6, 6, 0)
        for bill in made:
            assert_adds_up(bill)


class TestAnAllEstimatedYear:
    def test_bills_the_cma_a_365th_a_day_in_whole_m3(self) -> None:
        supply = new_supply()
        summary = bill_run(through=YEAR_END, issued_on=ISSUED)
        made = bills(supply)
        assert [b.estimated_m3 for b in made] == [24, 25, 25, 26, 25, 25]
        assert {(b.effective_m3, b.adjustment_m3) for b in made} == {(0, 0)}
        assert sum(b.billed_m3 for b in made) == 150
        assert {b.current_register_source for b in made} == {"ESTIMATE"}
        assert {b.cma_m3 for b in made} == {Decimal("150.00")}
        assert (summary.bills_made, summary.bills_estimated, summary.bills_real) == (6, 6, 0)

    def test_ignores_discarded_and_voided_readings(self) -> None:
        supply = new_supply()
        add_reading(supply, date(2025, 2, 28), 90, status=Status.DISCARDED)
        voided = add_reading(supply, date(2025, 4, 30), 95)
        voided.voided_at = rome(2025, 5, 2, 9, 0)
        voided.void_reason = "misread"
        voided.save()
        bill_run(through=YEAR_END, issued_on=ISSUED)
        assert [b.estimated_m3 for b in bills(supply)] == [24, 25, 25, 26, 25, 25]


class TestTheRegulatorsWorkedExample:
    @override_settings(AUTOLETTURA_CMA_TREND=Decimal("1.01"))
    def test_bills_january_and_february_at_a_cma_of_181_30(self) -> None:
        # 150 m³ over the 305 days from 1 March to 31 December 2025.
        supply = make_supply(installed_on=date(2025, 3, 1))
        add_reading(supply, YEAR_END, 150)
        bill_run(through=YEAR_END, issued_on=ISSUED)
        bill_run(through=date(2026, 2, 28), issued_on=date(2026, 3, 10))
        january_february = bills(supply)[-1]
        assert (january_february.period_start, january_february.period_end) == (
            date(2026, 1, 1),
            date(2026, 2, 28),
        )
        assert january_february.cma_m3 == Decimal("181.30")
        # 181.30 x 59 / 365 = 29.31 m³, billed as 29 whole m³.
        assert january_february.estimated_m3 == 29
        assert january_february.effective_m3 == 0
        assert (january_february.previous_register, january_february.current_register) == (
            150,
            179,
        )
        assert january_february.previous_register_source == "OPERATOR"
        assert january_february.current_register_source == "ESTIMATE"
        assert january_february.current_reading_on == YEAR_END


class TestALateActualReading:
    """Billed January to April on estimates (24 + 25 m³), then read on 20 June."""

    def billed_to_april_then_read(self, value: int) -> tuple[Supply, Bill, services.RunSummary]:
        supply = new_supply()
        bill_run(through=date(2025, 4, 30), issued_on=date(2025, 5, 10))
        assert [b.estimated_m3 for b in bills(supply)] == [24, 25]
        add_reading(supply, date(2025, 6, 20), value, source=Source.SELF)
        summary = bill_run(through=date(2025, 6, 30), issued_on=date(2025, 7, 10))
        return supply, bills(supply)[-1], summary

    def test_above_the_estimates_gives_a_positive_adjustment(self) -> None:
        _supply, bill, summary = self.billed_to_april_then_read(120)
        # 120 m³ in the 171 days to 20 June puts 30 April at 84 m³, where 49 were billed.
        assert (bill.effective_m3, bill.estimated_m3, bill.adjustment_m3) == (36, 4, 35)
        assert bill.billed_m3 == 75
        assert bill.previous_total_m3 == 49
        assert bill.current_reading_on == date(2025, 6, 20)
        assert bill.total_eur > 0
        assert summary.bills_credit == 0
        assert_adds_up(bill)

    def test_below_the_estimates_gives_a_credit(self) -> None:
        _supply, bill, summary = self.billed_to_april_then_read(30)
        # 30 m³ in 171 days puts 30 April at 21 m³: 28 m³ were billed too many.
        assert (bill.effective_m3, bill.estimated_m3, bill.adjustment_m3) == (9, 4, -28)
        assert bill.billed_m3 == -15
        assert bill.net_eur < 0
        assert bill.total_eur < 0
        assert summary.bills_credit == 1
        water = [line.amount for line in bill.line_items if line.kind == "WATER"]
        assert water and all(amount < 0 for amount in water)
        assert_adds_up(bill)

    def test_a_small_credit_reduces_the_amount_below_the_fixed_quota(self) -> None:
        # 44 m³ by 20 June puts 30 April at 31: 18 m³ too many, less than May and June's 17.
        _supply, bill, _summary = self.billed_to_april_then_read(44)
        assert bill.adjustment_m3 == 31 - 49
        assert bill.billed_m3 == -1
        (fixed,) = [ln.amount for ln in bill.line_items if ln.kind == "FIXED"]
        assert fixed == Decimal("5.35")  # 32 € x 61 / 365
        # less one agevolata m³ (0.48), its sewerage (0.21) and treatment (0.56)
        assert bill.net_eur == Decimal("4.10")
        assert_adds_up(bill)


class TestRolloverAndMeterSwap:
    def test_bills_a_register_that_wrapped_inside_a_period_as_its_advance(self) -> None:
        supply = new_supply(initial_reading=99950)
        add_reading(supply, date(2025, 2, 28), 99990)
        add_reading(supply, date(2025, 4, 30), 30)
        bill_run(through=date(2025, 4, 30), issued_on=date(2025, 5, 10))
        _first, second = bills(supply)
        assert (second.previous_register, second.current_register) == (99990, 30)
        assert second.billed_m3 == second.effective_m3 == 40

    def test_bills_the_old_meters_final_advance_and_the_new_ones_from_its_initial(
        self,
    ) -> None:
        supply = new_supply(initial_reading=500)
        add_reading(supply, date(2025, 2, 28), 520)
        new = swap_meter(
            supply, on=date(2025, 3, 20), final_reading=530, initial_reading=7, serial="NEW-1"
        )
        add_reading(supply, date(2025, 4, 30), 27, meter=new)
        bill_run(through=date(2025, 4, 30), issued_on=date(2025, 5, 10))
        first, second = bills(supply)
        assert first.billed_m3 == 20
        assert second.effective_m3 == (530 - 520) + (27 - 7)
        assert second.estimated_m3 == 0
        assert (second.previous_register, second.current_register) == (520, 27)

    def test_estimates_after_a_swap_from_the_new_meters_initial_reading(self) -> None:
        supply = new_supply(initial_reading=500)
        add_reading(supply, date(2025, 2, 28), 520)
        swap_meter(
            supply, on=date(2025, 3, 20), final_reading=530, initial_reading=7, serial="NEW-2"
        )
        bill_run(through=date(2025, 4, 30), issued_on=date(2025, 5, 10))
        second = bills(supply)[-1]
        assert second.effective_m3 == 10
        # 41 days on the new meter at 150 m³ a year: 16.8, 17 whole m³.
        assert second.estimated_m3 == 17
        assert second.current_register == 7 + 17
        assert second.current_reading_on == date(2025, 3, 20)


class TestALeapYearFebruary:
    def test_bills_a_supply_activated_on_1_february_2024_for_29_days(self) -> None:
        load_tariffs(2024)
        supply = make_supply(installed_on=date(2024, 1, 31), activated_on=date(2024, 2, 1))
        bill_run(through=date(2024, 2, 29), issued_on=date(2024, 3, 11))
        (bill,) = bills(supply)
        assert (bill.period_start, bill.period_end) == (date(2024, 2, 1), date(2024, 2, 29))
        (fixed,) = [ln for ln in bill.line_items if ln.kind == "FIXED"]
        assert fixed.quantity == 29
        assert fixed.amount == Decimal("2.54")  # 32 € x 29 / 365 = 2.5425 €
        assert bill.estimated_m3 == 12  # 150 m³ x 29 / 365 = 11.9
        (agevolata,) = [ln for ln in bill.line_items if ln.kind == "WATER" and ln.position == 2]
        assert agevolata.quantity == Decimal("4.35")  # 54.75 m³ x 29 / 365
        assert_adds_up(bill)


class TestBillingPolicies:
    def test_a_new_supplys_first_period_starts_on_its_activation_date(self) -> None:
        supply = new_supply(activated_on=date(2025, 3, 17))
        bill_run(through=date(2025, 6, 30), issued_on=date(2025, 7, 10))
        assert [(b.period_start, b.period_end) for b in bills(supply)] == [
            (date(2025, 3, 17), date(2025, 4, 30)),
            (date(2025, 5, 1), date(2025, 6, 30)),
        ]

    @override_settings(AUTOLETTURA_BILLING_POLICY="cma")
    def test_the_cma_policy_bills_as_often_as_the_regulators_table_says(self) -> None:
        resident = new_supply()  # default CMA 150 m³: 3 bills a year
        other = new_supply(usage=Usage.DOMESTIC_OTHER)  # default CMA 80 m³: 2 bills a year
        bill_run(through=YEAR_END, issued_on=ISSUED)
        assert [b.period_end for b in bills(resident)] == [
            date(2025, 4, 30),
            date(2025, 8, 31),
            date(2025, 12, 31),
        ]
        assert [b.period_end for b in bills(other)] == [date(2025, 6, 30), date(2025, 12, 31)]

    def test_bills_the_holder_of_the_day(self) -> None:
        supply = new_supply()
        first_holder = supply.holder
        bill_run(through=date(2025, 2, 28), issued_on=date(2025, 3, 10))
        supply.holder = Customer.objects.create(customer_code="U-NEW", name="Nuovo titolare")
        supply.save()
        bill_run(through=date(2025, 4, 30), issued_on=date(2025, 5, 10))
        assert [b.customer_id for b in bills(supply)] == [first_holder.pk, supply.holder.pk]

    def test_on_a_day_read_by_both_the_operator_reading_counts(self) -> None:
        supply = new_supply()
        add_reading(supply, date(2025, 2, 28), 30, source=Source.SELF)
        add_reading(supply, date(2025, 2, 28), 25, source=Source.OPERATOR)
        bill_run(through=date(2025, 2, 28), issued_on=date(2025, 3, 10))
        (bill,) = bills(supply)
        assert (bill.current_register, bill.current_register_source) == (25, "OPERATOR")


class TestTheBill:
    def test_stores_the_next_self_reading_window_which_r5_then_checks(self) -> None:
        supply = new_supply()
        bill_run(through=YEAR_END, issued_on=ISSUED)
        latest = bills(supply)[-1]
        february = Window(date(2026, 2, 15), date(2026, 2, 28))
        assert (latest.next_window_start, latest.next_window_end) == (february.start, february.end)
        assert billed_window(supply) == february

    def test_its_window_is_the_one_a_self_reading_is_then_checked_against(self) -> None:
        billed = new_supply()
        never_billed = make_supply(installed_on=date(2024, 12, 31), activated_on=date(2026, 1, 1))
        bill_run(through=YEAR_END, issued_on=ISSUED)  # prints 15-28 February 2026
        # The utility moves its windows to days 20-30: the bills already out still count.
        with override_settings(AUTOLETTURA_WINDOW_DAYS=(20, 30)):
            taken = [
                reading_submit(
                    channel=Channel.APP,
                    reading="50",
                    read_on="16/02/2026",
                    supply_code=supply.supply_code,
                    customer_code=supply.holder.customer_code,
                    now=rome(2026, 2, 16, 10, 0),
                )
                for supply in (billed, never_billed)
            ]
        assert (taken[0].reading.status, taken[0].reading.reason) == ("ACCEPTED", None)
        assert (taken[1].reading.status, taken[1].reading.reason) == (
            "DISCARDED",
            "outside_window",
        )

    def test_has_the_registers_the_dates_and_the_due_date(self) -> None:
        supply = new_supply()
        add_reading(supply, date(2025, 2, 20), 22)
        bill_run(through=date(2025, 2, 28), issued_on=date(2025, 3, 10))
        (bill,) = bills(supply)
        assert (bill.previous_register, bill.previous_register_source) == (0, "OPERATOR")
        assert bill.previous_register_on == date(2024, 12, 31)
        assert (bill.current_register, bill.current_register_source) == (25, "ESTIMATE")
        assert bill.current_register_on == date(2025, 2, 28)
        assert bill.current_reading_on == date(2025, 2, 20)
        assert (bill.effective_m3, bill.estimated_m3) == (22, 3)
        assert bill.issued_on == date(2025, 3, 10)
        assert bill.due_on == date(2025, 3, 10) + timedelta(days=20)
        assert bill.customer_id == supply.holder_id
        # 25 m³ in 59 days fill the agevolata (8.85) and base (10.55) bands and go past.
        assert [line.kind for line in bill.line_items] == [
            "FIXED",
            "WATER",
            "WATER",
            "WATER",
            "SEWERAGE",
            "TREATMENT",
        ]

    def test_refuses_to_bill_periods_that_end_after_the_issue_date(self) -> None:
        with pytest.raises(services.BillRunInvalid, match="after the issue date"):
            services.bill_run_start(
                through=date(2026, 2, 28), issued_on=ISSUED, now=issue_time(ISSUED)
            )
        assert not BillRun.objects.exists()


class TestErrors:
    def test_a_period_without_a_tariff_is_recorded_naming_it_and_the_rest_are_billed(
        self,
    ) -> None:
        early = new_supply(activated_on=date(2024, 11, 1))  # November 2024: no 2024 tariff
        fine = new_supply()
        summary = bill_run(through=YEAR_END, issued_on=ISSUED)
        assert len(bills(fine)) == 6
        assert bills(early) == []
        (error,) = summary.errors
        assert error[0] == early.supply_code
        assert error[1] == date(2024, 12, 31)
        assert "no tariff for 2024 and usage domestic_resident" in error[2]
        assert BillRunError.objects.get().supply_id == early.pk

    def test_a_supply_without_a_meter_is_recorded_naming_it_and_the_rest_are_billed(
        self,
    ) -> None:
        fine = new_supply()
        holder = Customer.objects.create(customer_code="U-NOMETER", name="Senza contatore")
        bare = Supply.objects.create(
            supply_code="S-NOMETER",
            holder=holder,
            address="Via Milano 1",
            activated_on=date(2025, 1, 1),
        )
        summary = bill_run(through=YEAR_END, issued_on=ISSUED)
        assert len(bills(fine)) == 6
        assert bills(bare) == []
        assert summary.errors == [
            ("S-NOMETER", None, "the supply has no meter: install one before billing it")
        ]

    def test_a_supply_that_fails_unexpectedly_is_recorded_and_the_rest_are_billed(
        self,
    ) -> None:
        fine = new_supply()
        odd = new_supply()
        # No check constraint on usage: a value written around the model's choices.
        Supply.objects.filter(pk=odd.pk).update(usage="INDUSTRIAL")
        summary = bill_run(through=YEAR_END, issued_on=ISSUED)
        assert len(bills(fine)) == 6
        assert bills(odd) == []
        ((code, _end, message),) = summary.errors
        assert code == odd.supply_code
        assert message.startswith("unexpected error")
        assert BillRun.objects.get().status == BillRun.Status.DONE

    def test_the_command_lists_the_errors_in_its_summary(self) -> None:
        new_supply()
        early = new_supply(activated_on=date(2024, 11, 1))
        out = StringIO()
        call_command("bill_run", "--through", "2025-12-31", "--issued-on", "2026-01-10", stdout=out)
        text = out.getvalue()
        assert "6 bills made (0 on real readings, 6 estimated only, 0 credits)" in text
        assert "1 supplies not billed" in text
        assert f"{early.supply_code} period ending 2024-12-31: no tariff for 2024" in text

    def test_a_later_run_bills_a_supply_from_its_activation_once_its_tariff_is_loaded(
        self,
    ) -> None:
        early = new_supply(activated_on=date(2024, 11, 1))
        bill_run(through=YEAR_END, issued_on=ISSUED)
        load_tariffs(2024)
        summary = bill_run(through=YEAR_END, issued_on=date(2026, 1, 11))
        assert summary.errors == []
        assert [b.period_start for b in bills(early)][:2] == [date(2024, 11, 1), date(2025, 1, 1)]
        assert len(bills(early)) == 7


class TestBillRunCommand:
    def test_bills_in_process_and_prints_the_summary(self) -> None:
        new_supply()
        out = StringIO()
        call_command(
            "bill_run",
            "--through",
            "2025-12-31",
            "--issued-on",
            "2026-01-10",
            "--in-process",
            stdout=out,
        )
        assert "6 bills made" in out.getvalue()
        assert "0 supplies not billed" in out.getvalue()
        again = StringIO()
        call_command(
            "bill_run", "--through", "2025-12-31", "--issued-on", "2026-01-10", stdout=again
        )
        assert "0 bills made" in again.getvalue()
        assert Bill.objects.count() == 6

    def test_the_celery_task_bills_a_chunk_once(self) -> None:
        new_supply()
        run = services.bill_run_start(through=YEAR_END, issued_on=ISSUED, now=issue_time(ISSUED))
        chunk = run.chunks.get()
        # Tests run tasks eagerly, as the product does without a broker.
        assert bill_run_chunk_task.delay(chunk.pk).get() is True
        assert bill_run_chunk_task.delay(chunk.pk).get() is False
        chunk.refresh_from_db()
        assert (chunk.status, chunk.bills_made, chunk.bills_estimated) == ("DONE", 6, 6)
        assert Bill.objects.count() == 6

    def test_refuses_a_through_date_after_the_issue_date(self) -> None:
        with pytest.raises(CommandError, match="after the issue date 2026-01-10"):
            call_command("bill_run", "--through", "2026-02-28", "--issued-on", "2026-01-10")

    def test_refuses_a_date_it_cannot_read(self) -> None:
        with pytest.raises(CommandError, match="'31/12/2025' is not a date"):
            call_command("bill_run", "--through", "31/12/2025", "--issued-on", "2026-01-10")


class TestBillNumbers:
    def numbers(self, year: int) -> list[int]:
        return sorted(Bill.objects.filter(year=year).values_list("sequence", flat=True))

    def test_run_from_1_without_gaps_within_the_issue_year(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(services, "CHUNK_SIZE", 2)
        for _ in range(5):
            new_supply()
        bill_run(through=YEAR_END, issued_on=ISSUED)
        assert BillRunChunk.objects.count() == 3
        assert self.numbers(2026) == list(range(1, 31))
        assert {b.number for b in Bill.objects.filter(sequence=7)} == {"2026/000007"}

    def test_go_on_from_the_last_one_in_a_later_run_and_restart_in_a_new_year(self) -> None:
        for _ in range(2):
            new_supply()
        bill_run(through=date(2025, 10, 31), issued_on=date(2025, 11, 10))
        bill_run(through=YEAR_END, issued_on=ISSUED)
        bill_run(through=date(2026, 2, 28), issued_on=date(2026, 3, 10))
        assert self.numbers(2025) == list(range(1, 11))
        assert self.numbers(2026) == list(range(1, 5))


class TestRunningAgain:
    def test_a_second_run_makes_no_second_bill(self) -> None:
        supplies = [new_supply() for _ in range(3)]
        first = bill_run(through=YEAR_END, issued_on=ISSUED)
        second = bill_run(through=YEAR_END, issued_on=date(2026, 1, 11))
        assert (first.bills_made, second.bills_made) == (18, 0)
        for supply in supplies:
            assert len(bills(supply)) == 6
        assert BillRun.objects.filter(status=BillRun.Status.DONE).count() == 2

    def test_a_chunk_done_is_not_billed_again(self) -> None:
        new_supply()
        bill_run(through=YEAR_END, issued_on=ISSUED)
        chunk = BillRunChunk.objects.get()
        assert not services.bill_run_chunk(chunk_id=chunk.pk, now=issue_time(ISSUED))
        assert Bill.objects.count() == 6

    def test_resumes_after_a_chunk_died_halfway_with_one_bill_per_period_and_no_gap(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(services, "CHUNK_SIZE", 2)
        supplies = [new_supply() for _ in range(5)]
        write_bills = services._write_bills
        calls = Counter[str]()

        def dies_in_the_second_chunk(*args: Any, **kwargs: Any) -> None:
            write_bills(*args, **kwargs)  # the bills are written, numbers taken...
            calls["chunks"] += 1
            if calls["chunks"] == 2:
                raise RuntimeError("worker killed")  # ...and the transaction never commits

        monkeypatch.setattr(services, "_write_bills", dies_in_the_second_chunk)
        with pytest.raises(RuntimeError, match="worker killed"):
            bill_run(through=YEAR_END, issued_on=ISSUED)
        run = BillRun.objects.get()
        assert run.status == BillRun.Status.RUNNING
        assert list(run.chunks.order_by("first_supply_id").values_list("status", flat=True)) == [
            "DONE",
            "PENDING",
            "PENDING",
        ]
        assert Bill.objects.count() == 12  # the first chunk's two supplies only

        monkeypatch.setattr(services, "_write_bills", write_bills)
        summary = bill_run(through=YEAR_END, issued_on=ISSUED)
        run.refresh_from_db()
        assert BillRun.objects.get() == run  # the same run, resumed
        assert run.status == BillRun.Status.DONE
        assert summary.bills_made == 30
        per_period = Counter(Bill.objects.values_list("supply_id", "period_start"))
        assert set(per_period.values()) == {1}
        assert {supply_id for supply_id, _start in per_period} == {s.pk for s in supplies}
        assert sorted(Bill.objects.values_list("sequence", flat=True)) == list(range(1, 31))


class TestAChangeOfHolder:
    def test_cuts_the_period_and_bills_each_holder_for_their_own_days(self) -> None:
        from autolettura.customers.services import supply_holder_change

        supply = new_supply(initial_reading=0)
        add_reading(supply, date(2025, 3, 15), 40, source=Source.OPERATOR)
        first_holder = supply.holder
        bill_run(through=date(2025, 2, 28), issued_on=date(2025, 3, 10))
        new_holder = Customer.objects.create(customer_code="U-SUBENTRO", name="Subentrante")
        supply_holder_change(
            supply=supply,
            new_holder=new_holder,
            changed_on=date(2025, 3, 16),
            now=rome(2025, 3, 16, 9, 0),
        )

        bill_run(through=date(2025, 4, 30), issued_on=date(2025, 5, 10))

        made = bills(supply)
        assert [(b.period_start, b.period_end, b.customer_id) for b in made] == [
            (date(2025, 1, 1), date(2025, 2, 28), first_holder.pk),
            (date(2025, 3, 1), date(2025, 3, 15), first_holder.pk),
            (date(2025, 3, 16), date(2025, 4, 30), new_holder.pk),
        ]
        # The outgoing holder's closing bill ends on the reading taken for the change.
        assert (made[1].current_register, made[1].current_register_source) == (40, "OPERATOR")
        assert made[2].previous_register == 40
        for bill in made:
            assert_adds_up(bill)


class TestTheRegulatorsLimit:
    def test_the_summary_counts_bills_issued_more_than_45_days_after_their_period(self) -> None:
        new_supply()

        summary = bill_run(through=date(2025, 4, 30), issued_on=date(2025, 6, 1))

        # February ended 93 days before the issue date, April 32 days before.
        assert (summary.bills_made, summary.bills_late) == (2, 1)


class TestTheFirstBilledPeriod:
    """A utility migrating onto the platform: its supplies were activated years ago and
    billed by the previous system through 31 October 2025."""

    def old_supply(self, **fields: Any) -> Supply:
        return make_supply(installed_on=date(2019, 3, 4), **fields)

    def test_a_supply_is_billed_from_its_billing_start_not_its_activation(self) -> None:
        supply = self.old_supply(billing_starts_on=date(2025, 11, 1))

        summary = bill_run(through=YEAR_END, issued_on=ISSUED)

        assert [(b.period_start, b.period_end) for b in bills(supply)] == [
            (date(2025, 11, 1), YEAR_END)
        ]
        assert (summary.bills_made, summary.bills_late, summary.errors) == (1, 0, [])

    def test_since_starts_the_supplies_never_billed_here_on_that_day(self) -> None:
        old = self.old_supply()
        new = new_supply(activated_on=date(2025, 12, 1), installed_on=date(2025, 12, 1))
        out = StringIO()

        call_command(
            "bill_run",
            "--through",
            "2025-12-31",
            "--issued-on",
            "2026-01-10",
            "--since",
            "2025-11-01",
            stdout=out,
        )

        assert [b.period_start for b in bills(old)] == [date(2025, 11, 1)]
        assert [b.period_start for b in bills(new)] == [date(2025, 12, 1)]  # activated later
        assert "2 bills made" in out.getvalue()
        assert "later than the regulator allows" not in out.getvalue()

    def test_a_later_run_without_since_goes_on_from_the_last_bill(self) -> None:
        supply = self.old_supply()
        now = issue_time(ISSUED)
        run = services.bill_run_start(
            through=YEAR_END, issued_on=ISSUED, now=now, since=date(2025, 11, 1)
        )
        services.bill_run_in_process(run=run, now=now)

        bill_run(through=date(2026, 2, 28), issued_on=date(2026, 3, 10))

        assert [b.period_start for b in bills(supply)] == [date(2025, 11, 1), date(2026, 1, 1)]

    def test_a_resumed_run_keeps_its_since(self) -> None:
        supply = self.old_supply()
        now = issue_time(ISSUED)
        started = services.bill_run_start(
            through=YEAR_END, issued_on=ISSUED, now=now, since=date(2025, 11, 1)
        )

        resumed = services.bill_run_start(through=YEAR_END, issued_on=ISSUED, now=now)
        services.bill_run_in_process(run=resumed, now=now)

        assert resumed.pk == started.pk
        assert [b.period_start for b in bills(supply)] == [date(2025, 11, 1)]

    def test_since_after_through_is_refused_with_what_to_fix(self) -> None:
        with pytest.raises(CommandError, match="--since 2026-01-01 is after --through"):
            call_command(
                "bill_run", "--through", "2025-12-31", "--issued-on", "2026-01-10",
                "--since", "2026-01-01",
            )  # fmt: skip
