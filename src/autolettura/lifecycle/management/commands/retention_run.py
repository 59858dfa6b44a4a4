"""`autolettura retention-run`: remove or anonymise what is past its retention now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from autolettura import clock
from autolettura.lifecycle.models import RetentionKind
from autolettura.lifecycle.services import retention_run


class Command(BaseCommand):
    help = (
        "Remove or anonymise what is past its retention (AUTOLETTURA_RETENTION_*), in "
        "batches; what an open review or a kept bill needs is never touched. Celery beat "
        "runs it every night; safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = retention_run(now=clock.now())
        limits = report.horizons
        self.stdout.write(
            f"readings dated before {limits.readings_before}, bills issued before "
            f"{limits.bills_year_before}, messages before {limits.messages_before:%Y-%m-%d %H:%M}"
        )
        for kind in RetentionKind:
            self.stdout.write(f"  {kind.label}: {report.counts.get(kind.value, 0)}")
        self.stdout.write(self.style.SUCCESS(f"{report.total} items in all"))
