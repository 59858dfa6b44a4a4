"""Codes in plain words, for operators: channels, statuses, reasons, urgencies, the outbox's
states and dates as people write them. The pages never show an internal code.

The texts for reasons live in readings/messages.py and the months in service/messages.py:
these functions only pick the right one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from autolettura.backoffice.models import AuditAction
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.messages import reason_label
from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.regulation.models import Obligation, ObligationKind
from autolettura.rules.parsing import register_text
from autolettura.service.messages import date_in_words
from autolettura.service.models import Category, FaultChannel, FaultStatus, Urgency


def _choice(choices: type, value: object) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value or "")


def channel(value: str) -> str:
    return _choice(Channel, value)


def reading_status(value: str) -> str:
    return _choice(Status, value)


def source(value: str) -> str:
    return _choice(Source, value)


def reason(value: str | None) -> str:
    return reason_label(value)


def confidence(value: float) -> str:
    """How sure the reader was of a value read from a photo, in words and as a percentage."""
    percent = round(value * 100)
    if value >= 0.9:
        words = _("almost certain")
    elif value >= 0.6:
        words = _("fairly sure")
    else:
        words = _("unsure")
    return _("%(words)s (%(percent)s%%)") % {"words": words, "percent": percent}


def photo_said(reading: Reading) -> str:
    """What the photo sent with a reading showed, next to the value the customer sent."""
    if not reading.photo_sha256:
        return ""
    if reading.photo_confidence is None:
        return _("The photo has not been read yet: compare it with the value sent.")
    if reading.photo_value is None:
        return _("No register could be read in the photo: compare it with the value sent.")
    params = {
        "read": register_text(reading.photo_value, reading.meter.digits),
        "sent": register_text(reading.value, reading.meter.digits),
        "confidence": confidence(reading.photo_confidence),
    }
    if reading.photo_value == reading.value:
        return (
            _("The photo shows %(read)s m³, the value sent; the reader is %(confidence)s.") % params
        )
    return (
        _("The photo shows %(read)s m³, not the %(sent)s m³ sent; the reader is %(confidence)s.")
        % params
    )


def urgency(value: str) -> str:
    return _choice(Urgency, value)


def fault_status(value: str) -> str:
    return _choice(FaultStatus, value)


def fault_category(value: str) -> str:
    return _choice(Category, value)


def fault_channel(value: str) -> str:
    return _choice(FaultChannel, value)


def audit_action(value: str) -> str:
    return _choice(AuditAction, value)


def route(value: str) -> str:
    return _choice(Route, value)


def message_status(value: str) -> str:
    labels = {
        OutboundMessage.Status.PENDING: _("waiting to be sent"),
        OutboundMessage.Status.SENDING: _("being sent"),
        OutboundMessage.Status.SENT: _("sent"),
        OutboundMessage.Status.FAILED: _("not delivered"),
    }
    return labels.get(value, value)  # type: ignore[call-overload]


def long_date(value: date | datetime | None) -> str:
    """`6 dicembre 2026`; an instant also gets its time in Rome, `6 dicembre 2026, 10:30`."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return f"{date_in_words(local.date())}, {local:%H:%M}"
    return date_in_words(value)


# What a dashboard column holds, and how the page shows it.
CELL_WORDS = {
    "day": long_date,
    "channel": channel,
    "status": reading_status,
    "reason": reason,
    "urgency": urgency,
    "fault_status": fault_status,
}


def cell(value: object, kind: str) -> object:
    show = CELL_WORDS.get(kind)
    return show(value) if show is not None else value  # type: ignore[operator]


@dataclass(frozen=True)
class FaultStep:
    """Where a report stands, in the operators' words, and the step that comes next."""

    stage: str
    next_status: str | None
    action: str


def fault_step(status: str) -> FaultStep:
    steps = {
        FaultStatus.RECEIVED: FaultStep(
            _("To be taken in charge"), FaultStatus.DISPATCHED, _("Send a crew")
        ),
        FaultStatus.DISPATCHED: FaultStep(
            _("Crew on the way"), FaultStatus.ON_SITE, _("The crew is on site")
        ),
        FaultStatus.ON_SITE: FaultStep(
            _("Crew on site"), FaultStatus.RESOLVED, _("Mark as resolved")
        ),
    }
    return steps.get(status, FaultStep(_("Resolved"), None, ""))  # type: ignore[call-overload]


def obligation_kind(value: str) -> str:
    """What the regulator asks, in a sentence an operator recognises."""
    labels = {
        ObligationKind.BILL_ISSUED: _("Issue the bill within %(n)s days of the period's end")
        % {"n": settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS},
        ObligationKind.BILLS_A_YEAR: _("The bills a year for the supply's consumption class"),
        ObligationKind.REVIEW_TOLD: _(
            "Tell the customer the outcome of a self-reading within %(n)s working days"
        )
        % {"n": settings.AUTOLETTURA_ARERA_REVIEW_TOLD_WORKING_DAYS},
        ObligationKind.EMERGENCY_ON_SITE: _("Reach an emergency on site within %(n)s hours")
        % {"n": settings.AUTOLETTURA_ARERA_EMERGENCY_HOURS},
        ObligationKind.READING_ATTEMPTS: _(
            "The reading attempts a year for the supply's consumption"
        ),
        ObligationKind.VISIT_NOTICE: _(
            "Tell the customer of the reader's visit %(low)s to %(high)s working days before"
        )
        % {
            "low": settings.AUTOLETTURA_ARERA_VISIT_NOTICE_MIN_WORKING_DAYS,
            "high": settings.AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS,
        },
    }
    return labels.get(value, value)  # type: ignore[call-overload]


def obligation_subject(obligation: Obligation) -> str:
    """What the obligation is about: the period, the reading, the report or the year."""
    kind, parts = obligation.kind, obligation.subject.split(":")
    if kind == ObligationKind.BILL_ISSUED:
        return _("period ending %(day)s") % {"day": long_date(date.fromisoformat(parts[-1]))}
    if kind in (ObligationKind.BILLS_A_YEAR, ObligationKind.READING_ATTEMPTS):
        return _("year %(year)s") % {"year": parts[-1]}
    if kind == ObligationKind.REVIEW_TOLD and obligation.reading is not None:
        return _("reading %(receipt)s") % {"receipt": obligation.reading.receipt or ""}
    if kind == ObligationKind.EMERGENCY_ON_SITE and obligation.fault is not None:
        return _("fault report %(ticket)s") % {"ticket": obligation.fault.ticket}
    if kind == ObligationKind.VISIT_NOTICE:
        from autolettura.rounds.models import ReadingAttempt

        visit_on = (
            ReadingAttempt.objects.filter(pk=int(parts[-1]))
            .values_list("planned_on", flat=True)
            .first()
        )
        if visit_on is None:
            return ""
        return _("reader's visit on %(day)s") % {"day": long_date(visit_on)}
    return ""


def obligation_deadline(obligation: Obligation) -> str:
    """The last day to meet it (a limit in days ends with its day), or the instant for a
    limit in hours."""
    if obligation.standard.endswith("h"):
        return long_date(obligation.due_at)
    last = timezone.localtime(obligation.due_at) - timedelta(minutes=1)
    return long_date(last.date())


def payment_outcome(value: str) -> str:
    """What a payment of a pagoPA reporting flow did, for the billing office."""
    from autolettura.payments.models import Outcome

    words = {
        Outcome.MATCHED: _("Paid the bill"),
        Outcome.UNMATCHED: _("No bill has this notice: find whose payment it is"),
        Outcome.DUPLICATE: _("The bill was already paid: to refund"),
        Outcome.WRONG_AMOUNT: _("Amount other than the bill's: the bill is still to pay"),
        Outcome.UNDONE: _("Payment revoked or reversed by the bank"),
    }
    return str(words.get(value, value))  # type: ignore[call-overload]
