"""A photo of the meter sent without a number, as the messaging channels read it.

WhatsApp and e-mail read such a photo in their Celery task (the WhatsApp webhook and the
mailbox poll never wait for it), through `photos.services.photo_read`: the optical reading
is kept under the photo's SHA-256, so a photo is read once, whatever channel or retry
brings it again; choosing the reading with the supply's meter digits and history is done
again, cheaply, on each use.

Reading a photo costs about a second of CPU: a sender (a phone number, an e-mail address)
has the optical reader for at most AUTOLETTURA_PHOTOS_PER_SENDER_HOUR new photos an hour;
past it the photo is kept but not read, and the customer is asked for the number.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings
from django.utils.translation import gettext as _

from autolettura.customers.models import Supply
from autolettura.customers.selectors import meter_current
from autolettura.photos import services
from autolettura.photos.selectors import photo_reading_of, register_history
from autolettura.photos.services import PhotoRead
from autolettura.rules.window import rome_today
from autolettura.throttling import Throttled, throttle

HOUR = 3600


def photo_sha256(image: bytes) -> str:
    return hashlib.sha256(image).hexdigest()


def photo_already_read(image: bytes) -> bool:
    """Whether the optical reader has seen these bytes (with the reader now in use)."""
    cached = photo_reading_of(photo_sha256(image))
    return cached is not None and cached.engine == services.ENGINE


def photo_read_once(*, image: bytes, sender: str, now: datetime) -> bool:
    """Have the optical reader look at a photo a sender sent, unless it has already.

    Returns False, without reading, when the sender is past their photos for the hour (a
    photo read before costs nothing and is never refused). Meant for a Celery task.
    """
    if photo_already_read(image):
        return True
    try:
        throttle(
            "channel-photo-sender",
            sender,
            limit=settings.AUTOLETTURA_PHOTOS_PER_SENDER_HOUR,
            period=HOUR,
        )
    except Throttled:
        return False
    services.photo_read(image=image, meter_digits=None, now=now)
    return True


def photo_read_for(*, image: bytes, supply: Supply, now: datetime) -> PhotoRead | None:
    """The reading a photo shows on this supply's meter (its digits, its history), or None
    when the photo has not been read (`photo_read_once` refused it): never reads anew."""
    if not photo_already_read(image):
        return None
    meter = meter_current(supply)
    return services.photo_read(
        image=image,
        meter_digits=meter.digits if meter is not None else None,
        history=register_history(supply=supply, read_on=rome_today(now)),
        now=now,
    )


def unsure_alternatives(read: PhotoRead) -> list[str]:
    """The other readings worth naming when the reading is not certain (at most two)."""
    return [r for r in read.alternatives if r != read.reading][:2]


def either(readings: list[str]) -> str:
    """ "00531" or "00531 or 00529", in the active language."""
    if len(readings) == 1:
        return readings[0]
    return _("%(first)s or %(second)s") % {"first": readings[0], "second": readings[1]}


def unreadable_advice() -> str:
    """How to take a photo the reader can read (the meter-photo API's own words)."""
    from autolettura.photos.apis import unreadable_message

    return unreadable_message()


def too_many_photos_message() -> str:
    return _(
        "We have received many photos from you in the last hour, so we have not read this one."
    )
