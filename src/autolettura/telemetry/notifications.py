"""Telling a customer about a leak on their supply, once per episode, on their channels.

E-mail and SMS as the customer chose. WhatsApp within Meta's rules, as reading outcomes go
(readings/notifications.py): a text while the customer's 24 hours since their last message
are open; after them, the approved template `AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE`, whose name
and parameters go in the message's headers for the sender to use (it also switches a text
sent late to the template). With no template configured, by e-mail to the customer's
address, or, without one, by SMS to the same number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import customer_notify
from autolettura.readings.notifications import (
    WHATSAPP_SESSION,
    WHATSAPP_SESSION_MARGIN,
    template_parameter,
)
from autolettura.service.selectors import contact_channels
from autolettura.telemetry.models import Alert, AlertKind


def _what(alert: Alert) -> str:
    return {
        AlertKind.LEAK: _(
            "your meter has signalled a leak: water is passing through it when it should not."
        ),
        AlertKind.BURST: _(
            "your meter measured a very high flow for a whole hour, as from a burst pipe."
        ),
        AlertKind.CONTINUOUS_FLOW: _(
            "water has been running through your meter every night, even in the small hours, "
            "for several nights in a row."
        ),
    }.get(AlertKind(alert.kind), "")


_WHAT_TO_CHECK = gettext_noop(
    "What to check: close every tap and see whether the meter's dial still turns; "
    "look for dripping taps, a toilet cistern that keeps running, wet patches on "
    "walls or floors, and the garden's pipes. If the dial turns with everything "
    "closed, call a plumber: a hidden leak found early costs far less."
)


def alert_text(alert: Alert) -> tuple[str, str]:
    """(subject, body) in the customer's language, in the active translation."""
    contacts = contact_channels()
    supply = alert.supply
    what = _what(alert)
    subject = _("Possible water leak at %(address)s") % {"address": supply.address}
    body = "\n\n".join(
        [
            _("Dear %(name)s,") % {"name": supply.holder.name},
            _("on %(day)s, for supply %(code)s at %(address)s, %(what)s")
            % {
                "day": alert.seen_on.strftime("%d/%m/%Y"),
                "code": supply.supply_code,
                "address": supply.address,
                "what": what,
            },
            _(_WHAT_TO_CHECK),
            _(
                "For any question call %(phone)s, free of charge. For a burst in the street "
                "call %(faults)s, day and night."
            )
            % {"phone": contacts.toll_free, "faults": contacts.faults},
            contacts.utility,
        ]
    )
    return subject, body


def alert_notify(*, alert: Alert, now: datetime) -> list[OutboundMessage]:
    """Queue the alert on the channels the customer chose (e-mail, SMS, WhatsApp), or by
    e-mail when they chose none they can be reached on. Once per alert and route."""
    customer = alert.supply.holder
    with translation.override(customer.language):
        subject, body = alert_text(alert)
    return customer_notify(
        customer=customer,
        subject=subject,
        body=body,
        dedupe_key=f"telemetry-alert:{alert.pk}",
        now=now,
        whatsapp=lambda phone: _whatsapp_route(alert, phone, now),
    )


def _whatsapp_route(
    alert: Alert, phone: str, now: datetime
) -> tuple[str, str, dict[str, Any] | None]:
    """WhatsApp within Meta's rules: a text while the customer's 24 hours are open, else
    the configured template, else e-mail or, without an address, SMS."""
    from autolettura.channels.selectors import whatsapp_last_message_at

    last = whatsapp_last_message_at(phone)
    ends = last + WHATSAPP_SESSION if last is not None else None
    template = _whatsapp_template(alert)
    if ends is not None and now < ends - WHATSAPP_SESSION_MARGIN:
        # Text now; the template too, for the outbox to use should it send after the end.
        headers: dict[str, Any] = {"whatsapp_session_ends_at": ends.isoformat()}
        if template is not None:
            headers["whatsapp_template"] = template
        return (Route.WHATSAPP, phone, headers)
    if template is not None:
        return (Route.WHATSAPP, phone, {"whatsapp_template": template})
    email = alert.supply.holder.email
    return (Route.EMAIL, email, None) if email else (Route.SMS, phone, None)


def _whatsapp_template(alert: Alert) -> dict[str, Any] | None:
    """The template message for the alert: its name, language and body parameters ({{1}}
    the customer's name, {{2}} the supply code, {{3}} its address, {{4}} the day, {{5}}
    what the meter showed, {{6}} what to check), or None when no template is configured."""
    name = settings.AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE
    if not name:
        return None
    supply = alert.supply
    customer = supply.holder
    with translation.override(customer.language):
        what, check = _what(alert), _(_WHAT_TO_CHECK)
    return {
        "name": name,
        "language": customer.language,
        "parameters": [
            template_parameter(customer.name) or "-",
            supply.supply_code,
            template_parameter(supply.address) or "-",
            alert.seen_on.strftime("%d/%m/%Y"),
            template_parameter(what) or "-",
            template_parameter(check),
        ],
    }
