"""What the reader's app says, in the reader's language: a visit's outcome at once, and
why a visit could not be recorded."""

from __future__ import annotations

from django.utils.translation import gettext as _

from autolettura.readings.messages import error_message, reading_text, reason_label
from autolettura.readings.models import Status
from autolettura.readings.photos import photo_error_message
from autolettura.rounds.models import AttemptState, FailureCause, ReadingAttempt
from autolettura.rules.errors import FieldError


def visit_outcome(attempt: ReadingAttempt) -> tuple[str, str]:
    """(a short state for the list, the sentence to show) of a recorded visit."""
    reading = attempt.reading
    if attempt.state == AttemptState.MADE and reading is not None:
        params = {
            "reading": reading_text(reading),
            "receipt": reading.receipt or "",
            "consumption": reading.consumption_m3,
            "reason": reason_label(reading.reason),
        }
        if reading.status == Status.ACCEPTED:
            return _("Accepted"), _(
                "Reading %(reading)s accepted (receipt %(receipt)s): %(consumption)s m³ since "
                "the last valid reading."
            ) % params
        if reading.status == Status.UNDER_REVIEW:
            return _("Under review"), _(
                "Reading %(reading)s taken (receipt %(receipt)s) and sent to the office to "
                "check: %(reason)s. Nothing more to do here."
            ) % params
        return _("Discarded"), _(
            "Reading %(reading)s discarded (receipt %(receipt)s): %(reason)s. Check the value "
            "and the meter serial: if you misread it, tell the office."
        ) % params
    if attempt.state == AttemptState.FAILED:
        cause = (
            FailureCause(attempt.cause).label
            if attempt.cause in FailureCause.values
            else attempt.cause
        )
        if attempt.cause_note:
            cause = f"{cause}: {attempt.cause_note}"
        return _("Not read"), _("Visit recorded as not read (%(cause)s).") % {"cause": cause}
    return _("To visit"), ""


def refusal_message(code: str) -> str:
    texts = {
        "not_found": _("This visit is not in the round: reload the round."),
        "not_due": _("This visit is planned for a day still to come: it cannot be recorded yet."),
        "already_recorded": _(
            "This visit was already recorded, differently: ask the office to correct it."
        ),
        "key_reused": _(
            "This visit was already sent with other values: ask the office to correct it."
        ),
        "key_invalid": _("The app sent a malformed key: reload the round and record it again."),
    }
    return texts.get(code, _("This visit cannot be recorded."))


def detail_message(error: FieldError) -> str:
    """What to fix in a failed visit's details, or in a reading's value."""
    if error.field == "photo":
        return photo_error_message(error)
    texts = {
        "cause_invalid": _("Choose why the meter could not be read."),
        "position_invalid": _("The phone's position is not valid: record the visit without it."),
    }
    if error.field == "cause_note" and error.code == "required":
        return _("With 'other', write in a few words why the meter could not be read.")
    if error.field == "cause_note":
        return _("Write at most 500 characters.")
    return texts.get(error.code) or error_message(error)
