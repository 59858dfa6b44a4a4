"""Celery interface onto the outbox."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from autolettura.outbox.services import outbox_flush, outbox_send


@shared_task(acks_late=True)
def outbox_send_task(message_id: int) -> bool:
    return outbox_send(message_id=message_id, now=timezone.now())


@shared_task
def outbox_flush_task() -> int:
    return outbox_flush(now=timezone.now())
