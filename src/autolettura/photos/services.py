"""Reading a meter's register from a photo: the one entry point every interface calls."""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from autolettura.photos.models import PhotoReading
from autolettura.photos.selectors import photo_reading_of
from autolettura.rules.register import History, Wheel, register_choose

# Names the optical reader in each cached row, so that results of an older reader can be
# told apart (and dropped) after an upgrade.
ENGINE = "ppocrv4-wheels-2"


@dataclass(frozen=True)
class PhotoRead:
    """What a photo shows: the reading proposed, or None when none could be read."""

    reading: str | None
    confidence: float
    # The register's corners in the photo's pixels, as shown upright; () if not found.
    box: tuple[tuple[int, int], ...]
    alternatives: tuple[str, ...]
    sha256: str
    plausible: bool | None = None  # False: the supply's history makes the reading implausible

    @property
    def actionable(self) -> bool:
        """Confident enough for a channel to act on without asking (the setting)."""
        return self.reading is not None and self.confidence >= settings.AUTOLETTURA_PHOTO_CONFIDENCE


@functools.cache
def _reader() -> Any:
    # Imported and loaded on first use: the models take ~100 MB and a second to load, which
    # a process that never reads a photo should not pay.
    from autolettura.photos.reader import RegisterReader

    return RegisterReader(threads=settings.AUTOLETTURA_PHOTO_THREADS)


def _optical_read(image: bytes) -> dict[str, Any]:
    from autolettura.photos.reader import ImageUnreadable, decode_photo

    try:
        pixels, scale = decode_photo(image)
    except ImageUnreadable:
        return {"decoded": False, "wheels": [], "box": []}
    found = _reader().read(pixels)
    if found is None:
        return {"decoded": True, "wheels": [], "box": []}
    return {
        "decoded": True,
        "wheels": [
            {"p": list(w.probabilities), "between": w.between, "red": w.red} for w in found.wheels
        ],
        # In the photo's own pixels (upright), not in those of the copy the reader shrank.
        "box": [[round(x / scale), round(y / scale)] for x, y in found.box],
    }


class PhotoReadLate(Exception):
    """The photo was not read within the time given: it is being read still, and the next
    call with the same photo finds it read (or waits for it again)."""


# Reads bounded in time run here, one at a time per process: a reading costs a CPU for a
# second or more, and a queue of them must not take every core from the requests.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo-read")
# Reads started and not yet collected, by SHA-256: a photo sent again while it is being read
# waits for that read instead of queueing a second one.
_PENDING: dict[str, Future[tuple[dict[str, Any], int]]] = {}
_PENDING_LOCK = threading.Lock()
# Beyond this many reads waiting, a new photo is not queued at all: it is late at once (and
# kept as evidence by the caller). Bounds the memory and CPU a flood of photos can take.
MAX_PENDING = 8


def _timed_read(image: bytes) -> tuple[dict[str, Any], int]:
    started = time.perf_counter()
    seen = _optical_read(image)
    return seen, round((time.perf_counter() - started) * 1000)


def _read_within(sha256: str, image: bytes, seconds: float | None) -> tuple[dict[str, Any], int]:
    """What the reader sees in `image`, waiting at most `seconds` (None: as long as it takes,
    in this thread). Raises PhotoReadLate."""
    if seconds is None:
        return _timed_read(image)
    with _PENDING_LOCK:
        future = _PENDING.get(sha256)
        if future is None:
            for done in [key for key, f in _PENDING.items() if f.done()]:
                del _PENDING[done]  # read, never collected: its caller had given up
            if len(_PENDING) >= MAX_PENDING:
                raise PhotoReadLate(sha256)
            future = _PENDING[sha256] = _POOL.submit(_timed_read, image)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        raise PhotoReadLate(sha256) from None
    finally:
        # Collected, or failed: a later call reads afresh rather than find this one.
        if future.done():
            with _PENDING_LOCK:
                if _PENDING.get(sha256) is future:
                    del _PENDING[sha256]


def _wheels(stored: list[dict[str, Any]]) -> tuple[Wheel, ...]:
    return tuple(
        Wheel(
            probabilities=tuple(float(p) for p in w["p"]),
            between=(int(w["between"][0]), int(w["between"][1])) if w["between"] else None,
            red=bool(w["red"]),
        )
        for w in stored
    )


def photo_read(
    *,
    image: bytes,
    meter_digits: int | None,
    history: History | None = None,
    now: datetime,
    within: float | None = None,
) -> PhotoRead:
    """Read the register in a photo of a meter: the whole m³ as the black wheels show them.

    The photo is read once: what its wheels show is kept under its SHA-256, and a later
    call with the same bytes only applies the rules again (with this call's digits and
    history). `meter_digits` is the meter's number of whole-m³ wheels when known; `history`
    chooses among the readings a photo allows (a wheel caught turning, an uncertain digit).
    Never raises for a bad photo: bytes that are no image, or a photo without a register,
    give a PhotoRead whose `reading` is None.

    `within` bounds, in seconds, how long a photo not read before may take (a request
    should not wait for a busy reader): past it, PhotoReadLate is raised, and the read goes
    on in the background so that the same photo is found read later.
    """
    sha256 = hashlib.sha256(image).hexdigest()
    cached = photo_reading_of(sha256)
    if cached is None or cached.engine != ENGINE:
        seen, duration_ms = _read_within(sha256, image, within)
        cached = _photo_reading_store(sha256=sha256, seen=seen, duration_ms=duration_ms, now=now)
    choice = register_choose(_wheels(cached.wheels), meter_digits=meter_digits, history=history)
    box = tuple((int(x), int(y)) for x, y in cached.box) if choice.reading is not None else ()
    return PhotoRead(
        reading=choice.reading,
        confidence=round(choice.confidence, 4),
        box=box,
        alternatives=choice.alternatives,
        sha256=sha256,
        plausible=choice.plausible,
    )


def _photo_reading_store(
    *, sha256: str, seen: dict[str, Any], duration_ms: int, now: datetime
) -> PhotoReading:
    values = {
        "wheels": seen["wheels"],
        "box": seen["box"],
        "decoded": seen["decoded"],
        "engine": ENGINE,
        "duration_ms": duration_ms,
        "read_at": now,
    }
    try:
        with transaction.atomic():
            row, _created = PhotoReading.objects.update_or_create(sha256=sha256, defaults=values)
    except IntegrityError:
        # The same photo read at the same moment by another process: theirs is as good.
        row = PhotoReading.objects.get(sha256=sha256)
    return row
