"""The WSGI module, which gunicorn loads once before forking its workers, leaves nothing for
a new worker's first API request to import or read: a worker replaced after max_requests
answers its first submission as fast as its thousandth. With the throttling counters in
Redis as in production, redis-py is imported before the fork too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.db import connection

from tests.ops.processes import REDIS_SERVER, PrivateRedis, database_url_for_processes

pytestmark = [
    # The worker's requests are committed by its own connection: the tables are emptied
    # after the test, so that no other test finds them.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: the worker is another process on the test database",
    ),
]

# Run in a process of its own: the test process has long imported everything.
SCRIPT = """
import json, sys
import autolettura.wsgi
from django.test import Client
from django.utils.translation import trans_real
before, catalogs = set(sys.modules), set(trans_real._translations)
client = Client()
statuses = [client.get("/livez").status_code]
for language in ("it", "en"):
    statuses.append(client.post(
        "/api/v1/readings", "{}", content_type="application/json",
        headers={"accept-language": language},
    ).status_code)
ours = ("autolettura", "ninja", "django", "redis")
print(json.dumps({
    "modules": sorted(m for m in set(sys.modules) - before if m.startswith(ours)),
    "catalogs": sorted(set(trans_real._translations) - catalogs),
    "languages": sorted(catalogs),
    "statuses": statuses,
}))
"""


def first_requests(env: dict[str, str]) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    found: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_a_new_worker_imports_nothing_and_reads_no_catalog_on_its_first_api_requests() -> None:
    env = {**os.environ, "DATABASE_URL": database_url_for_processes("warm-up")}
    env.pop("CACHE_URL", None)
    found = first_requests(env)
    # Answered by the API itself: a submission without its fields is told what to fix.
    assert found["statuses"] == [200, 422, 422]
    assert found["modules"] == [], found["modules"]
    assert found["catalogs"] == []
    assert {"it", "en"} <= set(found["languages"])


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)")
def test_with_the_counters_in_redis_nothing_is_imported_either(tmp_path: Path) -> None:
    with PrivateRedis(tmp_path) as redis_server:
        env = {
            **os.environ,
            # The product's settings, not the tests' (whose cache is in memory).
            "DJANGO_SETTINGS_MODULE": "autolettura.settings",
            "ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": database_url_for_processes("warm-up"),
            "CACHE_URL": redis_server.url(1),
        }
        found = first_requests(env)
        # The submissions were counted there: the requests went through the Redis client.
        counters = redis.Redis.from_url(redis_server.url(1))
        assert list(counters.scan_iter("*throttle:submit-address:*"))
        counters.close()
    assert found["statuses"] == [200, 422, 422]
    assert found["modules"] == [], found["modules"]
