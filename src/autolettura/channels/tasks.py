"""Celery interface onto the channels: one small task per channel, each one service call.

(Shared by the channels' modules: add yours below, and keep each task a thin call.)
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

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
