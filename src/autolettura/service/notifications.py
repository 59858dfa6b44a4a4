"""Telling a reporter of each change to their fault report (R13), through the outbox.

When a report is received and at each step of the crew (sent, on site, resolved) the
reporter hears about it once, on the contact they left:

- a report that came by WhatsApp is answered on WhatsApp while Meta's 24 hours from their
  last message are open, otherwise by SMS to the same number;
- any other report: by e-mail when an address was left, else by SMS to the phone.

A phone number nothing can be sent to (too short, a withheld caller) and no e-mail: nothing
is queued. The message is queued in the transaction that made the change, with a key naming
the ticket and the status, so a change rolled back tells no one and a retried one tells once.
The outbox row is the record of what was queued and of whether it went.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_enqueue
from autolettura.readings.messages import greeting
from autolettura.readings.notifications import (
    WHATSAPP_SESSION,
    WHATSAPP_SESSION_MARGIN,
    phone_number,
)
from autolettura.service.messages import (
    fault_follow_text,
    fault_received_message,
    fault_status_message,
)
from autolettura.service.models import FaultChannel, FaultReport, FaultStatus

logger = logging.getLogger(__name__)


def fault_follow_url(ticket: str) -> str:
    """The portal's page to follow a report, at the service's public address (never the
    Host a request claimed: the link goes into messages sent to people)."""
    path = f"{reverse('portal:fault_follow')}?{urlencode({'ticket': ticket})}"
    return f"{settings.AUTOLETTURA_PUBLIC_BASE_URL}{path}"


def fault_route(report: FaultReport, now: datetime) -> tuple[str, str] | None:
    """The route and address to tell the reporter on (see the module's docstring), or None
    when they left nothing a message can be sent to."""
    phone = sendable_phone(report.contact_phone)
    if report.channel == FaultChannel.WHATSAPP and phone:
        return (Route.WHATSAPP if _whatsapp_open(phone, now) else Route.SMS), phone
    if report.contact_email:
        return Route.EMAIL, report.contact_email
    if phone:
        return Route.SMS, phone
    return None


def fault_notify(*, report: FaultReport, now: datetime) -> OutboundMessage | None:
    """Queue the message for `report`'s current status. Call it inside the transaction that
    changed the status; once per report and status, whatever calls it again."""
    route = fault_route(report, now)
    if route is None:
        return None
    if report.status == FaultStatus.RECEIVED and _confirmations_spent(route[1], now):
        # Whoever typed this contact may not be its owner: past the day's limit the report is
        # kept and handled, but its confirmation is not sent. A crew's news still goes, since
        # an operator acted on the report.
        logger.warning(
            "fault report %s: no confirmation sent, the day's limit for its contact is reached",
            report.ticket,
        )
        return None
    url = fault_follow_url(report.ticket)
    with translation.override(report.language):
        if report.status == FaultStatus.RECEIVED:
            news = fault_received_message(report)
            subject = _("Fault report %(ticket)s received") % {"ticket": report.ticket}
        else:
            news = fault_status_message(ticket=report.ticket, status=report.status)
            subject = _status_subject(report)
        if route[0] == Route.EMAIL:
            body = (
                "\n\n".join(
                    [
                        greeting(report.contact_name),
                        news,
                        fault_follow_text(url),
                        settings.AUTOLETTURA_UTILITY_NAME,
                    ]
                )
                + "\n"
            )
        else:
            body = f"{news}\n{fault_follow_text(url)}"
    return outbox_enqueue(
        route=route[0],
        recipient=route[1],
        subject=subject,
        body=body,
        language=report.language,
        headers={"Auto-Submitted": "auto-generated"} if route[0] == Route.EMAIL else None,
        dedupe_key=f"fault:{report.ticket}:{report.status}",
        now=now,
    )


def _confirmations_spent(recipient: str, now: datetime) -> bool:
    """Whether `recipient` has had the day's confirmations of fault reports already."""
    sent = OutboundMessage.objects.filter(
        recipient=recipient,
        dedupe_key__startswith="fault:",
        dedupe_key__endswith=f":{FaultStatus.RECEIVED}",
        created_at__gt=now - timedelta(days=1),
    ).count()
    return sent >= settings.AUTOLETTURA_FAULT_CONFIRMATIONS_PER_CONTACT


def sendable_phone(phone: str) -> str:
    """A phone number as the providers take it (E.164), or "" when it cannot be one:
    `347 123 4567` becomes `+393471234567`, a number kept as given only when it has its
    country code."""
    # Imported here: services imports this module to queue the messages.
    from autolettura.service.services import phone_key

    if not phone:
        return ""
    number = f"+{phone_key(phone)}"
    return number if phone_number(number) else ""


def _whatsapp_open(phone: str, now: datetime) -> bool:
    """Whether a free text may still be sent to `phone` now (Meta's 24 hours, less the
    margin the outbox needs to send it), as for readings' outcomes."""
    from autolettura.channels.selectors import whatsapp_last_message_at

    last = whatsapp_last_message_at(phone)
    return last is not None and now < last + WHATSAPP_SESSION - WHATSAPP_SESSION_MARGIN


def _status_subject(report: FaultReport) -> str:
    subjects = {
        FaultStatus.DISPATCHED: _("Fault report %(ticket)s: a crew is on the way"),
        FaultStatus.ON_SITE: _("Fault report %(ticket)s: the crew is there"),
        FaultStatus.RESOLVED: _("Fault report %(ticket)s: resolved"),
    }
    return subjects[FaultStatus(report.status)] % {"ticket": report.ticket}
