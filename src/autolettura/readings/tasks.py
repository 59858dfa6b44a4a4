"""Celery interface onto readings: the photos not read in time, read later (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from autolettura import clock
from autolettura.readings.services import reading_photos_read_late


@shared_task
def reading_photos_read_late_task() -> int:
    return reading_photos_read_late(now=clock.now())
