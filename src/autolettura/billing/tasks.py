"""Celery interface onto bill runs: a worker bills one chunk of supplies."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from autolettura.billing.models import BillRunChunk
from autolettura.billing.services import bill_run_chunk

# A chunk found pending but locked is looked at again this often, up to this many times.
BUSY_RETRY_SECONDS = 5
BUSY_RETRIES = 60


@shared_task(acks_late=True, bind=True, max_retries=5, default_retry_delay=10)
def bill_run_chunk_task(self: Any, chunk_id: int) -> bool:
    try:
        billed = bill_run_chunk(chunk_id=chunk_id, now=timezone.now(), worker=self.request.hostname)
    except Exception as exc:  # a database hiccup: the chunk rolled back, try it again
        raise self.retry(exc=exc) from exc
    if (
        not billed
        and BillRunChunk.objects.filter(pk=chunk_id, status=BillRunChunk.Status.PENDING).exists()
    ):
        # Pending, yet locked: another worker is billing it, or a worker that died still
        # holds it until PostgreSQL drops its session. A task handed back after its pool
        # process died lands here; dropped, its chunk would wait for the next `bill-run`.
        raise self.retry(countdown=BUSY_RETRY_SECONDS, max_retries=BUSY_RETRIES)
    return billed
