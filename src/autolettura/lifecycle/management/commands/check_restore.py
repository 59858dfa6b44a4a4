"""`autolettura check-restore`: after a restore, is everything there?"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from autolettura import clock
from autolettura.lifecycle.selectors import restore_check
from autolettura.lifecycle.services import retention_policy


class Command(BaseCommand):
    help = (
        "After restoring the database and the files: counts of what is there, gaps in receipt "
        "numbers (information) and bill numbers (errors), counters behind the numbers given, "
        "files the database names that are missing, a secret key file made anew instead of "
        "restored. Exit code 1 when something is wrong."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = restore_check(
            now=clock.now(),
            policy=retention_policy(),
            secret_key_file=settings.VAR_DIR / "secret-key",
        )
        for label, n in report.counts:
            self.stdout.write(f"{label}: {n}")
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        for error in report.errors:
            self.stdout.write(self.style.ERROR(f"ERROR: {error}"))
        if not report.ok:
            self.stdout.write(self.style.ERROR(f"problems found: {len(report.errors)}"))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("the restore is whole"))
