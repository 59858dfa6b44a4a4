from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from autolettura.payments import services
from autolettura.rules.rendicontazione import FlowInvalid


class Command(BaseCommand):
    help = (
        "Import pagoPA reporting flows (flussi di rendicontazione, FlussoRiversamento XML): "
        "each payment pays the bill with its IUV, or is listed for the billing office. "
        "A flow imported before is not imported again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, help="XML files of the flows")

    def handle(self, *args: Any, **options: Any) -> None:
        refused = 0
        for path in options["files"]:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(f"{path}: cannot be read ({exc.strerror})") from None
            try:
                done = services.flow_import(data=data, file_name=path.name, now=timezone.now())
            except FlowInvalid as exc:
                refused += 1
                self.stderr.write(f"{path}: not imported, the file is not a valid flow:")
                for problem in exc.problems:
                    self.stderr.write(f"  {problem}")
                continue
            except (services.FlowAlreadyImported, services.FlowNotOurs) as exc:
                refused += 1
                self.stderr.write(f"{path}: not imported, {exc}")
                continue
            c = done.counts
            self.stdout.write(
                f"{path}: flow {done.flow.flow_id}, {sum(c.values())} payments: "
                f"{c['MATCHED']} bills paid, {c['UNMATCHED']} with no bill, "
                f"{c['DUPLICATE']} duplicates, {c['WRONG_AMOUNT']} with another amount, "
                f"{c['UNDONE']} revoked"
            )
        if refused:
            raise CommandError(f"{refused} of {len(options['files'])} files not imported")
