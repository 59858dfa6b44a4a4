"""`autolettura send-reminders`: queue today's self-reading reminders (safe to re-run)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from autolettura import clock
from autolettura.backoffice.reminders import reminders_send


class Command(BaseCommand):
    help = (
        "Queue the reminders due today: window opening, and three days before it closes "
        "for supplies with no reading yet. Sent by the outbox (autolettura outbox-flush)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        summary = reminders_send(now=clock.now())
        for key, count in sorted(summary.sent.items()):
            self.stdout.write(f"{key}: {count}")
        self.stdout.write(self.style.SUCCESS(f"{summary.total} reminders queued"))
