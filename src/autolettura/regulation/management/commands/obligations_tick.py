"""`autolettura obligations-tick`: the regulator's daily clock."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from autolettura import clock
from autolettura.regulation.models import ObligationKind
from autolettura.regulation.services import obligations_tick


class Command(BaseCommand):
    help = (
        "Make the regulator's obligations due so far (bills in time, bills a year, "
        "self-reading outcomes told, emergencies reached), mark late those past their limit "
        "and create the automatic compensation each one owes. Celery beat runs it every "
        "morning; safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = obligations_tick(now=clock.now())
        for kind in ObligationKind:
            self.stdout.write(f"  {kind.label}: {report.made.get(kind.value, 0)} new")
        self.stdout.write(f"met since the last run: {report.met}")
        self.stdout.write(f"late from today: {report.late}")
        self.stdout.write(
            self.style.SUCCESS(
                f"compensations created: {report.compensations} (EUR {report.compensations_eur})"
            )
        )
