"""`autolettura telemetry-readings --on YYYY-MM-DD`: smart meters' daily readings."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from autolettura import clock
from autolettura.rules.window import rome_today
from autolettura.telemetry.services import telemetry_readings


class Command(BaseCommand):
    help = (
        "Make each remotely read meter's register at the end of the day a reading (source "
        "remote), through the rules every reading passes. Default: yesterday. Celery beat "
        "runs it every morning; safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--on", default="", metavar="YYYY-MM-DD", help="the day (default: yesterday)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = clock.now()
        try:
            on = date.fromisoformat(options["on"]) if options["on"] else None
        except ValueError as exc:
            raise CommandError(f"--on {options['on']!r}: expected a date as YYYY-MM-DD") from exc
        today = rome_today(now)
        on = on or today - timedelta(days=1)
        if on >= today:
            raise CommandError(f"--on {on}: the day must be over (before {today})")
        result = telemetry_readings(on=on, now=now)
        discarded = sum(result.discarded.values())
        self.stdout.write(
            f"{on}: {result.rows_read} meters, {result.accepted} readings accepted, "
            f"{result.under_review} under review, {discarded} discarded, "
            f"{result.refused} not taken (already taken or refused)"
        )
