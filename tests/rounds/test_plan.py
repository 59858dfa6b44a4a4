"""The reading rounds' plan on the database: every supply its minimum attempts, the gap
after the last reading by the utility, a new supply within 6 months, once only."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from autolettura.customers.models import Usage
from autolettura.rounds.models import AttemptState, ReadingAttempt, Slot
from autolettura.rounds.selectors import round_of_day
from autolettura.rounds.services import PlanInvalid, reading_plan
from tests.billing.support import add_reading
from tests.conftest import make_supply, rome

pytestmark = pytest.mark.django_db

NOW = rome(2025, 12, 15, 9, 0)


def planned(supply) -> list[date]:  # type: ignore[no-untyped-def]
    return list(
        ReadingAttempt.objects.filter(supply=supply)
        .order_by("planned_on")
        .values_list("planned_on", flat=True)
    )


class TestReadingPlan:
    def test_each_supply_gets_the_minimum_for_its_consumption(self) -> None:
        home = make_supply(installed_on=date(2020, 1, 1))
        with override_settings(AUTOLETTURA_CMA_DEFAULT_BUSINESS=4000):
            factory = make_supply(installed_on=date(2020, 1, 1), usage=Usage.BUSINESS)
            report = reading_plan(start=date(2026, 1, 1), end=date(2026, 12, 31), now=NOW)
        assert len(planned(home)) == 2
        assert len(planned(factory)) == 3
        assert report.planned == 5
        days = planned(home)
        assert (days[1] - days[0]).days >= 150
        assert all(a.state == AttemptState.PLANNED for a in ReadingAttempt.objects.all())

    def test_the_first_attempt_keeps_150_days_from_the_last_reading_by_the_utility(
        self,
    ) -> None:
        supply = make_supply(installed_on=date(2020, 1, 1))
        add_reading(supply, date(2025, 12, 1), 900)
        reading_plan(start=date(2026, 1, 1), end=date(2026, 12, 31), now=NOW)
        assert planned(supply) == [date(2026, 4, 30), date(2026, 9, 28)]

    def test_a_new_supply_is_visited_within_six_months(self) -> None:
        supply = make_supply(installed_on=date(2026, 3, 10))
        reading_plan(start=date(2026, 1, 1), end=date(2026, 12, 31), now=NOW)
        assert planned(supply)[0] <= date(2026, 9, 9)

    def test_planning_again_adds_nothing_and_a_window_plans_only_its_days(self) -> None:
        supply = make_supply(installed_on=date(2020, 1, 1))
        first = reading_plan(start=date(2026, 1, 1), end=date(2026, 3, 31), now=NOW)
        assert first.planned == 1
        again = reading_plan(start=date(2026, 1, 1), end=date(2026, 3, 31), now=rome(2025, 12, 16))
        assert again.planned == 0
        rest = reading_plan(start=date(2026, 1, 1), end=date(2026, 12, 31), now=rome(2025, 12, 17))
        assert rest.planned == 1
        assert len(planned(supply)) == 2

    def test_the_days_round_alternates_the_time_of_day(self) -> None:
        supply = make_supply(installed_on=date(2020, 1, 1))
        reading_plan(start=date(2026, 1, 1), end=date(2026, 12, 31), now=NOW)
        first, second = ReadingAttempt.objects.filter(supply=supply).order_by("planned_on")
        assert {first.slot, second.slot} == {Slot.MORNING, Slot.AFTERNOON}
        assert list(round_of_day(first.planned_on)) == [first]

    @pytest.mark.parametrize(
        ("start", "end", "message"),
        [
            (date(2026, 3, 1), date(2026, 2, 1), "is before --from"),
            (date(2026, 1, 1), date(2028, 6, 1), "at most two years"),
        ],
    )
    def test_a_bad_span_is_refused(self, start: date, end: date, message: str) -> None:
        with pytest.raises(PlanInvalid, match=message):
            reading_plan(start=start, end=end, now=NOW)

    def test_the_command_prints_the_attempts_by_month(self) -> None:
        make_supply(installed_on=date(2020, 1, 1))
        out = StringIO()
        call_command("reading_plan", "--from", "2026-01-01", "--to", "2026-12-31", stdout=out)
        assert "2 attempts planned" in out.getvalue()
        with pytest.raises(CommandError, match="YYYY-MM-DD"):
            call_command("reading_plan", "--from", "01/01/2026", "--to", "2026-12-31")


class TestCondominium:
    def test_a_condominium_is_visited_together_as_one_user_on_its_consumptions_sum(
        self,
    ) -> None:
        # Twenty flats of 150 m³ (the default) and one of 10: 3,010 m³ together, above the
        # 3,000 m³ threshold, so three visits a year for the building, each on one day and
        # in one slot for all of it; a house alone keeps its two.
        flats = [
            make_supply(installed_on=date(2020, 1, 1), condominium="COND-1") for _ in range(21)
        ]
        house = make_supply(installed_on=date(2020, 1, 1))
        with override_settings(AUTOLETTURA_CMA_DEFAULT_BUSINESS=10):
            flats[-1].usage = Usage.BUSINESS
            flats[-1].save(update_fields=["usage"])
            reading_plan(start=date(2026, 1, 1), end=date(2026, 12, 31), now=NOW)
        visits = {
            tuple(
                ReadingAttempt.objects.filter(supply=flat)
                .order_by("planned_on")
                .values_list("planned_on", "slot")
            )
            for flat in flats
        }
        assert len(visits) == 1
        (plan,) = visits
        assert len(plan) == 3
        assert len(planned(house)) == 2

    def test_the_building_keeps_the_gap_from_any_flats_last_reading(self) -> None:
        a = make_supply(installed_on=date(2020, 1, 1), condominium="COND-2")
        b = make_supply(installed_on=date(2020, 1, 1), condominium="COND-2")
        add_reading(b, date(2025, 12, 1), 900)
        reading_plan(start=date(2026, 1, 1), end=date(2026, 12, 31), now=NOW)
        assert planned(a) == planned(b) == [date(2026, 4, 30), date(2026, 9, 28)]


class TestRemote:
    def test_a_meter_that_sent_its_register_lately_is_not_visited(self) -> None:
        from autolettura.telemetry.models import DayTotal

        remote = make_supply(installed_on=date(2020, 1, 1))
        silent = make_supply(installed_on=date(2020, 1, 1))
        for supply, last_day in ((remote, date(2025, 12, 14)), (silent, date(2025, 11, 1))):
            meter = supply.meters.get()
            meter.radio_id = f"7000{supply.pk}"
            meter.save(update_fields=["radio_id"])
            DayTotal.objects.create(meter=meter, day=last_day, register_l=1000)
        reading_plan(start=date(2026, 1, 1), end=date(2026, 12, 31), now=NOW)
        assert planned(remote) == []
        # A radio module silent for six weeks: read by the readers again.
        assert len(planned(silent)) == 2
