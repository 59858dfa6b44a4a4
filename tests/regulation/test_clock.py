"""The regulator's daily clock on the database: obligations made once from bills, readings
and fault reports; late past their limit (across holidays and the year end); the automatic
compensation a late bill owes, credited on the customer's next bill as its own line."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings

from autolettura.billing.models import Bill
from autolettura.readings.models import Status
from autolettura.readings.services import reading_review
from autolettura.regulation.models import (
    Compensation,
    Obligation,
    ObligationKind,
    ObligationState,
)
from autolettura.regulation.selectors import obligations_agenda
from autolettura.regulation.services import obligations_tick
from autolettura.service.models import Category, FaultChannel, FaultReport, FaultStatus, Urgency
from tests.billing.support import add_reading, bill_run, load_tariffs
from tests.conftest import make_supply, rome

pytestmark = pytest.mark.django_db


def at_nine(day: date) -> datetime:
    return rome(day.year, day.month, day.day, 9, 0)


def bill_obligation(supply_id: int, period_end: date) -> Obligation:
    return Obligation.objects.get(
        kind=ObligationKind.BILL_ISSUED, subject=f"bill:{supply_id}:{period_end.isoformat()}"
    )


@pytest.fixture
def supply():  # type: ignore[no-untyped-def]
    load_tariffs(2025, 2026)
    # Billed on the platform from November 2025: its first period ends on 31 December.
    return make_supply(installed_on=date(2025, 11, 1))


class TestBillIssued:
    def test_a_period_without_a_bill_is_due_on_its_45th_day_and_late_the_day_after(
        self, supply
    ) -> None:
        obligations_tick(now=at_nine(date(2026, 1, 5)))
        obligation = bill_obligation(supply.id, date(2025, 12, 31))
        assert obligation.state == ObligationState.OPEN
        assert obligation.standard == "45d"

        agenda = obligations_agenda(today=date(2026, 2, 14))
        assert obligation in agenda.due_today
        assert obligation not in obligations_agenda(today=date(2026, 2, 13)).due_today

        obligations_tick(now=at_nine(date(2026, 2, 15)))
        obligation.refresh_from_db()
        assert obligation.state == ObligationState.LATE
        assert obligation in obligations_agenda(today=date(2026, 2, 15)).late
        # Unmet, and not yet three times late: nothing is owed until it is met.
        assert not Compensation.objects.exists()

    def test_a_bill_issued_on_the_45th_day_meets_it_and_owes_nothing(self, supply) -> None:
        bill_run(through=date(2025, 12, 31), issued_on=date(2026, 2, 14))
        report = obligations_tick(now=at_nine(date(2026, 2, 20)))
        obligation = bill_obligation(supply.id, date(2025, 12, 31))
        assert obligation.state == ObligationState.MET
        assert "issued on 14/02/2026" in obligation.evidence
        assert report.compensations == 0

    def test_a_late_bill_owes_30_euro_credited_on_the_next_bill_as_its_own_line(
        self, supply
    ) -> None:
        add_reading(supply, date(2025, 12, 20), 30)
        bill_run(through=date(2025, 12, 31), issued_on=date(2026, 2, 20))  # day 51
        report = obligations_tick(now=at_nine(date(2026, 2, 21)))
        obligation = bill_obligation(supply.id, date(2025, 12, 31))
        assert obligation.state == ObligationState.LATE
        compensation = Compensation.objects.get(obligation=obligation)
        assert (compensation.times, compensation.amount_eur) == (1, Decimal("30.00"))
        assert compensation.customer_id == supply.holder_id
        assert report.compensations_eur == Decimal("30.00")

        obligations_tick(now=at_nine(date(2026, 2, 22)))
        assert Compensation.objects.count() == 1  # the clock run again owes nothing more

        bill_run(through=date(2026, 2, 28), issued_on=date(2026, 3, 5))
        bill = Bill.objects.get(supply=supply, period_end=date(2026, 2, 28))
        (line,) = [ln for ln in bill.line_items if ln.kind == "COMPENSATION"]
        assert line.amount == Decimal("-30.00")
        assert line.position == len(bill.line_items)
        assert bill.total_eur == bill.net_eur + bill.vat_eur - Decimal("30.00")
        compensation.refresh_from_db()
        assert compensation.bill == bill
        # Credited once: the first late bill's run, re-run, and later bills carry no line.
        bill_run(through=date(2026, 4, 30), issued_on=date(2026, 5, 5))
        later = Bill.objects.get(supply=supply, period_end=date(2026, 4, 30))
        assert not [ln for ln in later.line_items if ln.kind == "COMPENSATION"]

    @pytest.mark.parametrize(
        ("issued_on", "times", "amount"),
        [(date(2026, 4, 1), 2, "60.00"), (date(2026, 5, 16), 3, "90.00")],
    )
    def test_a_bill_later_than_twice_or_three_times_the_standard_owes_double_or_triple(
        self, supply, issued_on: date, times: int, amount: str
    ) -> None:
        obligations_tick(now=at_nine(date(2026, 1, 5)))
        bill_run(through=date(2025, 12, 31), issued_on=issued_on)
        obligations_tick(now=at_nine(issued_on + timedelta(days=1)))
        compensation = Compensation.objects.get()
        assert (compensation.times, compensation.amount_eur) == (times, Decimal(amount))

    def test_an_unmet_bill_owes_the_triple_once_three_times_its_time_has_passed(
        self, supply
    ) -> None:
        obligations_tick(now=at_nine(date(2026, 5, 15)))
        assert not Compensation.objects.exists()
        obligations_tick(now=at_nine(date(2026, 5, 16)))
        assert Compensation.objects.get().amount_eur == Decimal("90.00")

    @override_settings(AUTOLETTURA_ARERA_COMPENSATED=())
    def test_no_compensation_where_the_setting_names_no_standard(self, supply) -> None:
        bill_run(through=date(2025, 12, 31), issued_on=date(2026, 2, 20))
        obligations_tick(now=at_nine(date(2026, 2, 21)))
        assert bill_obligation(supply.id, date(2025, 12, 31)).state == ObligationState.LATE
        assert not Compensation.objects.exists()

    def test_the_clock_makes_each_obligation_once(self, supply) -> None:
        for day in (date(2026, 1, 5), date(2026, 1, 5), date(2026, 3, 2)):
            obligations_tick(now=at_nine(day))
        subjects = list(
            Obligation.objects.filter(kind=ObligationKind.BILL_ISSUED).values_list(
                "subject", flat=True
            )
        )
        assert sorted(subjects) == [
            f"bill:{supply.id}:2025-12-31",
            f"bill:{supply.id}:2026-02-28",
        ]


class TestBillsAYear:
    def test_a_year_is_settled_after_its_last_bill_is_due(self) -> None:
        load_tariffs(2025, 2026)
        billed = make_supply(installed_on=date(2025, 1, 1))
        unbilled = make_supply(installed_on=date(2025, 1, 1))
        late_comer = make_supply(installed_on=date(2025, 12, 1))
        bill_run(through=date(2025, 12, 31), issued_on=date(2026, 1, 10))
        Bill.objects.filter(supply=unbilled).delete()  # as if its bills were never made

        obligations_tick(now=at_nine(date(2026, 2, 14)))
        assert not Obligation.objects.filter(kind=ObligationKind.BILLS_A_YEAR).exists()

        obligations_tick(now=at_nine(date(2026, 2, 15)))
        year = {o.supply_id: o for o in Obligation.objects.filter(kind=ObligationKind.BILLS_A_YEAR)}
        assert year[billed.id].state == ObligationState.MET
        assert year[billed.id].evidence.startswith("6 bills for periods ending in 2025")
        assert year[unbilled.id].state == ObligationState.LATE
        assert late_comer.id not in year  # active one month: owes no bill that year
        assert Compensation.objects.get(obligation=year[unbilled.id]).amount_eur == 30


class TestReviewTold:
    def test_a_reading_under_review_over_christmas_is_due_on_8_january(self, supply) -> None:
        reading = add_reading(supply, date(2025, 12, 22), 12, status=Status.UNDER_REVIEW)
        reading.source = "SELF"
        reading.submitted_at = rome(2025, 12, 22, 18, 30)
        reading.save()
        obligations_tick(now=at_nine(date(2026, 1, 8)))
        obligation = Obligation.objects.get(kind=ObligationKind.REVIEW_TOLD)
        assert obligation.due_at == rome(2026, 1, 9)
        assert obligation.state == ObligationState.OPEN
        assert obligation in obligations_agenda(today=date(2026, 1, 8)).due_today

        obligations_tick(now=rome(2026, 1, 9, 0, 0))
        obligation.refresh_from_db()
        assert obligation.state == ObligationState.LATE

        operator = User.objects.create_user("revisore", is_staff=True)
        reading_review(reading=reading, accept=True, by=operator, now=rome(2026, 1, 12, 10))
        obligations_tick(now=rome(2026, 1, 13, 5))
        obligation.refresh_from_db()
        assert obligation.state == ObligationState.LATE
        assert obligation.met_at == rome(2026, 1, 12, 10)
        assert "told on 12/01/2026" in obligation.evidence
        assert not Compensation.objects.exists()  # not a compensated standard by default

    def test_a_self_reading_discarded_on_arrival_was_told_at_once(self, supply) -> None:
        reading = add_reading(supply, date(2025, 11, 20), 5, status=Status.DISCARDED)
        reading.source = "SELF"
        reading.save()
        obligations_tick(now=at_nine(date(2025, 11, 21)))
        obligation = Obligation.objects.get(kind=ObligationKind.REVIEW_TOLD)
        assert obligation.state == ObligationState.MET
        assert obligation.met_at == reading.submitted_at


class TestEmergency:
    def report(self, received_at: datetime) -> FaultReport:
        return FaultReport.objects.create(
            ticket=f"GU-{received_at:%Y%H%M%S}",
            category=Category.LEAK,
            urgency=Urgency.EMERGENCY,
            channel=FaultChannel.PHONE,
            address="Via Roma 1",
            contact_phone="+393331234567",
            received_at=received_at,
        )

    def test_an_emergency_reached_within_three_hours_is_met_and_later_is_late(self) -> None:
        fast = self.report(rome(2025, 12, 31, 22, 0))  # across the year end
        slow = self.report(rome(2025, 12, 31, 23, 0))
        obligations_tick(now=rome(2025, 12, 31, 23, 30))
        assert Obligation.objects.get(fault=fast).due_at == rome(2026, 1, 1, 1, 0)
        for report, on_site in ((fast, rome(2026, 1, 1, 0, 59)), (slow, rome(2026, 1, 1, 2, 1))):
            FaultReport.objects.filter(pk=report.pk).update(
                status=FaultStatus.ON_SITE, dispatched_at=report.received_at, on_site_at=on_site
            )
        obligations_tick(now=rome(2026, 1, 1, 5, 15))
        assert Obligation.objects.get(fault=fast).state == ObligationState.MET
        late = Obligation.objects.get(fault=slow)
        assert late.state == ObligationState.LATE
        assert "crew on site at 01/01/2026 02:01" in late.evidence


class TestCommand:
    def test_the_command_says_what_it_did(self, supply) -> None:
        out = StringIO()
        call_command("obligations_tick", stdout=out)
        assert "compensations created" in out.getvalue()


class TestBackOfficePage:
    def test_billing_staff_read_what_is_due_today_and_what_is_late_in_plain_words(
        self, supply, client, monkeypatch
    ) -> None:  # type: ignore[no-untyped-def]
        from autolettura.backoffice.roles import BILLING
        from tests.backoffice.support import BACKEND, operator

        late = make_supply(installed_on=date(2025, 9, 1))
        obligations_tick(now=at_nine(date(2026, 1, 5)))
        # The other supply's October period was due on 15 December: late.
        client.force_login(operator(BILLING), backend=BACKEND)
        monkeypatch.setattr("autolettura.clock.now", lambda: at_nine(date(2026, 2, 14)))
        html = client.get("/backoffice/obblighi/").content.decode()
        due_today = html.split('id="due-today"')[1].split("</table>")[0]
        assert supply.supply_code in due_today
        assert "Emettere la bolletta entro 45 giorni" in due_today or (
            "Issue the bill within 45 days" in due_today
        )
        assert "14 febbraio 2026" in due_today or "14 February 2026" in due_today
        late_rows = html.split('id="late"')[1].split("</table>")[0]
        assert late.supply_code in late_rows
        assert "BILL_ISSUED" not in html and "OPEN" not in html


class TestReadingAttempts:
    def test_a_year_without_the_minimum_attempts_is_late_and_one_with_them_met(self) -> None:
        from autolettura.rounds.models import AttemptState, ReadingAttempt, Slot

        read = make_supply(installed_on=date(2020, 1, 1))
        unread = make_supply(installed_on=date(2020, 1, 1))
        add_reading(read, date(2025, 3, 3), 100)
        ReadingAttempt.objects.create(
            supply=read,
            planned_on=date(2025, 9, 3),
            slot=Slot.MORNING,
            state=AttemptState.FAILED,
            cause="meter not reachable",
            created_at=rome(2025, 1, 2),
        )
        ReadingAttempt.objects.create(
            supply=unread,
            planned_on=date(2025, 9, 4),
            slot=Slot.MORNING,
            created_at=rome(2025, 1, 2),
        )  # planned, never made: not an attempt
        of_2025 = Obligation.objects.filter(
            kind=ObligationKind.READING_ATTEMPTS, subject__endswith=":2025"
        )
        obligations_tick(now=rome(2025, 12, 31, 23, 0))
        assert not of_2025.exists()  # the year is not over
        obligations_tick(now=rome(2026, 1, 1, 5, 15))
        year = {o.supply_id: o for o in of_2025}
        assert year[read.id].state == ObligationState.MET
        assert year[read.id].evidence.startswith("2 reading attempts in 2025, 2 required")
        assert year[unread.id].state == ObligationState.LATE
        # Not compensated unless the setting names it.
        assert not Compensation.objects.filter(obligation__in=of_2025).exists()


class TestClockStart:
    @override_settings(AUTOLETTURA_ARERA_FROM=date(2026, 6, 1))
    def test_periods_and_years_before_the_platform_answered_owe_nothing(self) -> None:
        load_tariffs(2025, 2026)
        supply = make_supply(installed_on=date(2020, 1, 1))  # never billed here
        obligations_tick(now=at_nine(date(2026, 12, 20)))
        ends = sorted(
            o.subject.rsplit(":", 1)[1]
            for o in Obligation.objects.filter(kind=ObligationKind.BILL_ISSUED, supply=supply)
        )
        assert ends == ["2026-06-30", "2026-08-31", "2026-10-31"]
        assert not Obligation.objects.filter(
            kind__in=[ObligationKind.BILLS_A_YEAR, ObligationKind.READING_ATTEMPTS]
        ).exists()


class TestReadingAttemptsByTelemetry:
    def test_a_remotely_read_supply_meets_the_minimum_by_its_daily_readings(self) -> None:
        from autolettura.readings.models import Source

        remote = make_supply(installed_on=date(2020, 1, 1))
        for day in (date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 3)):
            add_reading(remote, day, 100 + day.day, source=Source.REMOTE)
        obligations_tick(now=rome(2026, 1, 1, 5, 15))
        year = Obligation.objects.get(
            kind=ObligationKind.READING_ATTEMPTS, subject=f"attempts:{remote.id}:2025"
        )
        assert year.state == ObligationState.MET
        assert year.evidence.endswith("3 days read remotely")
