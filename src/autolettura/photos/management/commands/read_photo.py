"""`autolettura read-photo FILE...`: the register read from each photo, one line a file."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from autolettura.photos.services import photo_read

MAX_BYTES = 20 * 1024 * 1024


def _digits(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 9:
        raise ValueError(raw)
    return value


class Command(BaseCommand):
    help = (
        "Reads the meter's register in each photo and prints FILE<TAB>READING<TAB>CONFIDENCE, "
        "one line a file ('-' as the reading when none could be read; why, on stderr, for a "
        "file that could not be opened)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--digits", type=_digits, default=None, help="the meter's whole-m³ digits (1 to 9)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in options["files"]:
            # One line for every file, whatever happens to it: a file that cannot be read
            # is a "-" like a photo without a register, with the reason on stderr.
            try:
                with open(name, "rb") as photo:
                    image = photo.read(MAX_BYTES + 1)
            except OSError as exc:
                self.stderr.write(f"{name}: {exc.strerror or exc}")
                self.stdout.write(f"{name}\t-\t0.00")
                continue
            if len(image) > MAX_BYTES:
                self.stderr.write(f"{name}: larger than {MAX_BYTES // 2**20} MB, not read")
                self.stdout.write(f"{name}\t-\t0.00")
                continue
            result = photo_read(image=image, meter_digits=options["digits"], now=timezone.now())
            reading = result.reading or "-"
            self.stdout.write(f"{name}\t{reading}\t{result.confidence:.2f}")
