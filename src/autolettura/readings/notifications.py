"""Telling a customer the outcome of a reading (R7), through the outbox.

A reading's later news (a review's outcome, a void) goes back on the channel the reading
came from:

- e-mail: by e-mail to the sender, in the same thread;
- SMS: by SMS to the sender;
- WhatsApp: by WhatsApp to the sender, within Meta's rules: a free-form text only within
  24 hours of the customer's last message, after that the pre-approved template
  `AUTOLETTURA_WHATSAPP_OUTCOME_TEMPLATE`; with no template configured, by e-mail to the
  customer's address (or, without one, by SMS to the same number);
- phone: by SMS to the caller when the number is known, else by e-mail;
- customer area and app: by e-mail;
- counter, call centre and imports: on the customer's chosen routes.

Whichever channel, when it has no address to write to, the customer's chosen routes are
used, and at last their e-mail address: an outcome is owed to the customer (R7). The
customer's e-mail address is `Customer.email`, which holds the address they confirmed in
the customer area once they have an account (portal.services).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_enqueue
from autolettura.readings import selectors
from autolettura.readings.messages import (
    outcome_email_body,
    outcome_email_subject,
    outcome_message,
)
from autolettura.readings.models import Channel, Reading
from autolettura.rules.window import Window

# A number a message can be sent to: E.164 as the providers give it. A withheld caller
# comes as "anonymous", "+266696687" and the like, which this does not take for a number.
_PHONE = re.compile(r"\+[1-9][0-9]{7,14}")
_WITHHELD = {"+266696687", "+7378742833", "+2562533", "+8656696"}

# Meta lets a business answer freely for 24 hours after the customer's last message. A
# message is queued as text only while some of that time is left, for the outbox to send it.
WHATSAPP_SESSION = timedelta(hours=24)
WHATSAPP_SESSION_MARGIN = timedelta(minutes=15)


def reading_notify(
    *,
    reading: Reading,
    route: str,
    recipient: str,
    now: datetime,
    language: str | None = None,
    headers: dict[str, Any] | None = None,
    subject: str | None = None,
) -> OutboundMessage:
    """Queue the message for `reading`'s current outcome on `route`. Once per reading,
    outcome and route: a retried webhook or a second review click sends nothing more.
    An e-mail is the whole outcome e-mail (greeting, supply, value, date, receipt and the
    supply's page); an SMS or WhatsApp text is the outcome alone."""
    language = language or reading.supply.holder.language
    outcome = "VOIDED" if reading.voided_at is not None else reading.status
    window = selectors.current_window(now, reading.supply)
    with translation.override(language):
        if route == Route.EMAIL:
            body = outcome_email_body(reading, window)
            subject = subject or outcome_email_subject(reading)
        else:
            body = outcome_message(reading, window)
            subject = subject or _("Your meter reading %(receipt)s") % {
                "receipt": reading.receipt or ""
            }
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
    """Tell the customer a reading's outcome after the fact (an operator's review or void),
    on the channel it came from (see the module's docstring)."""
    channel = Channel(reading.channel)
    message = selectors.reading_message(reading)
    sender = message.sender if message is not None else ""
    if channel == Channel.EMAIL and "@" in sender:
        return [_email_in_thread(reading, sender, message.payload if message else {}, now)]
    if channel == Channel.SMS and phone_number(sender):
        return [reading_notify(reading=reading, route=Route.SMS, recipient=sender, now=now)]
    if channel == Channel.WHATSAPP and phone_number(sender):
        return _whatsapp(reading, sender, now)
    if channel == Channel.PHONE and phone_number(sender):
        return [reading_notify(reading=reading, route=Route.SMS, recipient=sender, now=now)]
    if channel in (Channel.PHONE, Channel.WEB, Channel.APP, Channel.EMAIL):
        sent = _by_email(reading, now)
        if sent:
            return sent
    return _chosen_routes(reading, now) or _by_email(reading, now)


def phone_number(sender: str) -> bool:
    """Whether a channel's sender is a phone number a message can be sent to."""
    return bool(_PHONE.fullmatch(sender)) and sender not in _WITHHELD


def _by_email(reading: Reading, now: datetime) -> list[OutboundMessage]:
    address = reading.supply.holder.email
    if not address:
        return []
    return [reading_notify(reading=reading, route=Route.EMAIL, recipient=address, now=now)]


def _chosen_routes(reading: Reading, now: datetime) -> list[OutboundMessage]:
    customer = reading.supply.holder
    chosen = [
        (Route.EMAIL, customer.email if customer.notify_by_email else ""),
        (Route.SMS, customer.phone if customer.notify_by_sms else ""),
        (Route.WHATSAPP, customer.phone if customer.notify_by_whatsapp else ""),
    ]
    sent = []
    for route, recipient in chosen:
        if not recipient:
            continue
        if route == Route.WHATSAPP:
            sent.extend(_whatsapp(reading, recipient, now, fallback=False))
        else:
            sent.append(reading_notify(reading=reading, route=route, recipient=recipient, now=now))
    return sent


def _email_in_thread(
    reading: Reading, address: str, payload: dict[str, Any], now: datetime
) -> OutboundMessage:
    """The outcome as a reply in the thread of the customer's own mail."""
    original_id = _one_line(str(payload.get("message_id") or ""))
    original_subject = _one_line(str(payload.get("subject") or ""))
    headers = {
        # Sent by the service, not by a person: autoresponders must not answer it (RFC 3834).
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
        "Reply-To": settings.AUTOLETTURA_READINGS_EMAIL,
    }
    if original_id and len(original_id) <= 900:
        headers["In-Reply-To"] = original_id
        headers["References"] = original_id
    subject = None
    if original_subject:
        is_reply = re.match(r"^\s*(?:re|r|aw|sv)\s*:", original_subject, re.IGNORECASE)
        subject = (original_subject if is_reply else f"Re: {original_subject}")[:300]
    return reading_notify(
        reading=reading,
        route=Route.EMAIL,
        recipient=address,
        now=now,
        headers=headers,
        subject=subject,
    )


def _one_line(text: str) -> str:
    """A header value that cannot smuggle in another header."""
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def _whatsapp(
    reading: Reading, phone: str, now: datetime, *, fallback: bool = True
) -> list[OutboundMessage]:
    """WhatsApp within Meta's rules: a text while the customer's 24 hours are open, else
    the configured template, else (`fallback`) e-mail or, without an address, SMS."""
    from autolettura.channels.selectors import whatsapp_last_message_at

    last = whatsapp_last_message_at(phone)
    ends = last + WHATSAPP_SESSION if last is not None else None
    template = _whatsapp_template(reading, now)
    if ends is not None and now < ends - WHATSAPP_SESSION_MARGIN:
        # Text now; the template too, for the outbox to use should it send after the end.
        headers: dict[str, Any] = {"whatsapp_session_ends_at": ends.isoformat()}
        if template is not None:
            headers["whatsapp_template"] = template
        return [
            reading_notify(
                reading=reading, route=Route.WHATSAPP, recipient=phone, now=now, headers=headers
            )
        ]
    if template is not None:
        return [
            reading_notify(
                reading=reading,
                route=Route.WHATSAPP,
                recipient=phone,
                now=now,
                headers={"whatsapp_template": template},
            )
        ]
    if not fallback:
        return []
    return _by_email(reading, now) or [
        reading_notify(reading=reading, route=Route.SMS, recipient=phone, now=now)
    ]


def _whatsapp_template(reading: Reading, now: datetime) -> dict[str, Any] | None:
    """The template message for the outcome: its name, language and body parameters
    ({{1}} the customer's name, {{2}} the receipt, {{3}} the supply code, {{4}} the outcome
    in words), or None when no template is configured."""
    name = settings.AUTOLETTURA_WHATSAPP_OUTCOME_TEMPLATE
    if not name:
        return None
    customer = reading.supply.holder
    language = customer.language
    window: Window = selectors.current_window(now, reading.supply)
    with translation.override(language):
        outcome = outcome_message(reading, window)
    return {
        "name": name,
        "language": language,
        "parameters": [
            template_parameter(customer.name) or "-",
            reading.receipt or "-",
            reading.supply.supply_code,
            template_parameter(outcome),
        ],
    }


def template_parameter(text: str) -> str:
    """A template's text parameter as Meta takes it: no new lines or tabs, no more than
    four spaces in a row, at most 1,024 characters."""
    return " ".join(text.split())[:1024]
