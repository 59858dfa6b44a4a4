"""Reads about the channels' own state."""

from __future__ import annotations

from datetime import datetime

from autolettura.channels.models import WhatsAppConversation


def whatsapp_last_message_at(phone: str) -> datetime | None:
    """When the WhatsApp number `phone` last wrote to us (Meta's 24 hours run from then),
    or None if it never did. Its conversation is touched by every message it sends."""
    return (
        WhatsAppConversation.objects.filter(phone=phone)
        .values_list("updated_at", flat=True)
        .first()
    )
