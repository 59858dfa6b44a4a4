"""Prometheus metrics, served at GET /metrics.

In-process: HTTP latency and responses by URL pattern (the submission endpoint is
`api/v1/readings`). Each process counts for itself: under gunicorn with several workers, set
PROMETHEUS_MULTIPROC_DIR to an empty folder private to the web service (deploy/ does) and
every scrape adds up all the workers; without it a scrape sees one worker's counts.

Computed from the database at each scrape: readings taken in charge by channel and outcome,
the outbox's queue and the running bill runs. Readings are counted there, not in the process
that took them, because e-mail readings (and WhatsApp readings whose photo is fetched) are
taken in a Celery worker, whose counters no scrape would see; and a reading counted only
once its transaction has committed is one that exists. These are counts for the whole
installation: every web machine reports the same figures.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from autolettura.lifecycle.metrics import RetentionCollector

REQUEST_SECONDS = Histogram(
    "autolettura_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and URL pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RESPONSES = Counter(
    "autolettura_http_responses",
    "HTTP responses, by method, URL pattern and status code.",
    ["method", "route", "status"],
)


# Labels come from a bounded set: a client must not create series by inventing methods.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Times every request, labelled by its URL pattern (bounded), never by its raw path."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.route if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUEST_SECONDS.labels(method=method, route=route).observe(time.perf_counter() - started)
        RESPONSES.labels(method=method, route=route, status=response.status_code).inc()
        return response


class DatabaseCollector(Collector):
    """Gauges read from the database when scraped, so they are right whichever process asks."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from autolettura.billing.models import BillRun, BillRunChunk
        from autolettura.outbox.models import OutboundMessage
        from autolettura.readings.selectors import readings_taken_by_channel

        submitted = CounterMetricFamily(
            "autolettura_readings_submitted",
            "Readings taken in charge with a receipt, by channel and first outcome.",
            labels=["channel", "outcome"],
        )
        for (channel, outcome), n in sorted(readings_taken_by_channel().items()):
            submitted.add_metric([channel.lower(), outcome.lower()], n)
        yield submitted

        outbox = GaugeMetricFamily(
            "autolettura_outbox_messages",
            "Outbound messages not sent yet, by status (PENDING is the queue).",
            labels=["status"],
        )
        waiting = dict.fromkeys(
            (
                OutboundMessage.Status.PENDING,
                OutboundMessage.Status.SENDING,
                OutboundMessage.Status.FAILED,
            ),
            0,
        )
        rows = (
            OutboundMessage.objects.filter(status__in=list(waiting))
            .values_list("status")
            .annotate(n=Count("id"))
        )
        waiting.update(dict(rows))
        for status, n in waiting.items():
            outbox.add_metric([status.lower()], n)
        yield outbox

        chunks = GaugeMetricFamily(
            "autolettura_bill_run_chunks",
            "Chunks of each running bill run, by state (done or all).",
            labels=["run", "state"],
        )
        progress = (
            BillRunChunk.objects.filter(run__status=BillRun.Status.RUNNING)
            .values_list("run_id")
            .annotate(
                done=Count("id", filter=Q(status=BillRunChunk.Status.DONE)),
                total=Count("id"),
            )
            .order_by("run_id")
        )
        for run_id, done, total in progress:
            chunks.add_metric([str(run_id), "done"], done)
            chunks.add_metric([str(run_id), "all"], total)
        yield chunks

        yield from _telemetry_metrics()


def _telemetry_metrics() -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """Smart meters: telegrams refused by reason (counted by the consumers, which no scrape
    reaches), and the leak alerts still open."""
    from autolettura.rules.telemetry import REASONS
    from autolettura.telemetry.models import Alert, Reject

    refused = CounterMetricFamily(
        "autolettura_telegrams_refused",
        "Smart-meter telegrams not stored, by reason (malformed, unknown_device...).",
        labels=["reason"],
    )
    counts = dict.fromkeys(REASONS, 0)
    counts.update(dict(Reject.objects.values_list("reason", "count")))
    for reason, n in sorted(counts.items()):
        refused.add_metric([reason], n)
    yield refused
    alerts = GaugeMetricFamily(
        "autolettura_leak_alerts_open",
        "Leak and alarm alerts not closed yet, by kind.",
        labels=["kind"],
    )
    for kind, n in (
        Alert.objects.filter(closed_at__isnull=True)
        .values_list("kind")
        .annotate(n=Count("id"))
        .order_by("kind")
    ):
        alerts.add_metric([kind], n)
    yield alerts


_database_registry = CollectorRegistry(auto_describe=False)
_database_registry.register(DatabaseCollector())
_database_registry.register(RetentionCollector())


def metrics_text() -> bytes:
    """The exposition: this process's (or, in multiprocess mode, all workers') metrics, then
    the gauges read from the database."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_database_registry)


def _from_loopback(request: HttpRequest) -> bool:
    # Through a reverse proxy on this machine the peer is loopback too: a forwarded request
    # is someone else's, so it is not trusted without the token.
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics, for a bearer of AUTOLETTURA_METRICS_TOKEN, or (no token set) to loopback."""
    token: str = settings.AUTOLETTURA_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not _from_loopback(request):
        return HttpResponse(
            "metrics are served to this machine only (set AUTOLETTURA_METRICS_TOKEN)\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
