"""Celery interface onto bill runs: a worker bills one chunk of supplies."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from autolettura.billing.services import bill_run_chunk


@shared_task(acks_late=True, bind=True, max_retries=5, default_retry_delay=10)
def bill_run_chunk_task(self: Any, chunk_id: int) -> bool:
    try:
        return bill_run_chunk(chunk_id=chunk_id, now=timezone.now(), worker=self.request.hostname)
    except Exception as exc:  # a database hiccup: the chunk rolled back, try it again
        raise self.retry(exc=exc) from exc
