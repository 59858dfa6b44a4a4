"""What the cheaper submission path must still write: the inbound message's answer, and
the throttling counters in the Redis of the cache configured now."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import override_settings

from autolettura import throttling
from autolettura.readings.models import InboundMessage
from autolettura.readings.services import inbound_reading_submit
from tests.api_helpers import Clock
from tests.conftest import make_supply, rome
from tests.ops.processes import REDIS_SERVER, PrivateRedis

NOW = rome(2026, 12, 20, 10, 0)


@pytest.mark.django_db
def test_a_rejected_message_answered_on_its_retry_keeps_only_the_reading() -> None:
    supply = make_supply()
    payload = {
        "supply_code": supply.supply_code,
        "customer_code": "WRONG1",
        "reading": "00010",
        "read_on": "20/12/2026",
    }
    rejected = inbound_reading_submit(
        channel="APP", provider_message_id="m-1", payload=payload, now=NOW
    )
    assert [e.code for e in rejected.errors] == ["codes_mismatch"]
    message = InboundMessage.objects.get(provider_message_id="m-1")
    assert message.errors == [{"field": "codes", "code": "codes_mismatch"}]

    later = NOW + timedelta(minutes=5)
    payload["customer_code"] = supply.holder.customer_code
    answered = inbound_reading_submit(
        channel="APP", provider_message_id="m-1", payload=payload, now=later
    )
    assert answered.submission is not None
    message.refresh_from_db()
    assert message.reading_id == answered.submission.reading.pk
    assert message.processed_at == later
    # The earlier errors are gone as SQL NULL, not as a JSON null.
    assert message.errors is None
    assert InboundMessage.objects.filter(pk=message.pk, errors__isnull=True).exists()
    assert message.made_reading


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)")
def test_the_throttle_counts_in_the_redis_configured_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Redis client is kept between calls: a cache configured anew must get its own.
    monkeypatch.setattr("autolettura.clock.now", Clock(NOW))
    slot = int(NOW.timestamp() // 60)
    digest = throttling.hashlib.sha256(b"1.2.3.4").hexdigest()[:32]
    key = f"throttle:answers:{digest}:{slot}"
    with PrivateRedis(tmp_path) as redis_server:
        # (Redis database, requests counted now, the counter's value after them)
        for database, calls, expected in ((1, 2, 2), (2, 1, 1), (1, 1, 3)):
            backend = {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_server.url(database),
            }
            with override_settings(CACHES={"default": backend}):
                for _ in range(calls):
                    throttling.throttle("answers", "1.2.3.4", limit=10, period=60)
                counted = caches["default"].get(key)
            assert counted == expected
