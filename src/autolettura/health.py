"""Two probes: GET /livez (liveness) and GET /healthz (readiness).

/livez: is this web process alive? It answers 200 "ok" from the process alone, touching no
database, broker, cache or session, so a supervisor restarts the process only when the
process itself is stuck, never because PostgreSQL or Redis is down (restarting would not
help). It still passes through every middleware like any page. The load benchmark
(benchmarks/api_load.py) uses it as the trivial endpoint to compare the submission API with.

/healthz: can this web process reach the database and the broker? For a load balancer or a
monitor: 200 when every part answers, 503 naming the part that does not. The details of a
failure go to the log, not to the (public) response.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# A health check must answer before the monitor gives up on it: the broker gets this long.
BROKER_TIMEOUT_SECONDS = 2.0


def database_check() -> None:
    """Raise if the default database does not answer `SELECT 1`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def broker_check(url: str) -> None:
    """Raise if the Celery broker at `url` cannot be reached within BROKER_TIMEOUT_SECONDS."""
    from autolettura.celery import app

    # The URL from the settings, not the app's cached configuration, so tests can change it.
    with app.connection_for_write(url=url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
        )


@never_cache
@require_GET
def livez(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers; nothing else is checked."""
    return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    body = {"status": "ok", "database": "ok", "broker": "not configured"}
    try:
        database_check()
    except Exception as exc:
        # One line a probe, no traceback: a monitor asks every few seconds during an outage.
        logger.error("health: the database does not answer (%s)", _first_line(exc))
        body["database"] = "unavailable"
    if settings.CELERY_BROKER_URL:
        try:
            broker_check(settings.CELERY_BROKER_URL)
            body["broker"] = "ok"
        except Exception as exc:
            logger.error("health: the broker does not answer (%s)", _first_line(exc))
            body["broker"] = "unavailable"
    healthy = "unavailable" not in body.values()
    if not healthy:
        body["status"] = "unavailable"
    return JsonResponse(body, status=200 if healthy else 503)


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"
