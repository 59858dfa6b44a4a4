"""`autolettura reading-plan --from YYYY-MM-DD --to YYYY-MM-DD`: plan the reading rounds."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from autolettura import clock
from autolettura.rounds.services import PlanInvalid, reading_plan


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"{raw!r} is not a date: write it as YYYY-MM-DD") from None


class Command(BaseCommand):
    help = (
        "Plan the readers' attempts between two days so that every supply gets the "
        "regulator's minimum (2 a year 150 days apart up to a CMA of 3,000 m³, 3 a year 90 "
        "days apart above; a new supply within 6 months). Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = _day(options["start"]), _day(options["end"])
        try:
            report = reading_plan(start=start, end=end, now=clock.now())
        except PlanInvalid as exc:
            raise CommandError(str(exc)) from None
        for month in sorted(report.by_month):
            self.stdout.write(f"  {month}: {report.by_month[month]} attempts")
        self.stdout.write(self.style.SUCCESS(f"{report.planned} attempts planned"))
