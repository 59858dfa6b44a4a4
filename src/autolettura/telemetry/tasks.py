"""Celery tasks of the smart meters."""

from __future__ import annotations

from celery import shared_task

from autolettura import clock
from autolettura.telemetry.services import alerts_check_due, telemetry_daily


@shared_task
def telemetry_daily_task() -> None:
    telemetry_daily(now=clock.now())


@shared_task
def telemetry_alerts_task() -> None:
    alerts_check_due(now=clock.now())
