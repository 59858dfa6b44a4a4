"""The retention runs in Prometheus, read from the database at each scrape (the runs happen
in a Celery worker, whose own counters no scrape sees)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class RetentionCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        from autolettura.lifecycle.models import RetentionKind, RetentionRun

        totals = dict.fromkeys(RetentionKind.values, 0)
        last_finished = None
        for counts, finished_at in RetentionRun.objects.values_list("counts", "finished_at"):
            for kind, n in (counts or {}).items():
                if kind in totals and isinstance(n, int):
                    totals[kind] += n
            if finished_at is not None and (last_finished is None or finished_at > last_finished):
                last_finished = finished_at
        removed = CounterMetricFamily(
            "autolettura_retention_items",
            "Items removed or anonymised at the end of their retention, by kind.",
            labels=["kind"],
        )
        for kind, n in totals.items():
            removed.add_metric([kind], n)
        yield removed
        finished = GaugeMetricFamily(
            "autolettura_retention_last_run_timestamp_seconds",
            "When the last retention run finished (Unix time; 0: never).",
        )
        finished.add_metric([], last_finished.timestamp() if last_finished else 0)
        yield finished
