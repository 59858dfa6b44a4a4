"""What the back office and the reports read of the regulator's obligations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import QuerySet

from autolettura.regulation.models import Compensation, Obligation, ObligationState
from autolettura.rules.obligations import day_end, day_start


@dataclass(frozen=True)
class Agenda:
    """The obligations an operator looks at in the morning."""

    due_today: list[Obligation]
    late: list[Obligation]
    late_count: int


def obligations_agenda(*, today: date, limit: int = 200) -> Agenda:
    """Due today (open, with a limit ending today) and late (past their limit, not met):
    the oldest limit first. At most `limit` of each; `late_count` counts them all."""
    base = Obligation.objects.select_related("supply", "bill", "reading", "fault")
    due_today = base.filter(
        state=ObligationState.OPEN, due_at__gt=day_start(today), due_at__lte=day_end(today)
    ).order_by("due_at", "id")
    late = base.filter(state=ObligationState.LATE, met_at__isnull=True).order_by("due_at", "id")
    return Agenda(
        due_today=list(due_today[:limit]), late=list(late[:limit]), late_count=late.count()
    )


def obligations_started(*, start: datetime, end: datetime) -> QuerySet[Obligation]:
    return Obligation.objects.filter(started_at__gte=start, started_at__lt=end)


def compensations_pending(*, first_supply_id: int, last_supply_id: int) -> list[Compensation]:
    """The compensations not yet credited on a bill, for supplies in the range, oldest first."""
    return list(
        Compensation.objects.filter(
            supply_id__gte=first_supply_id, supply_id__lte=last_supply_id, bill__isnull=True
        ).order_by("supply_id", "created_on", "id")
    )
