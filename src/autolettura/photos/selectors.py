"""Reads for photo reading: the cached result of a photo, the history that chooses."""

from __future__ import annotations

from datetime import date

from autolettura.customers.models import Supply
from autolettura.customers.selectors import meter_current
from autolettura.photos.models import PhotoReading
from autolettura.readings import policy
from autolettura.readings import selectors as reading_selectors
from autolettura.rules.register import History


def photo_reading_of(sha256: str) -> PhotoReading | None:
    """What was read in the photo with this SHA-256, if it was read before."""
    return PhotoReading.objects.filter(sha256=sha256).first()


def register_history(*, supply: Supply, read_on: date) -> History | None:
    """What the supply's history says of a reading taken on `read_on` (None: no meter)."""
    meter = meter_current(supply)
    if meter is None:
        return None
    return History(
        last=reading_selectors.last_valid_reading(meter),
        read_on=read_on,
        cma_m3=reading_selectors.consumption_profile(supply).cma.m3,
        limits=policy.limits(meter.q4_m3h),
    )
