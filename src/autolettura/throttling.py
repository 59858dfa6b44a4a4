"""Fixed-window request counters in the cache, against brute force and enumeration.

With several web processes the cache must be shared (CACHE_URL pointing at Redis); the
default in-memory cache counts per process.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

from autolettura import clock


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests, retry after {retry_after}s")
        self.retry_after = retry_after


def throttle(scope: str, key: str, *, limit: int, period: int = 60) -> None:
    """Count one request for (scope, key); raise Throttled past `limit` in `period` seconds."""
    now = clock.now().timestamp()
    slot = int(now // period)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_key = f"throttle:{scope}:{digest}:{slot}"
    # The proxy `cache` hides the backend's class.
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        count = _count_in_redis(backend, cache_key, timeout=period + 1)
    else:
        cache.add(cache_key, 0, timeout=period + 1)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, timeout=period + 1)
            count = 1
    if count > limit:
        raise Throttled(max(1, math.ceil((slot + 1) * period - now)))


# A redis-py client for each cache client, made once: the cache's get_client builds a new one
# per call (its table of response callbacks, about 0.05 ms of CPU), twice per anonymous
# submission. Weak keys: a cache configured anew, or dropped with its thread, gets its own.
_redis_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _count_in_redis(redis_cache: RedisCache, cache_key: str, *, timeout: int) -> int:
    """The counter's new value, in one round trip to Redis instead of the three that the
    cache's add and incr make. MULTI makes the two commands atomic, so the key cannot expire
    between them; the key and its integer value are the ones the cache API would write."""
    key = redis_cache.make_and_validate_key(cache_key)
    # The cache's own client, so its connection pool and LOCATION are the ones used.
    cache_client = redis_cache._cache  # type: ignore[attr-defined]
    client = _redis_clients.get(cache_client)
    if client is None:
        client = _redis_clients[cache_client] = cache_client.get_client(key, write=True)
    pipeline = client.pipeline(transaction=True)
    pipeline.set(key, 0, ex=timeout, nx=True)
    pipeline.incr(key)
    _created, count = pipeline.execute()
    return int(count)


def client_address(request: HttpRequest) -> str:
    """The client's address, trusting X-Forwarded-For only from the configured proxies."""
    hops = settings.AUTOLETTURA_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))
