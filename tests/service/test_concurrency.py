"""Parallel reports and parallel operators (PostgreSQL: real row locks)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from autolettura.outbox.models import OutboundMessage
from autolettura.service.models import FaultEvent, FaultReport
from autolettura.service.services import FaultTransitionRefused, fault_report_advance
from tests.api_helpers import requires_postgres, run_together
from tests.service.conftest import APRIL_15, report_fault

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


class TestInParallel:
    def test_reports_at_the_same_moment_get_distinct_tickets(self) -> None:
        tickets = run_together(8, lambda i: report_fault().ticket)

        assert sorted(tickets) == [f"GU-2026-{n:06d}" for n in range(1, 9)]
        assert FaultReport.objects.count() == 8

    def test_two_operators_dispatching_one_report_make_one_step(self) -> None:
        report = report_fault()
        operators = [User.objects.create_user(username=f"op{i}") for i in range(2)]

        def dispatch(i: int) -> bool:
            try:
                fault_report_advance(
                    report=report,
                    to_status="DISPATCHED",
                    by=operators[i],
                    now=APRIL_15 + timedelta(minutes=1),
                )
            except FaultTransitionRefused:
                return False
            return True

        outcomes = run_together(2, dispatch)

        assert sorted(outcomes) == [False, True]
        assert FaultEvent.objects.filter(status="DISPATCHED").count() == 1
        assert OutboundMessage.objects.filter(dedupe_key__endswith=":DISPATCHED").count() == 1
