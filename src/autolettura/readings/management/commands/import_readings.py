"""`autolettura import-readings FILE.csv`: take in charge the readings of a file."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.utils import translation

from autolettura import clock
from autolettura.bulk import ImportFileError
from autolettura.customers.management.commands.import_customers import (
    add_import_arguments,
    open_import,
    progress_bars,
    write_counts,
    write_refusals,
)
from autolettura.readings.imports import READING_COLUMNS, ReadingsImportResult, readings_import


class Command(BaseCommand):
    help = (
        "Import readings from a UTF-8 CSV file with the header "
        + ",".join(READING_COLUMNS)
        + " (source: operator or self). Each reading is checked by the same rules as any "
        "other; refused rows are listed by line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_import_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["language"]), open_import(options["file"]) as file:
            with progress_bars(options["progress"]) as progress:
                try:
                    result = readings_import(
                        file=file,
                        now=clock.now(),
                        chunk_size=options["chunk_size"],
                        progress=progress,
                    )
                except ImportFileError as exc:
                    raise CommandError(f"{options['file']}: {exc}") from None
            write_readings_summary(self.stdout, result)


def write_readings_summary(out: OutputWrapper, result: ReadingsImportResult) -> None:
    write_counts(
        out,
        [
            ("rows read", result.rows_read, {}),
            ("taken", result.taken, {}),
            ("  accepted", result.accepted, {}),
            ("  discarded", sum(result.discarded.values()), result.discarded),
            ("  under review", result.under_review, {}),
            ("refused", result.refused, result.refused_by_code),
        ],
    )
    write_refusals(out, result.refusals)
