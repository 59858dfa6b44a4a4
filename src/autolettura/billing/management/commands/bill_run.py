import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from autolettura.billing import services
from autolettura.billing.models import BillRunChunk
from autolettura.billing.tasks import bill_run_chunk_task
from autolettura.command_args import iso_date
from autolettura.rules.window import rome_today


class Command(BaseCommand):
    help = (
        "Bill every period ending on or before --through that has no bill yet. Safe to run "
        "again and to resume after a crash. With CELERY_BROKER_URL set, the run is shared by "
        "the Celery workers; otherwise it runs in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--through", required=True, type=iso_date, help="YYYY-MM-DD")
        parser.add_argument("--issued-on", type=iso_date, help="YYYY-MM-DD (default: today)")
        parser.add_argument(
            "--since",
            type=iso_date,
            help=(
                "YYYY-MM-DD: bill supplies never billed here from this day on, not from their "
                "activation (the day after the last period the previous system billed)"
            ),
        )
        parser.add_argument(
            "--in-process", action="store_true", help="do not hand chunks to Celery workers"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        issued_on = options["issued_on"] or rome_today(now)
        try:
            run = services.bill_run_start(
                through=options["through"], issued_on=issued_on, now=now, since=options["since"]
            )
        except services.BillRunInvalid as exc:
            raise CommandError(str(exc)) from None
        pending = run.chunks.exclude(status=BillRunChunk.Status.DONE)
        total = run.chunks.count()
        bar = tqdm(total=total, initial=total - pending.count(), unit="chunk", file=sys.stderr)
        if settings.CELERY_TASK_ALWAYS_EAGER or options["in_process"]:
            summary = services.bill_run_in_process(run=run, now=now, progress=bar.update)
        else:
            for chunk_id in pending.values_list("id", flat=True):
                bill_run_chunk_task.delay(chunk_id)
            while not services.bill_run_finish(run=run, now=timezone.now()):
                time.sleep(1)
                done = run.chunks.filter(status=BillRunChunk.Status.DONE).count()
                bar.update(done - bar.n)
            summary = services.bill_run_summary(run)
        bar.update(total - bar.n)
        bar.close()
        self.stdout.write(
            f"bill run {run.pk} through {run.through}: {summary.bills_made} bills made "
            f"({summary.bills_real} on real readings, {summary.bills_estimated} estimated only, "
            f"{summary.bills_credit} credits), {len(summary.errors)} supplies not billed"
        )
        if summary.bills_late:
            self.stdout.write(
                f"  {summary.bills_late} bills are issued more than "
                f"{settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS} days after their period ended, "
                "later than the regulator allows"
            )
        for supply_code, period_end, message in summary.errors:
            when = f" period ending {period_end}" if period_end else ""
            self.stdout.write(f"  {supply_code}{when}: {message}")
