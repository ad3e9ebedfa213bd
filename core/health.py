"""Liveness and readiness, for load balancers and orchestrators: ``/healthz`` and ``/readyz``.

``/healthz`` answers as long as the process serves requests; it touches nothing else, so a
database outage never gets healthy web processes restarted. ``/readyz`` checks what a request
needs: the database, the cache (which also holds the deny list of revoked JWTs) and the
Celery broker, all at once, each within ``CHECK_TIMEOUT`` seconds, and names what failed. A
check runs in a thread of its own (with its own database connection), so an address that
never answers costs the probe its timeout, not a worker's whole request time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, TimeoutError, wait

from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from core.cache import strict

CHECK_TIMEOUT = 2.0  # seconds, for all checks together (they run at once)
NOT_USED = "not used"


def _database() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connections.close_all()  # this thread's connection, never reused
    return "ok"


def _cache() -> str:
    # strict: the default cache degrades to a miss while Redis is down (core.cache); readiness
    # must see the outage, by its error's name.
    key, checked = f"tessera:readyz:{uuid.uuid4().hex}", strict(cache)
    checked.set(key, "1", timeout=10)
    found = checked.get(key)
    checked.delete(key)
    if found != "1":
        raise LookupError("a value written was not read back")
    return "ok"


def _broker() -> str:
    from celery import current_app

    if current_app.conf.task_always_eager:
        return f"{NOT_USED} (tasks run in the web process)"
    with current_app.connection_for_write(connect_timeout=CHECK_TIMEOUT) as connection:
        connection.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {"database": _database, "cache": _cache, "broker": _broker}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """GET /healthz: the process is alive."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """GET /readyz: 200 when the database, the cache and the broker answer, else 503 naming
    each that failed (the exception's class only: its text may name hosts)."""
    results: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
    futures = {name: pool.submit(check) for name, check in CHECKS.items()}
    wait(futures.values(), timeout=CHECK_TIMEOUT)
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=0)
        except TimeoutError:
            results[name] = f"failed: no answer within {CHECK_TIMEOUT:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            results[name] = f"failed: {type(exc).__name__}"
    pool.shutdown(wait=False, cancel_futures=True)
    ready = all(not value.startswith("failed") for value in results.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": results},
                        status=200 if ready else 503)
