"""Reminders (issue 6): tell customers who opted in when their self-reading window opens,
and again three days before it closes if no reading has arrived for it.

Selection is set-based: for each kind of reminder and each route, one query per batch of
supplies (keyset on the id) finds the supplies whose window applies today, whose holder
chose that route and has the address for it, and who were not reminded yet; a second
anti-join keeps out, for the closing reminder, supplies with a reading in the window. The
batch is then written with two bulk inserts that ignore conflicts: ReminderSent (unique on
supply, window, kind and route) and the outbox (unique dedupe_key), so a run repeated the
same day, or two runs at once, send nothing twice. The outbox's periodic flush sends them.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    DateField,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from autolettura.backoffice.models import ReminderKind, ReminderRoute, ReminderSent
from autolettura.billing.models import Bill
from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.readings import policy
from autolettura.readings.models import Reading, Status
from autolettura.rules.window import Window, rome_today

logger = logging.getLogger(__name__)

# The closing reminder goes out this many days before the window's last day.
CLOSING_DAYS_BEFORE = 3
BATCH_SIZE = 50_000

# Route -> (the customer's opt-in flag, the contact field it needs).
_ROUTES = {
    ReminderRoute.EMAIL: ("notify_by_email", "email"),
    ReminderRoute.SMS: ("notify_by_sms", "phone"),
    ReminderRoute.WHATSAPP: ("notify_by_whatsapp", "phone"),
}


@dataclass
class ReminderSummary:
    sent: dict[str, int] = field(default_factory=dict)  # "KIND ROUTE" -> messages queued

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def _candidates(*, today: date, kind: str, route: str) -> QuerySet[Supply]:
    """The supplies to remind today of `kind` on `route`, with `window_start` and
    `window_end` annotated: one SQL query (run per batch by the caller)."""
    latest_bill = Bill.objects.filter(supply=OuterRef("pk")).order_by("-period_end")
    closing_from = today + timedelta(days=CLOSING_DAYS_BEFORE)
    supplies = Supply.objects.annotate(
        billed_start=Subquery(latest_bill.values("next_window_start")[:1]),
        billed_end=Subquery(latest_bill.values("next_window_end")[:1]),
    )
    # R5: the window printed on the latest bill applies while it has not ended; otherwise
    # the policy's window (only on a day inside one of them).
    billed = Q(billed_end__gte=today, billed_start__lte=today)
    if kind == ReminderKind.OPENING:
        billed &= Q(billed_end__gt=closing_from)
    else:
        billed &= Q(billed_end__lte=closing_from)
    applies = billed
    policy_window = policy.window_policy().window_containing(today)
    if policy_window is not None and _kind_due(kind, policy_window, today):
        applies |= Q(billed_end__isnull=True) | Q(billed_end__lt=today)
        start: Value | F = Value(policy_window.start)
        end: Value | F = Value(policy_window.end)
    else:
        start = end = Value(None)
    supplies = supplies.filter(applies, activated_on__lte=today).annotate(
        window_start=Case(
            When(billed_end__gte=today, then=F("billed_start")),
            default=start,
            output_field=DateField(),
        ),
        window_end=Case(
            When(billed_end__gte=today, then=F("billed_end")),
            default=end,
            output_field=DateField(),
        ),
    )
    flag, contact = _ROUTES[ReminderRoute(route)]
    supplies = supplies.filter(**{f"holder__{flag}": True}).exclude(**{f"holder__{contact}": ""})
    already = ReminderSent.objects.filter(
        supply=OuterRef("pk"), window_start=OuterRef("window_start"), kind=kind, route=route
    )
    supplies = supplies.filter(~Exists(already))
    if kind == ReminderKind.CLOSING:
        arrived = Reading.objects.filter(
            supply=OuterRef("pk"),
            read_on__gte=OuterRef("window_start"),
            read_on__lte=OuterRef("window_end"),
            voided_at__isnull=True,
            status__in=[Status.ACCEPTED, Status.UNDER_REVIEW],
        )
        supplies = supplies.filter(~Exists(arrived))
    return supplies


def _kind_due(kind: str, window: Window, today: date) -> bool:
    closing_from = window.end - timedelta(days=CLOSING_DAYS_BEFORE)
    if kind == ReminderKind.OPENING:
        return window.start <= today < closing_from
    return closing_from <= today <= window.end


def _reading_link(supply_code: str) -> str:
    base = getattr(settings, "AUTOLETTURA_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    return f"{base}{reverse('portal:reading_new')}?supply={supply_code}"


@functools.cache
def _templates(kind: str, route: str, language: str) -> tuple[str, str]:
    """(subject, body) with %(...)s placeholders, translated once per kind, route and
    language rather than once per customer."""
    with translation.override(language):
        if kind == ReminderKind.OPENING:
            subject = _("Send your water meter reading by %(end)s")
            intro = _(
                "%(utility)s: the self-reading window of supply %(supply)s is open from "
                "%(start)s to %(end)s."
            )
        else:
            subject = _("Three days left to send your meter reading")
            intro = _(
                "%(utility)s: we have not received the reading of supply %(supply)s yet. "
                "The self-reading window closes on %(end)s."
            )
        if route == ReminderRoute.EMAIL:
            action = _("Send it in a minute here: %(link)s")
        else:
            action = _(
                "Reply with %(format)sREADING, writing only the black digits of the meter, "
                "for example %(format)s00123."
            )
    return subject, f"{intro} {action}"


def reminder_text(
    *,
    kind: str,
    route: str,
    language: str,
    supply_code: str,
    customer_code: str,
    window_start: date,
    window_end: date,
    link_base: str | None = None,
) -> tuple[str, str]:
    """(subject, body) of a reminder, in the customer's language: a direct link to the
    portal's "Comunica la lettura" page by e-mail, the exact reply format by SMS and
    WhatsApp."""
    subject, body = _templates(kind, route, language)
    params = {
        "supply": supply_code,
        "start": f"{window_start:%d/%m/%Y}",
        "end": f"{window_end:%d/%m/%Y}",
        "link": f"{link_base}{supply_code}" if link_base else _reading_link(supply_code),
        "format": f"{supply_code}#{customer_code}#",
        "utility": settings.AUTOLETTURA_UTILITY_NAME,
    }
    return subject % params, body % params


def reminders_send(*, now: datetime, batch_size: int = BATCH_SIZE) -> ReminderSummary:
    """Queue today's reminders: opening ones for windows open today (until three days
    before they close), closing ones in the last three days for supplies with no reading
    in the window yet. Idempotent per supply, window, kind and route."""
    today = rome_today(now)
    summary = ReminderSummary()
    bounds = Supply.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return summary
    low, high = bounds["low"], bounds["high"]
    link_base = _reading_link("")
    for kind in (ReminderKind.CLOSING, ReminderKind.OPENING):
        for route, (_flag, contact) in _ROUTES.items():
            queued = 0
            candidates = _candidates(today=today, kind=kind, route=route)
            # Batches by ranges of ids, so each query reads only its own slice of supplies.
            for first_id in range(low, high + 1, batch_size):
                rows = list(
                    candidates.filter(pk__gte=first_id, pk__lt=first_id + batch_size).values_list(
                        "pk",
                        "supply_code",
                        "holder__customer_code",
                        f"holder__{contact}",
                        "holder__language",
                        "window_start",
                        "window_end",
                    )
                )
                if rows:
                    queued += _queue(rows, kind=kind, route=route, now=now, link_base=link_base)
            summary.sent[f"{kind} {route}"] = queued
    logger.info("reminders %s", summary.sent)
    return summary


def _queue(
    rows: list[tuple[Any, ...]], *, kind: str, route: str, now: datetime, link_base: str
) -> int:
    sent, messages = [], []
    for supply_id, supply_code, customer_code, recipient, language, start, end in rows:
        subject, body = reminder_text(
            kind=kind,
            route=route,
            language=language,
            supply_code=supply_code,
            customer_code=customer_code,
            window_start=start,
            window_end=end,
            link_base=link_base,
        )
        sent.append(
            ReminderSent(
                supply_id=supply_id,
                window_start=start,
                kind=kind,
                route=route,
                recipient=recipient,
                created_at=now,
            )
        )
        messages.append(
            OutboundMessage(
                route=route,
                recipient=recipient,
                subject=subject if route == ReminderRoute.EMAIL else "",
                body=body,
                language=language,
                dedupe_key=f"reminder:{supply_id}:{start:%Y-%m-%d}:{kind}:{route}",
                next_attempt_at=now,
                created_at=now,
            )
        )
    with transaction.atomic():
        ReminderSent.objects.bulk_create(sent, ignore_conflicts=True, batch_size=2500)
        OutboundMessage.objects.bulk_create(messages, ignore_conflicts=True, batch_size=2500)
    return len(messages)
