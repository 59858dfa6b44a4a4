"""Celery interface onto the back office's periodic work."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from autolettura.backoffice.reminders import reminders_send


@shared_task
def reminders_send_task() -> int:
    return reminders_send(now=timezone.now()).total
