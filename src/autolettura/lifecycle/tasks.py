"""Celery interface onto the data's lifecycle: the nightly retention run (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from autolettura import clock
from autolettura.lifecycle.services import retention_run


@shared_task
def retention_run_task() -> int:
    return retention_run(now=clock.now()).total
