"""The demo's reading round: visits in the coming days whose customers have been told the
day and the time slot, and a visit that failed on the last working day, whose customer
(the demo customer, who can sign in) was invited to send the reading from the portal.

Idempotent: the attempts are made once, when the demo's supplies have none; the notices
are sent once per visit whatever the number of runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.db import transaction

from autolettura.customers.models import Supply
from autolettura.demo.services import DEMO_SUPPLY_CODE
from autolettura.outbox.models import OutboundMessage
from autolettura.regulation.services import obligations_tick
from autolettura.rounds.models import AttemptState, FailureCause, ReadingAttempt, Slot
from autolettura.rounds.notices import rounds_notices_send
from autolettura.rules.hours import working_days_after
from autolettura.rules.rounds import working_days_before
from autolettura.rules.window import ROME, rome_today

# The round, four working days ahead: a street of the demo's customers, morning and
# afternoon. The demo customer's own supply had its visit fail on the last working day.
ROUND_SUPPLY_CODES = (
    ("400133908", Slot.MORNING),
    ("400101256", Slot.MORNING),
    ("400141870", Slot.AFTERNOON),
)


@dataclass(frozen=True)
class RoundStory:
    visit_on: str  # dd/mm/yyyy
    noticed: int  # the round's visits announced
    failed_supply_code: str
    invited: bool


def round_story_load(*, now: datetime) -> RoundStory | None:
    """Make the round (once) and tell its customers; None when the demo's supplies are not
    there (the demo was not loaded)."""
    today = rome_today(now)
    codes = [code for code, _slot in ROUND_SUPPLY_CODES] + [DEMO_SUPPLY_CODE]
    supplies = {s.supply_code: s for s in Supply.objects.filter(supply_code__in=codes)}
    if len(supplies) != len(codes):
        return None
    with transaction.atomic():
        if not ReadingAttempt.objects.filter(supply__in=supplies.values()).exists():
            visit_on = working_days_after(today, 4)
            for code, slot in ROUND_SUPPLY_CODES:
                ReadingAttempt.objects.create(
                    supply=supplies[code], planned_on=visit_on, slot=slot, created_at=now
                )
            failed_on = working_days_before(today, 1)
            told_on = working_days_before(failed_on, 4)
            ReadingAttempt.objects.create(
                supply=supplies[DEMO_SUPPLY_CODE],
                planned_on=failed_on,
                slot=Slot.MORNING,
                state=AttemptState.FAILED,
                cause=FailureCause.ABSENT,
                cause_note="contatore in casa",
                noticed_at=datetime.combine(told_on, time(8, 20), tzinfo=ROME),
                created_at=now,
            )
        rounds_notices_send(now=now)
        # The notices met in time, on the back office's deadlines page.
        obligations_tick(now=now)
    round_attempts = ReadingAttempt.objects.filter(
        supply__supply_code__in=[code for code, _slot in ROUND_SUPPLY_CODES],
        state=AttemptState.PLANNED,
    ).order_by("planned_on")
    failed = (
        ReadingAttempt.objects.filter(supply=supplies[DEMO_SUPPLY_CODE], state=AttemptState.FAILED)
        .order_by("-planned_on")
        .first()
    )
    first = round_attempts.first()
    return RoundStory(
        visit_on=f"{first.planned_on:%d/%m/%Y}" if first else "",
        noticed=round_attempts.filter(noticed_at__isnull=False).count(),
        failed_supply_code=DEMO_SUPPLY_CODE,
        invited=failed is not None
        and failed.invited_at is not None
        and OutboundMessage.objects.filter(
            dedupe_key__startswith=f"visit-failed:{failed.pk}:"
        ).exists(),
    )
