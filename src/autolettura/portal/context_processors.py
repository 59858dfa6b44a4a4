"""What every portal page shows: the utility's name and contacts, the languages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from autolettura.service.selectors import contact_channels


def portal(request: HttpRequest) -> dict[str, Any]:
    # The same selector the bill prints its contacts from.
    contacts = contact_channels()
    return {
        "utility_name": contacts.utility,
        "contacts": contacts,
        "phone_toll_free": contacts.toll_free,
        "phone_faults": contacts.faults,
        "readings_email": contacts.email,
        "whatsapp_number": contacts.whatsapp,
        "portal_languages": settings.LANGUAGES,
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
