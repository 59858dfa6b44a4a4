"""The demo's regulator story: a late bill, its compensation credited on the next bill, the
deadlines page and the report, from `autolettura demo`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from autolettura.billing.models import Bill
from autolettura.demo.regulation import STORY_SUPPLY_CODE
from autolettura.regulation.models import Compensation, Obligation, ObligationState
from autolettura.regulation.reports import arera_report
from tests.test_demo import NOW, counts, run_demo

pytestmark = pytest.mark.django_db


class TestDemoStory:
    def test_the_demo_tells_of_a_late_bill_and_its_compensation(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        printed = run_demo(monkeypatch)
        compensation = Compensation.objects.get(supply__supply_code=STORY_SUPPLY_CODE)
        assert compensation.amount_eur == Decimal("30.00")
        assert compensation.bill is not None
        (line,) = [ln for ln in compensation.bill.line_items if ln.kind == "COMPENSATION"]
        assert line.amount == Decimal("-30.00")
        first = Bill.objects.filter(supply__supply_code=STORY_SUPPLY_CODE).order_by("period_end")[0]
        # NOW is 20 December 2026: the story's periods end on 31 August and 31 October.
        assert (first.period_end, first.issued_on) == (date(2026, 8, 31), date(2026, 10, 22))
        assert f"bill {first.number} came 52 days after its" in printed
        assert f"credited on bill {compensation.bill.number}" in printed
        assert "autolettura arera-report --year 2026 arera-2026.xlsx" in printed
        # The demo's other bills were all in time: the only compensation is the story's.
        assert Compensation.objects.count() == 1
        # What the deadlines page shows as late: the demo's leak, a reading left under review.
        late = Obligation.objects.filter(state=ObligationState.LATE, met_at__isnull=True)
        assert [(o.kind, o.reading.status) for o in late if o.reading] == [
            ("REVIEW_TOLD", "UNDER_REVIEW")
        ]
        assert late.count() == 1

    def test_running_it_again_changes_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        first = run_demo(monkeypatch)
        before = (counts(), Bill.objects.count(), Obligation.objects.count())
        second = run_demo(monkeypatch)
        assert (counts(), Bill.objects.count(), Obligation.objects.count()) == before
        assert first.splitlines()[1:] == second.splitlines()[1:]

    def test_the_report_of_the_demo_year_counts_the_compensation(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        run_demo(monkeypatch)
        figures = {f.key: f.value for f in arera_report(year=NOW.year).figures}
        assert figures["compensations_bill_issued_eur"] == Decimal("30.00")
        assert figures["bills_in_time"] < 100
        call_command("arera_report", "--year", "2026", str(tmp_path / "arera.xlsx"))
        assert (tmp_path / "arera.xlsx").stat().st_size > 0
