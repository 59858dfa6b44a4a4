"""`autolettura rounds-notices`: tell customers of the readers' visits and their outcome."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from autolettura import clock
from autolettura.rounds.notices import rounds_notices_send


class Command(BaseCommand):
    help = (
        "Announce the readers' visits 2 to 5 working days before them (day and time slot), "
        "invite the customer to send the reading after a failed visit, and plan another "
        "visit next month at the other time of day after two failures in a row. Celery "
        "beat runs it every hour of the working day; safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = rounds_notices_send(now=clock.now())
        self.stdout.write(f"visits announced: {report.noticed}")
        self.stdout.write(f"invited to self-read after a failed visit: {report.invited}")
        self.stdout.write(f"visits planned after two failures in a row: {report.followups}")
        self.stdout.write(self.style.SUCCESS(f"messages queued: {report.messages}"))
