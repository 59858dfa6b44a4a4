"""Celery interface onto the regulator's daily clock (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from autolettura import clock
from autolettura.regulation.services import obligations_tick


@shared_task
def obligations_tick_task() -> int:
    report = obligations_tick(now=clock.now())
    return sum(report.made.values()) + report.met + report.late
