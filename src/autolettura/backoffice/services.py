"""Writes of the back office: a reading entered by an operator, with its audit entry."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction

from autolettura.backoffice.models import AuditAction, AuditEntry
from autolettura.readings.models import Channel
from autolettura.readings.services import Submission, reading_submit

OPERATOR_CHANNELS = (Channel.COUNTER, Channel.CALL_CENTRE)


def counter_reading_submit(
    *,
    channel: str,
    supply_code: str,
    customer_code: str,
    reading: str,
    read_on: str,
    by: User,
    now: datetime,
) -> Submission:
    """A paper form handed in at the counter, or a reading given on a call, taken in charge
    through `reading_submit` with the operator as its author (same rules, same outcome as
    every channel) and recorded in the audit trail.

    Raises ValueError for a channel other than COUNTER or CALL_CENTRE, and SubmissionRejected
    (from reading_submit) with every format error.
    """
    if channel not in OPERATOR_CHANNELS:
        raise ValueError(f"not an operator's channel: {channel!r}")
    with transaction.atomic():
        submission = reading_submit(
            channel=channel,
            supply_code=supply_code,
            customer_code=customer_code,
            reading=reading,
            read_on=read_on,
            submitted_by=by,
            now=now,
        )
        if submission.created:
            AuditEntry.objects.create(
                reading=submission.reading,
                action=AuditAction.ENTERED,
                by=by,
                at=now,
                note=channel,
                status_after=submission.reading.status,
            )
    return submission
