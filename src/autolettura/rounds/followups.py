"""After two failed visits in a row, another: next month, at the other time of day.

A household out every morning is found in the afternoon. The decision is the pure rule
rules/rounds.needs_followup, made from the database state: the supply's last two visits
made or failed are both failed, and no valid reading has come since the first of them (the
customer was invited to send one after each: rounds.notices). The follow-up is linked to the
failure it follows (`ReadingAttempt.follows`, unique), so it is planned once whatever the
number of runs; a follow-up that fails too asks for no other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from autolettura.readings.models import Reading, Status
from autolettura.rounds.models import AttemptState, ReadingAttempt
from autolettura.rules import rounds as rules
from autolettura.rules.obligations import day_start
from autolettura.rules.window import rome_today

# Failures older than this were settled by an earlier run (or predate the rounds): a
# follow-up planned for them would land long after the fact.
LOOK_BACK_DAYS = 62


def followups_plan(*, now: datetime) -> int:
    """Plan the follow-up attempt of each second failure in a row that has none yet;
    returns how many were planned."""
    today = rome_today(now)
    failures = (
        ReadingAttempt.objects.filter(
            state=AttemptState.FAILED,
            planned_on__gte=today - timedelta(days=LOOK_BACK_DAYS),
            planned_on__lte=today,
            followup__isnull=True,
        )
        .order_by("planned_on", "id")
        .values_list("id", "supply_id", "planned_on", "slot", "follows_id")
    )
    planned = 0
    for attempt_id, supply_id, planned_on, slot, follows_id in failures:
        done = ReadingAttempt.objects.filter(
            supply_id=supply_id, state__in=[AttemptState.MADE, AttemptState.FAILED]
        )
        if done.filter(planned_on__gt=planned_on).exists():
            continue  # visited since: this failure is not the last
        previous = done.filter(planned_on__lt=planned_on).order_by("-planned_on").first()
        if previous is None:
            continue
        read_since = Reading.objects.filter(
            supply_id=supply_id,
            status=Status.ACCEPTED,
            voided_at__isnull=True,
            submitted_at__gte=day_start(previous.planned_on),
        ).exists()
        if not rules.needs_followup(
            [previous.state, AttemptState.FAILED],
            self_reading_since_first_failure=read_since,
            last_is_followup=follows_id is not None,
        ):
            continue
        taken = frozenset(
            ReadingAttempt.objects.filter(supply_id=supply_id, planned_on__gt=today).values_list(
                "planned_on", flat=True
            )
        )
        # From today when the failure was recorded late: the follow-up is never in the past.
        day, other = rules.followup_attempt(max(planned_on, today), slot, taken=taken)
        try:
            with transaction.atomic():
                ReadingAttempt.objects.create(
                    supply_id=supply_id,
                    planned_on=day,
                    slot=other,
                    follows_id=attempt_id,
                    created_at=now,
                )
        except IntegrityError:
            continue  # planned meanwhile by another run
        planned += 1
    return planned
