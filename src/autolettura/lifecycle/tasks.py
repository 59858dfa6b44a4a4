"""Celery interface onto the data's lifecycle: the nightly retention run (Celery beat) and
the customers' data exports."""

from __future__ import annotations

from celery import shared_task

from autolettura import clock
from autolettura.lifecycle.services import data_export_prepare, retention_run


@shared_task
def retention_run_task() -> int:
    return retention_run(now=clock.now()).total


@shared_task(acks_late=True)
def data_export_prepare_task(export_id: int) -> str:
    return data_export_prepare(export_id=export_id, now=clock.now()).status
