"""`autolettura telemetry`: the long-running MQTT consumer of smart meters' telegrams."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from autolettura.telemetry.consumer import BrokerUrlError, Consumer, stop_on_signals

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Receive smart meters' telegrams from the MQTT broker (AUTOLETTURA_MQTT_URL, "
        "AUTOLETTURA_MQTT_TOPICS) and store them, until stopped (SIGTERM or Ctrl-C finish the "
        "current batch). Several consumers share the stream through AUTOLETTURA_MQTT_SHARE_GROUP."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--client-id", default="", help="this consumer's MQTT client id")
        parser.add_argument(
            "--idle-exit",
            type=float,
            default=None,
            metavar="SECONDS",
            help="stop once no telegram has come for this many seconds (tests, backfills)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = settings.AUTOLETTURA_MQTT_URL
        if not url:
            raise CommandError(
                "AUTOLETTURA_MQTT_URL is empty: set it to the broker, e.g. mqtt://127.0.0.1:1883"
            )
        try:
            consumer = Consumer(
                url=url,
                topics=settings.AUTOLETTURA_MQTT_TOPICS,
                group=settings.AUTOLETTURA_MQTT_SHARE_GROUP,
                client_id=options["client_id"] or settings.AUTOLETTURA_MQTT_CLIENT_ID,
                session_seconds=settings.AUTOLETTURA_MQTT_SESSION_HOURS * 3600,
                batch_size=settings.AUTOLETTURA_TELEMETRY_BATCH,
                batch_seconds=settings.AUTOLETTURA_TELEMETRY_BATCH_MS / 1000,
            )
        except BrokerUrlError as exc:
            raise CommandError(f"AUTOLETTURA_MQTT_URL: {exc}") from exc
        stop_on_signals(consumer)
        consumer.start()
        stats = consumer.run(idle_exit=options["idle_exit"], on_batch=self._progress(consumer))
        self.stdout.write(
            f"received {stats.received}, stored {stats.stored}, refused {stats.rejected}, "
            f"in {stats.batches} batches"
        )

    def _progress(self, consumer: Consumer) -> Any:
        def report() -> None:
            stats = consumer.stats
            # One line a batch, flushed: who watches the process sees it progress.
            self.stdout.write(f"batch {stats.batches}: stored {stats.stored} of {stats.received}")
            self.stdout.flush()

        return report
