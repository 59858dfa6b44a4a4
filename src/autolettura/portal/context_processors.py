"""What every portal page shows: the utility's name and contacts, the languages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    return {
        "utility_name": settings.AUTOLETTURA_UTILITY_NAME,
        "phone_toll_free": settings.AUTOLETTURA_PHONE_TOLL_FREE,
        "phone_faults": settings.AUTOLETTURA_PHONE_FAULTS,
        "readings_email": settings.AUTOLETTURA_READINGS_EMAIL,
        "whatsapp_number": settings.AUTOLETTURA_WHATSAPP_NUMBER,
        "portal_languages": settings.LANGUAGES,
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
