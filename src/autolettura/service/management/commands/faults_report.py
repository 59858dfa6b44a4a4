import csv
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from autolettura.command_args import iso_date
from autolettura.rules.window import ROME
from autolettura.service import selectors

HEADER = [
    "ticket",
    "category",
    "received_at",
    "on_site_at",
    "minutes_to_site",
    "within_3_hours",
]


class Command(BaseCommand):
    help = (
        "The regulator's standard for fault emergencies: the share reached on site within 3 "
        "hours, for emergencies received from --from to --to (both included, Europe/Rome "
        "days). Writes one row per emergency to FILE.csv (`-` for standard output) and prints "
        "the share."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, type=iso_date, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, type=iso_date, help="YYYY-MM-DD")
        parser.add_argument("file", help="the CSV file to write, or - for standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = options["start"], options["end"]
        if end < start:
            raise CommandError("--to must not be before --from")
        now = timezone.now()
        rows = selectors.emergencies_on_site_rows(start=start, end=end, now=now)
        if options["file"] == "-":
            self._write(sys.stdout, rows)
        else:
            with open(options["file"], "w", encoding="utf-8", newline="") as out:
                self._write(out, rows)
        summary = selectors.emergencies_on_site_share(start=start, end=end, now=now)
        share = "n/a" if summary.share is None else f"{summary.share * 100:.1f}%"
        # The summary goes to stderr when the rows go to stdout, so the CSV stays clean.
        report = self.stderr if options["file"] == "-" else self.stdout
        report.write(
            f"emergencies received {start} to {end}: {summary.total}, reached on site within "
            f"3 hours: {summary.within} ({share}), still within the 3 hours: {summary.pending}"
        )

    def _write(self, out: Any, rows: Any) -> None:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(
                [
                    row.ticket,
                    row.category,
                    row.received_at.astimezone(ROME).isoformat(),
                    row.on_site_at.astimezone(ROME).isoformat() if row.on_site_at else "",
                    "" if row.minutes_to_site is None else row.minutes_to_site,
                    {True: "yes", False: "no", None: "pending"}[row.within_limit],
                ]
            )
