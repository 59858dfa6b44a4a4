"""Telling a customer about a leak on their supply, once per episode, on their channels."""

from __future__ import annotations

from datetime import datetime

from django.utils import translation
from django.utils.translation import gettext as _

from autolettura.outbox.models import OutboundMessage
from autolettura.outbox.services import customer_notify
from autolettura.service.selectors import contact_channels
from autolettura.telemetry.models import Alert, AlertKind


def alert_text(alert: Alert) -> tuple[str, str]:
    """(subject, body) in the customer's language, in the active translation."""
    contacts = contact_channels()
    supply = alert.supply
    what = {
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
            _(
                "What to check: close every tap and see whether the meter's dial still turns; "
                "look for dripping taps, a toilet cistern that keeps running, wet patches on "
                "walls or floors, and the garden's pipes. If the dial turns with everything "
                "closed, call a plumber: a hidden leak found early costs far less."
            ),
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
    """Queue the alert on the channels the customer chose (e-mail, SMS), or by e-mail when
    they chose none they can be reached on. Once per alert and route."""
    customer = alert.supply.holder
    with translation.override(customer.language):
        subject, body = alert_text(alert)
    return customer_notify(
        customer=customer,
        subject=subject,
        body=body,
        dedupe_key=f"telemetry-alert:{alert.pk}",
        now=now,
    )
