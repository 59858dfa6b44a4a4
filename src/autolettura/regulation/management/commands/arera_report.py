"""`autolettura arera-report --year YYYY FILE`: the regulator's yearly report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from autolettura.regulation.reports import ReportFileInvalid, arera_report, report_write


class Command(BaseCommand):
    help = (
        "Write the regulator's (ARERA) report of a year: reading attempts by consumption "
        "class, self-readings by channel and their outcomes told in time, bills and the share "
        "issued in time, compensations by standard, emergencies and the share reached in "
        "time. FILE.xlsx gets a summary and a detail sheet; FILE.csv comes with "
        "FILE-detail.csv. Every figure is traced to its rows in the detail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--year", type=int, required=True, help="the calendar year, YYYY")
        parser.add_argument("file", type=Path, help="where to write it, .xlsx or .csv")

    def handle(self, *args: Any, **options: Any) -> None:
        year: int = options["year"]
        if not 2000 <= year <= 2999:
            raise CommandError(f"--year {year}: give a year as YYYY, such as 2025")
        path: Path = options["file"]
        if not path.parent.is_dir():
            raise CommandError(f"{path.parent} is not a folder: create it or name another")
        report = arera_report(year=year)
        try:
            written = report_write(report, path)
        except ReportFileInvalid as exc:
            raise CommandError(str(exc)) from None
        for figure in report.figures:
            unit = f" {figure.unit}" if figure.unit else ""
            self.stdout.write(f"  {figure.section}, {figure.label}: {figure.value}{unit}")
        self.stdout.write(self.style.SUCCESS("written: " + ", ".join(str(p) for p in written)))
