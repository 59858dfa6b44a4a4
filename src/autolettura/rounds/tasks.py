"""Celery interface onto the reading rounds' notices (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from autolettura import clock
from autolettura.rounds.notices import rounds_notices_send


@shared_task
def rounds_notices_task() -> int:
    report = rounds_notices_send(now=clock.now())
    return report.noticed + report.invited + report.followups
