"""Telling a customer the outcome of a reading (R7), through the outbox.

A reading's answer goes back where the reading came from: an e-mail is answered by e-mail
in the same thread, WhatsApp and SMS to the sender's number. Readings from the portal, the
app, the phone line or the counter are answered at once on that channel; their later news
(a review's outcome) goes by the customer's preferred routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_enqueue
from autolettura.readings import selectors
from autolettura.readings.messages import outcome_message
from autolettura.readings.models import Channel, Reading

# Channels whose messages carry an address to answer to.
_REPLY_ROUTES = {
    Channel.EMAIL: Route.EMAIL,
    Channel.WHATSAPP: Route.WHATSAPP,
    Channel.SMS: Route.SMS,
}


def reading_notify(
    *,
    reading: Reading,
    route: str,
    recipient: str,
    now: datetime,
    language: str | None = None,
    headers: dict[str, Any] | None = None,
) -> OutboundMessage:
    """Queue the message for `reading`'s current outcome on `route`. Once per reading,
    outcome and route: a retried webhook or a second review click sends nothing more."""
    language = language or reading.supply.holder.language
    outcome = "VOIDED" if reading.voided_at is not None else reading.status
    window = selectors.current_window(now, reading.supply)
    with translation.override(language):
        body = outcome_message(reading, window)
        subject = _("Your meter reading %(receipt)s") % {"receipt": reading.receipt or ""}
    return outbox_enqueue(
        route=route,
        recipient=recipient,
        subject=subject,
        body=body,
        language=language,
        headers=headers,
        # The outcome as the customer knows it: a later void is news, and is told too.
        dedupe_key=f"reading:{reading.pk}:{outcome}:{route}:{recipient}",
        now=now,
    )


def reading_outcome_notify(*, reading: Reading, now: datetime) -> list[OutboundMessage]:
    """Tell the customer a reading's outcome after the fact (an operator's review): on the
    channel it came from when that channel can be written to, else on their chosen routes."""
    route = _REPLY_ROUTES.get(Channel(reading.channel))
    if route is not None and reading.inbound_message is not None:
        sender = reading.inbound_message.sender
        if sender:
            return [reading_notify(reading=reading, route=route, recipient=sender, now=now)]
    customer = reading.supply.holder
    chosen = [
        (Route.EMAIL, customer.email if customer.notify_by_email else ""),
        (Route.SMS, customer.phone if customer.notify_by_sms else ""),
        (Route.WHATSAPP, customer.phone if customer.notify_by_whatsapp else ""),
    ]
    return [
        reading_notify(reading=reading, route=route, recipient=recipient, now=now)
        for route, recipient in chosen
        if recipient
    ]
