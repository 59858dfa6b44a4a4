"""Celery interface onto the channels: one small task per channel, each one service call.

(Shared by the channels' modules: add yours below, and keep each task a thin call.)
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from autolettura import clock

logger = logging.getLogger(__name__)


@shared_task
def email_fetch_task() -> int:
    """Poll the readings mailbox (beat: AUTOLETTURA_IMAP_POLL_SECONDS). Does nothing while
    no mailbox is configured; an unreachable one is tried again at the next poll."""
    from autolettura.channels.email import MailboxUnavailable, email_fetch

    if not settings.AUTOLETTURA_IMAP_HOST:
        return 0
    try:
        return email_fetch(now=clock.now()).fetched
    except MailboxUnavailable as exc:
        logger.warning("readings mailbox unavailable, tried again at the next poll: %s", exc)
        return 0


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=8,
)
def whatsapp_message_task(raw: dict[str, Any], received_at: str) -> None:
    """Take a WhatsApp message with a photo: fetch the photo from the Graph API, then move
    the conversation on. Queued by the webhook, which has already answered Meta; a retry
    after a database outage finds the message in the inbound log if it was taken."""
    from autolettura.channels.whatsapp import whatsapp_message_from, whatsapp_message_receive

    whatsapp_message_receive(
        message=whatsapp_message_from(raw), now=datetime.fromisoformat(received_at)
    )


@shared_task
def whatsapp_drafts_expire_task() -> int:
    """Remove the photos of WhatsApp drafts left past their time (beat: hourly)."""
    from autolettura.channels.whatsapp import whatsapp_drafts_expire

    return whatsapp_drafts_expire(now=clock.now())
