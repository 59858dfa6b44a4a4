"""Fixed-window request counters in the cache, against brute force and enumeration.

With several web processes the cache must be shared (CACHE_URL pointing at Redis); the
default in-memory cache counts per process.
"""

from __future__ import annotations

import hashlib
import math

from django.conf import settings
from django.core.cache import cache
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
    cache.add(cache_key, 0, timeout=period + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=period + 1)
        count = 1
    if count > limit:
        raise Throttled(max(1, math.ceil((slot + 1) * period - now)))


def client_address(request: HttpRequest) -> str:
    """The client's address, trusting X-Forwarded-For only from the configured proxies."""
    hops = settings.AUTOLETTURA_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))
