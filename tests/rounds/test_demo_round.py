"""The demo's reading round: visits announced, a failed visit and its invitation."""

from __future__ import annotations

from datetime import date

import pytest

from autolettura.demo.services import DEMO_SUPPLY_CODE
from autolettura.outbox.models import OutboundMessage
from autolettura.regulation.models import Obligation, ObligationKind, ObligationState
from autolettura.rounds.models import AttemptState, ReadingAttempt
from tests.test_demo import run_demo

pytestmark = pytest.mark.django_db


def test_the_demo_shows_a_round_announced_and_a_failed_visit_invited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    printed = run_demo(monkeypatch)  # Sunday 20 December 2026
    planned = ReadingAttempt.objects.filter(state=AttemptState.PLANNED)
    assert {a.planned_on for a in planned} == {date(2026, 12, 24)}
    assert all(a.noticed_at is not None for a in planned)
    failed = ReadingAttempt.objects.get(state=AttemptState.FAILED)
    assert (failed.supply.supply_code, failed.planned_on) == (DEMO_SUPPLY_CODE, date(2026, 12, 18))
    invitation = OutboundMessage.objects.get(dedupe_key__startswith=f"visit-failed:{failed.pk}:")
    assert f"comunica-la-lettura/?supply={DEMO_SUPPLY_CODE}" in invitation.body
    assert "Visits on 24/12/2026: 3 customers told the day and the time slot." in printed
    assert "its customer was invited to send the reading from the portal" in printed
    notices = Obligation.objects.filter(kind=ObligationKind.VISIT_NOTICE)
    assert notices.count() == 4
    assert {o.state for o in notices} == {ObligationState.MET}

    messages = OutboundMessage.objects.count()
    run_demo(monkeypatch)
    assert OutboundMessage.objects.count() == messages
    assert ReadingAttempt.objects.count() == 4
