from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from autolettura.outbox.services import outbox_flush


class Command(BaseCommand):
    help = "Send every outbound message that is due (run it from cron when there is no broker)."

    def handle(self, *args: Any, **options: Any) -> None:
        sent = outbox_flush(now=timezone.now())
        self.stdout.write(f"{sent} messages sent")
