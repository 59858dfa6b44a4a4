from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from autolettura.billing.tariffs import EXAMPLE, TariffFileInvalid, tariffs_load


class Command(BaseCommand):
    help = "Load tariffs from a JSON file (default: the example tariff shipped with the product)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", type=Path, default=EXAMPLE)
        parser.add_argument("--year", type=int, help="load the file's tariffs for this year")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tariffs = tariffs_load(path=options["file"], year=options["year"])
        except TariffFileInvalid as exc:
            raise CommandError(f"tariff not loaded:\n{exc}") from None
        for tariff in tariffs:
            self.stdout.write(f"loaded tariff {tariff.year} {tariff.usage.lower()}")
