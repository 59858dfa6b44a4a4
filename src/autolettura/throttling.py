"""Fixed-window request counters in the cache, against brute force and enumeration.

With several web processes the cache must be shared (CACHE_URL pointing at Redis); the
default in-memory cache counts per process.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
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
    count = _count(_cache_key(f"throttle:{scope}", key, slot), timeout=period + 1)
    if count > limit:
        raise Throttled(_retry_after(now, slot, period))


@dataclass(frozen=True)
class FailureLimit:
    """Failed attempts at a secret (codes, a password, a ticket's contact), counted per
    (source, target): who tries (a client address, a phone number, an e-mail address) and
    what they try it on (a supply code, an account, a ticket).

    A source is stopped after `per_source` failures in `period` seconds, whatever it tries.
    A target with `per_target` failures (from anywhere) is closed to every source that has
    failed on it, and only to those: a customer whose own source has not failed always gets
    through with the right credential, so nobody can lock them out by failing on purpose.
    Both counts run in fixed windows of `period` seconds.

    `target_name` gives the one name of a target that can be named in several ways (a supply
    by its supply code or by its user code): each name would otherwise get its own count,
    and a stranger as many guesses as the target has names.
    """

    scope: str
    per_source: int
    per_target: int
    period: int = 3600
    target_name: Callable[[str], str] | None = None

    def check(self, *, source: str, target: str) -> None:
        """Raise Throttled when this source may not try this target now. Counts nothing."""
        now = clock.now().timestamp()
        slot = int(now // self.period)
        keys = self._keys(source, target, slot)
        failed = dict(zip(keys, _counts(list(keys.values())), strict=True))
        if failed["source"] >= self.per_source or (
            failed["target"] >= self.per_target and failed["pair"] > 0
        ):
            raise Throttled(_retry_after(now, slot, self.period))

    def record(self, *, source: str, target: str) -> None:
        """Count one failure of this source on this target."""
        slot = int(clock.now().timestamp() // self.period)
        for key in self._keys(source, target, slot).values():
            _count(key, timeout=self.period + 1)

    def _keys(self, source: str, target: str, slot: int) -> dict[str, str]:
        if self.target_name is not None:
            target = self.target_name(target)
        prefix = f"failures:{self.scope}"
        return {
            "source": _cache_key(f"{prefix}:source", source, slot),
            "target": _cache_key(f"{prefix}:target", target, slot),
            "pair": _cache_key(f"{prefix}:pair", f"{source}\x00{target}", slot),
        }


def _cache_key(prefix: str, key: str, slot: int) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{prefix}:{digest}:{slot}"


def _retry_after(now: float, slot: int, period: int) -> int:
    return max(1, math.ceil((slot + 1) * period - now))


def _count(cache_key: str, *, timeout: int) -> int:
    """Add one to a counter and return its new value."""
    # The proxy `cache` hides the backend's class.
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        return _count_in_redis(backend, cache_key, timeout=timeout)
    cache.add(cache_key, 0, timeout=timeout)
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=timeout)
        return 1


def _counts(cache_keys: list[str]) -> list[int]:
    """The counters' values, 0 for those not counting."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        keys = [backend.make_and_validate_key(key) for key in cache_keys]
        # MGET on the kept client: the cache's get_many would build a client for the call.
        return [int(value or 0) for value in _redis_client(backend, keys[0]).mget(keys)]
    found = cache.get_many(cache_keys)
    return [int(found.get(key) or 0) for key in cache_keys]


# A redis-py client for each cache client, made once: the cache's get_client builds a new one
# per call (its table of response callbacks, about 0.05 ms of CPU), twice per anonymous
# submission. Weak keys: a cache configured anew, or dropped with its thread, gets its own.
_redis_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _redis_client(redis_cache: RedisCache, key: str) -> Any:
    """The cache's own client (so its connection pool and LOCATION are the ones used), made
    once. Counters are written and read on the server the cache writes to."""
    cache_client = redis_cache._cache  # type: ignore[attr-defined]
    client = _redis_clients.get(cache_client)
    if client is None:
        client = _redis_clients[cache_client] = cache_client.get_client(key, write=True)
    return client


# INCR, and the window's expiry on the counter's first count: one command, atomic on the
# server (a script runs alone), so the key cannot expire between the two. redis-py sends
# it by its SHA-1 (EVALSHA) and loads it once when the server does not know it yet.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""
_count_scripts: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _count_in_redis(redis_cache: RedisCache, cache_key: str, *, timeout: int) -> int:
    """The counter's new value, in one round trip to Redis instead of the three that the
    cache's add and incr make, and one command rather than a MULTI ... EXEC of three (about
    half of redis-py's CPU for the call). The key and its integer value are the ones the
    cache API would write."""
    key = redis_cache.make_and_validate_key(cache_key)
    client = _redis_client(redis_cache, key)
    script = _count_scripts.get(client)
    if script is None:
        script = _count_scripts[client] = client.register_script(_COUNT_SCRIPT)
    return int(script(keys=[key], args=[timeout]))


def client_address(request: HttpRequest) -> str:
    """The client's address, trusting X-Forwarded-For only from the configured proxies."""
    hops = settings.AUTOLETTURA_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))
