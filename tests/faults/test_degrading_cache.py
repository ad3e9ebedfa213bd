"""Redis taken away from the cache, the deny list, readiness and the task queue, in this process
(issue 15), on a real redis-server that is stopped, frozen and started again.

- The default cache (core.cache.DegradingRedisCache) answers misses and stores nothing while
  Redis is down, logs the outage once and its end once, and is itself again when Redis is back.
- What must fail closed still does: the deny list of revoked JWT access tokens (a miss there
  would read "not revoked"), counters, ``/readyz``'s cache check.
- Enqueueing a task with the broker down or frozen fails within seconds, and an email that
  could not be queued is logged (accounts.mail), never raised into the request after its commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from celery import Celery
from django.conf import settings as django_settings
from django.core.cache import caches

from core import health
from core.cache import DegradingRedisCache, strict
from idp import denylist

DEGRADING = "core.cache.DegradingRedisCache"


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    """Records of the tessera and idp loggers (a handler of its own: works with -p no:logging)."""
    handler = _Collected()
    loggers = [logging.getLogger(name) for name in ("tessera.cache", "tessera.mail", "idp")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture
def degrading_cache(restartable_redis, settings) -> DegradingRedisCache:
    """The default cache as production configures it (settings.base with REDIS_URL)."""
    settings.CACHES = {"default": {"BACKEND": DEGRADING, "LOCATION": restartable_redis.url,
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    cache = caches["default"]
    assert isinstance(cache, DegradingRedisCache)
    cache.RETRY_INTERVAL = 0.2  # this test waits for its retries; production skips Redis for 2 s
    return cache


def test_production_settings_use_the_degrading_cache():
    import importlib
    import os
    from unittest import mock

    import settings.base

    with mock.patch.dict(os.environ, {"REDIS_URL": "unix:///nowhere/redis.sock"}):
        reloaded = importlib.reload(settings.base)
        try:
            assert reloaded.CACHES["default"]["BACKEND"] == DEGRADING
            assert reloaded.DATABASES["default"]["CONN_HEALTH_CHECKS"] is False  # a round trip per request
            assert reloaded.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] <= 2
        finally:
            importlib.reload(settings.base)
    with mock.patch.dict(os.environ, {"DB_CONN_HEALTH_CHECKS": "true"}):
        try:
            assert importlib.reload(settings.base).DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
        finally:
            importlib.reload(settings.base)


def test_with_redis_stopped_the_cache_misses_quietly_and_recovers(restartable_redis, degrading_cache, logged):
    cache = degrading_cache
    cache.set("kept", "before", 60)
    assert cache.get("kept") == "before"

    restartable_redis.stop()
    started = time.monotonic()
    for _ in range(200):  # a busy process: every call answers at once, none raises
        assert cache.get("kept") is None
        assert cache.get("kept", "fallback") == "fallback"
        assert cache.set("other", 1, 60) is None
        assert cache.add("other", 1, 60) is False
        assert cache.delete("kept") is False
        assert cache.get_many(["kept", "other"]) == {}
        assert cache.set_many({"a": 1}, 60) == ["a"]
        assert cache.get_or_set("computed", lambda: "fresh", 60) == "fresh"
    assert time.monotonic() - started < 5
    # Counters never degrade (a rate limit that stopped counting would stop limiting).
    with pytest.raises(Exception) as raised:
        cache.incr("counter")
    assert not isinstance(raised.value, ValueError)  # not "missing key": the outage itself
    with pytest.raises(Exception):  # noqa: B017 - the plain RedisCache raises whatever redis-py raises
        strict(cache).get("kept")
    outage = [r.getMessage() for r in logged if r.name == "tessera.cache"]
    assert len(outage) == 1 and "unreachable" in outage[0], outage  # once per outage, not per call

    restartable_redis.start()
    time.sleep(cache.RETRY_INTERVAL + 0.1)
    assert cache.get("kept") == "before"  # the data survived (append-only file), the cache is back
    cache.set("after", "yes", 60)
    assert strict(cache).get("after") == "yes"
    messages = [r.getMessage() for r in logged if r.name == "tessera.cache"]
    assert len(messages) == 2 and "reachable again" in messages[1], messages


def test_the_deny_list_fails_closed_on_the_degrading_cache(restartable_redis, degrading_cache, logged):
    exp = time.time() + 600
    assert denylist.deny(7, "jti-revoked", exp) is True
    assert denylist.is_denied(7, "jti-revoked") and not denylist.is_denied(7, "jti-live")

    restartable_redis.stop()
    # A miss would read "not revoked": the deny list reads through strict(), which raises.
    with pytest.raises(denylist.DenyListUnavailable):
        denylist.is_denied(7, "jti-live")
    assert denylist.revoked(7, "jti-live", where="introspection") is True
    assert denylist.revoked(7, "jti-revoked", where="userinfo") is True
    with pytest.raises(denylist.DenyListUnavailable):
        denylist.deny(7, "jti-other", exp)
    assert any("deny list unreachable" in r.getMessage() for r in logged)

    restartable_redis.start()
    assert denylist.is_denied(7, "jti-revoked") and not denylist.is_denied(7, "jti-live")


def test_readiness_sees_the_cache_outage(restartable_redis, degrading_cache):
    assert health._cache() == "ok"
    restartable_redis.stop()
    with pytest.raises(Exception) as raised:
        health._cache()
    assert type(raised.value).__name__ in {"ConnectionError", "TimeoutError"}


def _app(broker_url: str) -> Celery:
    """A Celery app configured from the project's settings, as settings.celery configures its own."""
    app = Celery("faults")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(broker_url="redis+socket://" + broker_url.removeprefix("unix://"), task_always_eager=False)
    return app


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_enqueue_fails_fast_when_the_broker_is_down(restartable_redis, fault):
    app = _app(restartable_redis.url)
    app.send_task("accounts.tasks.send_account_email", args=(1, "uid", "password_reset", "https://x/t/a"))
    getattr(restartable_redis, "stop" if fault == "stopped" else "pause")()
    try:
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            app.send_task("accounts.tasks.send_account_email", args=(1, "uid", "password_reset", "https://x/t/a"))
        elapsed = time.monotonic() - started
    finally:
        restartable_redis.resume()
    assert type(raised.value).__name__ == "OperationalError"
    # kombu's default waits for ever on a frozen Redis; the settings bound it (settings.base): a
    # refused connection fails at once, a frozen Redis after at most three socket timeouts (the
    # publish, the reconnection's first command, the one retry).
    timeout = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"]
    assert elapsed < (1 if fault == "stopped" else 3 * timeout + 1), elapsed


def test_an_email_that_cannot_be_queued_is_logged_not_raised(restartable_redis, logged, monkeypatch):
    from accounts import mail
    from accounts.tasks import send_account_email

    app = _app(restartable_redis.url)
    monkeypatch.setattr(send_account_email, "_app", app)  # the task, on a broker that is down
    restartable_redis.stop()
    started = time.monotonic()
    mail._enqueue(1, "0b7f3c1e-uid", "password_reset", "https://idp.example/t/a", "en", {"code": "123456"})
    assert time.monotonic() - started < 5
    lines = [r.getMessage() for r in logged if r.name == "tessera.mail"]
    assert len(lines) == 1 and "'password_reset'" in lines[0] and "not sent" in lines[0], lines
    assert "123456" not in lines[0]  # what the email carried never reaches the log
