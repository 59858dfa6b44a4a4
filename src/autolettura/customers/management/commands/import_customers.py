"""`autolettura import-customers FILE.csv`: load customers, supplies and meters."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.utils import translation
from tqdm import tqdm

from autolettura import clock
from autolettura.bulk import (
    DEFAULT_CHUNK_SIZE,
    ImportFileError,
    Progress,
    Refusal,
    refusal_message,
)
from autolettura.command_args import iso_date
from autolettura.customers.imports import (
    CUSTOMER_COLUMNS,
    CustomersImportResult,
    customers_import,
)


class Command(BaseCommand):
    help = (
        "Import customers, their supplies and meters from a UTF-8 CSV file with the header "
        + ",".join(CUSTOMER_COLUMNS)
        + ". Rows already imported are left as they are; refused rows are listed by line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_import_arguments(parser)
        parser.add_argument(
            "--billing-starts-on",
            type=iso_date,
            help=(
                "YYYY-MM-DD: bill the supplies created from this day, the day after the last "
                "period the previous system billed (default: from their activation)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["language"]), open_import(options["file"]) as file:
            with progress_bars(options["progress"]) as progress:
                try:
                    result = customers_import(
                        file=file,
                        now=clock.now(),
                        chunk_size=options["chunk_size"],
                        progress=progress,
                        billing_starts_on=options["billing_starts_on"],
                    )
                except ImportFileError as exc:
                    raise CommandError(f"{options['file']}: {exc}") from None
            write_customers_summary(self.stdout, result)


def add_import_arguments(parser: CommandParser) -> None:
    """The arguments both imports take."""
    parser.add_argument("file", help="the CSV file (UTF-8, with a header row)")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"rows applied per transaction (default {DEFAULT_CHUNK_SIZE})",
    )
    parser.add_argument(
        "--language",
        default="en",
        choices=[code for code, _name in settings.LANGUAGES],
        help="language of the reasons given for refused rows (default en)",
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (it is shown only on a terminal anyway)",
    )


@contextmanager
def open_import(path: str) -> Iterator[IO[bytes]]:
    """The file opened for reading, or a CommandError saying why it cannot be."""
    try:
        file = Path(path).open("rb")  # noqa: SIM115 (closed below, after the import)
    except OSError as exc:
        raise CommandError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with file:
        yield file


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Progress]:
    """A tqdm bar on stderr for each stage of an import, shown on a terminal only."""
    bars: dict[str, tqdm[Any]] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.close()
            bars[stage] = tqdm(
                desc=stage,
                total=total,
                unit=" rows",
                unit_scale=True,
                file=sys.stderr,
                disable=None if enabled else True,
            )
        bars[stage].update(done)

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.close()


def write_counts(out: OutputWrapper, lines: Iterable[tuple[str, int, Mapping[str, int]]]) -> None:
    """Label and count, aligned, with the detail by code in brackets."""
    for label, count, detail in lines:
        by_code = ", ".join(f"{code} {n}" for code, n in sorted(detail.items()))
        out.write(f"{label:<22}{count:>9}" + (f"  ({by_code})" if by_code else ""))


def write_refusals(out: OutputWrapper, refusals: Iterable[Refusal]) -> None:
    first = True
    for refusal in refusals:
        if first:
            out.write("")
            out.write("Refused rows:")
            first = False
        out.write(
            f"line {refusal.line}: {refusal.field}: {refusal.code} — {refusal_message(refusal)}"
        )


def write_customers_summary(out: OutputWrapper, result: CustomersImportResult) -> None:
    write_counts(
        out,
        [
            ("rows read", result.rows_read, {}),
            ("taken", result.taken, {}),
            ("  supplies created", result.supplies_created, {}),
            ("  already present", result.supplies_present, {}),
            ("  customers created", result.customers_created, {}),
            ("  customers updated", result.customers_updated, {}),
            ("refused", result.refused, result.refused_by_code),
        ],
    )
    write_refusals(out, result.refusals)
