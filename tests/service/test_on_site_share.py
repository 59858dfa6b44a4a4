"""The regulator's standard: the share of emergencies reached on site within 3 hours, as a
number and as rows exported to CSV by `autolettura faults-report`."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from autolettura.service.models import FaultReport
from autolettura.service.selectors import emergencies_on_site_rows, emergencies_on_site_share
from autolettura.service.services import fault_report_advance, fault_report_set_urgency
from tests.conftest import rome
from tests.service.conftest import report_fault

pytestmark = pytest.mark.django_db

MARCH_10 = rome(2026, 3, 10, 9, 0)
LATER = rome(2026, 4, 30, 12, 0)  # well after March: nothing is pending


def reached_after(
    operator: User, received_at: datetime, minutes: int | None, category: str = "LEAK"
) -> FaultReport:
    """A report received at `received_at`, its crew on site `minutes` later (None: never)."""
    report = report_fault(category=category, now=received_at)
    if minutes is not None:
        report = fault_report_advance(
            report=report, to_status="DISPATCHED", by=operator, now=received_at
        )
        report = fault_report_advance(
            report=report,
            to_status="ON_SITE",
            by=operator,
            now=received_at + timedelta(minutes=minutes),
        )
    return report


@pytest.fixture
def march(operator: User) -> dict[str, FaultReport]:
    """Emergencies received in March 2026, and reports that must not count."""
    return {
        "fast": reached_after(operator, MARCH_10, 45),
        "exactly_3h": reached_after(operator, MARCH_10 + timedelta(hours=1), 180),
        "late": reached_after(operator, MARCH_10 + timedelta(hours=2), 181, "NO_WATER"),
        "never": reached_after(operator, MARCH_10 + timedelta(hours=3), None),
        # Received at 23:30 on 31 March in Rome (21:30 UTC): still March.
        "last_evening": reached_after(operator, rome(2026, 3, 31, 23, 30), 60),
        # Not emergencies: they do not count, however fast or slow.
        "pressure": reached_after(operator, MARCH_10, 600, "LOW_PRESSURE"),
        # Outside the range.
        "february": reached_after(operator, rome(2026, 2, 28, 23, 59), 600),
        "april": reached_after(operator, rome(2026, 4, 1, 0, 0), 600),
    }


class TestEmergenciesOnSiteShare:
    def test_counts_the_emergencies_reached_within_3_hours(
        self, march: dict[str, FaultReport]
    ) -> None:
        summary = emergencies_on_site_share(
            start=date(2026, 3, 1), end=date(2026, 3, 31), now=LATER
        )

        assert (summary.total, summary.within, summary.pending) == (5, 3, 0)
        assert summary.share == Decimal("0.6000")

    def test_an_emergency_still_within_its_3_hours_is_pending(self, operator: User) -> None:
        reached_after(operator, MARCH_10, 30)
        reached_after(operator, MARCH_10 + timedelta(hours=1), None)

        summary = emergencies_on_site_share(
            start=date(2026, 3, 10),
            end=date(2026, 3, 10),
            now=MARCH_10 + timedelta(hours=2),
        )

        assert (summary.total, summary.within, summary.pending) == (1, 1, 1)
        assert summary.share == Decimal("1.0000")

    def test_goes_by_the_urgency_an_operator_set(self, operator: User) -> None:
        pressure = reached_after(operator, MARCH_10, 30, "LOW_PRESSURE")
        fault_report_set_urgency(
            report=pressure, urgency="EMERGENCY", by=operator, now=MARCH_10, note="ospedale"
        )

        summary = emergencies_on_site_share(
            start=date(2026, 3, 1), end=date(2026, 3, 31), now=LATER
        )

        assert (summary.total, summary.within) == (1, 1)

    def test_has_no_share_without_emergencies(self) -> None:
        summary = emergencies_on_site_share(
            start=date(2026, 3, 1), end=date(2026, 3, 31), now=LATER
        )

        assert summary.total == 0
        assert summary.share is None

    def test_lists_each_emergency_oldest_first(self, march: dict[str, FaultReport]) -> None:
        rows = list(
            emergencies_on_site_rows(start=date(2026, 3, 1), end=date(2026, 3, 31), now=LATER)
        )

        assert [r.ticket for r in rows] == [
            march[k].ticket for k in ("fast", "exactly_3h", "late", "never", "last_evening")
        ]
        assert [(r.minutes_to_site, r.within_limit) for r in rows] == [
            (45, True),
            (180, True),
            (181, False),
            (None, False),
            (60, True),
        ]


class TestFaultsReportCommand:
    def test_writes_one_row_per_emergency_and_prints_the_share(
        self, march: dict[str, FaultReport], tmp_path: Path
    ) -> None:
        target = tmp_path / "emergencies.csv"
        out = io.StringIO()

        call_command(
            "faults_report", "--from", "2026-03-01", "--to", "2026-03-31", str(target), stdout=out
        )

        with target.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        assert [r["ticket"] for r in rows] == [
            march[k].ticket for k in ("fast", "exactly_3h", "late", "never", "last_evening")
        ]
        assert rows[0] == {
            "ticket": march["fast"].ticket,
            "category": "LEAK",
            "received_at": "2026-03-10T09:00:00+01:00",
            "on_site_at": "2026-03-10T09:45:00+01:00",
            "minutes_to_site": "45",
            "within_3_hours": "yes",
        }
        assert rows[3]["on_site_at"] == ""
        assert rows[3]["within_3_hours"] == "no"
        assert "emergencies received 2026-03-01 to 2026-03-31: 5" in out.getvalue()
        assert "within 3 hours: 3 (60.0%)" in out.getvalue()

    def test_writes_to_standard_output_with_a_dash(
        self, march: dict[str, FaultReport], capsys: pytest.CaptureFixture[str]
    ) -> None:
        call_command("faults_report", "--from", "2026-03-10", "--to", "2026-03-10", "-")

        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "ticket,category,received_at,on_site_at,minutes_to_site,within_3_hours"
        assert len(lines) == 1 + 4

    @pytest.mark.parametrize(
        "args",
        [
            ["--from", "01/03/2026", "--to", "2026-03-31"],
            ["--from", "2026-03-31", "--to", "2026-03-01"],
        ],
    )
    def test_refuses_dates_it_cannot_use(self, args: list[str], tmp_path: Path) -> None:
        with pytest.raises(CommandError):
            call_command("faults_report", *args, str(tmp_path / "out.csv"))
