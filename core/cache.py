"""Django's Redis cache that degrades to a miss while Redis is unreachable (issue 15).

Django's ``RedisCache`` raises on every connection error, so with Redis down every cache use
became a 500. Nothing Tessera keeps in the default cache is the only copy of anything a
request needs: a value that cannot be read is recomputed, one that cannot be written is
recomputed next time. So ``DegradingRedisCache`` answers a failed ``get`` with the default,
a failed ``set``/``add``/``delete``/``touch`` as "nothing stored", ``get_many`` with ``{}``,
and logs the outage once (then once a minute while it lasts, and once when Redis answers
again), never once per request. After a failure it does not even try Redis for
``RETRY_INTERVAL`` seconds: a Redis that blackholes connections would otherwise cost every
request the connect timeout.

What must not degrade asks for it explicitly, with ``strict(cache)``, and gets the plain
``RedisCache`` behaviour (it raises):

- the deny list of revoked JWT access tokens (idp.denylist): a miss there would read
  "not revoked", so it fails closed instead;
- counters (``incr``/``decr``, what rate limits count with) are never degraded, not even on
  this class: a counter that silently stops counting is a limit that silently stops limiting.
  The error reaches the caller, and core.outage answers the request with 503.
- ``/readyz``, which must see the outage it reports.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.redis import RedisCache
from django.utils.functional import cached_property

from core.metrics import count_fallback

log = logging.getLogger("tessera.cache")

# What "Redis is unreachable" looks like through redis-py (BusyLoadingError, a Redis still
# loading its data after a restart, is a ConnectionError too).
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


class _Outage:
    """Per-process state of one Redis location: since when it failed, when to log again.

    Module-level, not per cache object: Django makes one cache object per thread."""

    LOG_INTERVAL = 60.0  # seconds between "still unreachable" lines

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since: float | None = None  # monotonic time of the first failure of this outage
        self.skip_until = 0.0
        self.next_log = 0.0
        self.degraded = 0  # operations answered without Redis since the last log line

    def failed(self, location: str, exc: BaseException, retry_interval: float) -> None:
        now = time.monotonic()
        with self.lock:
            self.skip_until = now + retry_interval
            self.degraded += 1
            if self.since is None:
                self.since, self.next_log, count = now, now + self.LOG_INTERVAL, self.degraded
                self.degraded = 0
                count_fallback("cache")
                log.warning("cache: Redis at %s unreachable (%s); serving without the cache", location,
                            type(exc).__name__)
            elif now >= self.next_log:
                self.next_log, count = now + self.LOG_INTERVAL, self.degraded
                self.degraded = 0
                log.warning("cache: Redis at %s still unreachable after %.0f s (%d operations answered "
                            "without it)", location, now - self.since, count)

    def skipping(self) -> bool:
        if self.since is None:
            return False
        now = time.monotonic()
        with self.lock:
            if now < self.skip_until:
                self.degraded += 1
                return True
            return False

    def succeeded(self, location: str) -> None:
        if self.since is None:  # the common case, without the lock
            return
        with self.lock:
            if self.since is not None:
                log.warning("cache: Redis at %s reachable again after %.1f s", location,
                            time.monotonic() - self.since)
                self.since, self.degraded = None, 0


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _outage_of(location: str) -> _Outage:
    with _outages_lock:
        return _outages.setdefault(location, _Outage())


class DegradingRedisCache(RedisCache):
    """``RedisCache`` whose reads miss and writes do nothing while Redis is unreachable.

    ``incr``/``decr``/``clear`` keep raising (see the module docstring); ``strict`` is the
    same cache without any degrading, for callers that must fail closed."""

    RETRY_INTERVAL = 2.0  # seconds without trying Redis after a failure

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._server_spec = server
        self._params = params
        self._location = server if isinstance(server, str) else ",".join(server)
        self._outage = _outage_of(self._location)

    @cached_property
    def strict(self) -> RedisCache:
        """The same Redis through Django's plain ``RedisCache``: every error raises."""
        return RedisCache(self._server_spec, self._params)

    def _call(self, operation: str, fallback: Any, *args: Any, **kwargs: Any) -> Any:
        if self._outage.skipping():
            return fallback
        try:
            result = getattr(super(), operation)(*args, **kwargs)
        except UNREACHABLE as exc:
            self._outage.failed(self._location, exc, self.RETRY_INTERVAL)
            return fallback
        self._outage.succeeded(self._location)
        return result

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._call("get", default, key, default, version=version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._call("set", None, key, value, timeout, version=version)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return bool(self._call("add", False, key, value, timeout, version=version))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return bool(self._call("touch", False, key, timeout, version=version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return bool(self._call("delete", False, key, version=version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return bool(self._call("has_key", False, key, version=version))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return dict(self._call("get_many", {}, keys, version=version))

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT,
                 version: int | None = None) -> list[Any]:
        # Django's contract: the keys that could not be stored.
        return list(self._call("set_many", list(data), data, timeout, version=version))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._call("delete_many", None, keys, version=version)


def strict(cache: BaseCache) -> BaseCache:
    """``cache`` as it behaves without degrading: the plain ``RedisCache`` view of a
    ``DegradingRedisCache``, any other backend as it is (local memory never degrades).
    Takes ``django.core.cache.cache`` too, a proxy that forwards attributes to the backend."""
    view = getattr(cache, "strict", None)
    return view if isinstance(view, BaseCache) else cache
