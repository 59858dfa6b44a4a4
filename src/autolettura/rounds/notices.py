"""What the customer is told about the reader's visits, on the routes they chose.

- The notice before a visit (TIMSII art. 7, standard SP): 2 to 5 working days before a
  planned attempt, the day and the time slot; sent as soon as the visit is 5 working days
  away (AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS), late if after the 2nd working day
  before (..._MIN_WORKING_DAYS), and still sent then: the customer had better know. The
  regulator's clock (regulation.services) keeps the obligation.
- The invitation after a failed visit: a link that opens the customer area's "Comunica la
  lettura" form for the supply.

Both are decided from the database state by `rounds_notices_send` (the command
`autolettura rounds-notices` and an hourly Celery beat task): each attempt is claimed with a
conditional UPDATE of its `noticed_at` or `invited_at` in the transaction that queues the
messages, so a run repeated, or two at once, tells the customer once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from autolettura.outbox.services import customer_notify, customer_routes
from autolettura.rounds.models import AttemptState, ReadingAttempt, Slot
from autolettura.rules import rounds as rules
from autolettura.rules.window import rome_today

# A failure older than this is not worth an invitation any more (the next window's
# reminders take over): it also keeps a first run from writing to every failure on record.
INVITATION_MAX_AGE_DAYS = 30
BATCH = 500


@dataclass
class NoticesReport:
    noticed: int = 0  # visits announced
    invited: int = 0  # failed visits whose customer was invited to self-read
    followups: int = 0  # attempts planned after two failures in a row
    messages: int = 0  # messages queued in the outbox


def reading_link(supply_code: str) -> str:
    """The customer area's "Comunica la lettura" form for the supply (after sign-in)."""
    base = settings.AUTOLETTURA_PUBLIC_BASE_URL
    return f"{base}{reverse('portal:reading_new')}?supply={supply_code}"


def day_words(day: date) -> str:
    """The day in the active language: "giovedì 10 dicembre 2026", "Thursday 10 December
    2026" (Italian writes weekdays and months in lower case)."""
    text = date_format(day, "l j F Y")
    return text.lower() if translation.get_language() == "it" else text


def slot_words(slot: str) -> str:
    if slot == Slot.MORNING:
        return _("in the morning, between 8:00 and 13:00")
    return _("in the afternoon, between 13:00 and 18:00")


def visit_notice_text(attempt: ReadingAttempt) -> tuple[str, str]:
    """(subject, body) of the notice of a visit, in the active language."""
    supply = attempt.supply
    day, slot = day_words(attempt.planned_on), slot_words(attempt.slot)
    subject = _("Meter reading: our reader comes on %(day)s") % {"day": day}
    body = "\n\n".join(
        [
            _("Dear %(name)s,") % {"name": supply.holder.name},
            _(
                "%(utility)s: our reader will come to read the meter of supply %(supply)s at "
                "%(address)s on %(day)s, %(slot)s."
            )
            % {
                "utility": settings.AUTOLETTURA_UTILITY_NAME,
                "supply": supply.supply_code,
                "address": supply.address,
                "day": day,
                "slot": slot,
            },
            _(
                "If the meter is inside your home or behind a locked gate, please make sure "
                "the reader can reach it. If nobody can be there, you can send us the "
                "reading yourself: %(link)s"
            )
            % {"link": reading_link(supply.supply_code)},
        ]
    )
    return subject, body


def invitation_text(attempt: ReadingAttempt) -> tuple[str, str]:
    """(subject, body) of the invitation to self-read after a failed visit."""
    supply = attempt.supply
    subject = _("We could not read your meter: send us the reading")
    body = "\n\n".join(
        [
            _("Dear %(name)s,") % {"name": supply.holder.name},
            _(
                "%(utility)s: on %(day)s our reader could not read the meter of supply "
                "%(supply)s at %(address)s."
            )
            % {
                "utility": settings.AUTOLETTURA_UTILITY_NAME,
                "day": day_words(attempt.planned_on),
                "supply": supply.supply_code,
                "address": supply.address,
            },
            _(
                "Send us the reading yourself, it takes a minute: %(link)s . Your bill will "
                "then be based on what you really used, not on an estimate."
            )
            % {"link": reading_link(supply.supply_code)},
        ]
    )
    return subject, body


def rounds_notices_send(*, now: datetime) -> NoticesReport:
    """Announce the visits whose notice is due, invite to self-read after the visits that
    failed, and plan the follow-up after two failures in a row (rounds.followups). Safe to
    run again: each visit is announced once, each failure invited once."""
    from autolettura.rounds.followups import followups_plan

    report = NoticesReport()
    visit_notices_send(now=now, report=report)
    invitations_send(now=now, report=report)
    report.followups = followups_plan(now=now)
    return report


def visit_notices_send(*, now: datetime, report: NoticesReport | None = None) -> NoticesReport:
    """Tell each customer of the planned visits whose notice window has opened (standard
    SP), once per visit."""
    report = report or NoticesReport()
    today = rome_today(now)
    last_day = rules.visits_to_notice(
        today,
        min_working_days=settings.AUTOLETTURA_ARERA_VISIT_NOTICE_MIN_WORKING_DAYS,
        max_working_days=settings.AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS,
    )
    due = ReadingAttempt.objects.filter(
        state=AttemptState.PLANNED,
        noticed_at__isnull=True,
        planned_on__gt=today,
        planned_on__lte=last_day,
    )
    _send(due, "noticed_at", "visit-notice", visit_notice_text, now, report)
    return report


def invitations_send(*, now: datetime, report: NoticesReport | None = None) -> NoticesReport:
    """Invite the customer to self-read after each failed visit, once per visit."""
    report = report or NoticesReport()
    today = rome_today(now)
    due = ReadingAttempt.objects.filter(
        state=AttemptState.FAILED,
        invited_at__isnull=True,
        planned_on__gte=today - timedelta(days=INVITATION_MAX_AGE_DAYS),
        planned_on__lte=today,
    )
    _send(due, "invited_at", "visit-failed", invitation_text, now, report)
    return report


def _send(
    due: QuerySet[ReadingAttempt],
    field: str,
    key: str,
    text: Callable[[ReadingAttempt], tuple[str, str]],
    now: datetime,
    report: NoticesReport,
) -> None:
    ids = list(due.order_by("planned_on", "id").values_list("id", flat=True))
    for start in range(0, len(ids), BATCH):
        attempts = ReadingAttempt.objects.select_related("supply__holder").in_bulk(
            ids[start : start + BATCH]
        )
        for attempt in attempts.values():
            customer = attempt.supply.holder
            if not customer_routes(customer):
                # No address to write to: nothing is sent, and for a visit the clock says
                # the notice was not given (the obligation stays unmet).
                continue
            with transaction.atomic():
                # The claim: another run that got here first leaves nothing to update.
                if not due.filter(pk=attempt.pk).update(**{field: now}):
                    continue
                with translation.override(customer.language):
                    subject, body = text(attempt)
                sent = customer_notify(
                    customer=customer,
                    subject=subject,
                    body=body,
                    dedupe_key=f"{key}:{attempt.pk}",
                    now=now,
                )
            report.messages += len(sent)
            if field == "noticed_at":
                report.noticed += 1
            else:
                report.invited += 1
