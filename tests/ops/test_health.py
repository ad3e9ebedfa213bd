"""Liveness and readiness (/healthz, /readyz), as a load balancer or an orchestrator sees them:
ready with the services up, not ready naming each service that is down, alive either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
CLOSED = "127.0.0.1:1"  # nothing listens there: connections are refused at once

# The same request, in a process of its own whose settings point at the given services.
PROBE = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/{path}", HTTP_HOST="localhost")
print(json.dumps({{"status": response.status_code, "body": json.loads(response.content)}}))
"""


def _probe(path: str, **env: str) -> tuple[int, dict]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.dev", "PYTHONPATH": str(ROOT), **env}
    environment.pop("TESSERA_TEST_DATABASE", None)
    done = subprocess.run([sys.executable, "-c", PROBE.format(path=path)], cwd=ROOT, env=environment,  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["status"], result["body"]


@pytest.mark.django_db
def test_alive_and_ready_with_the_services_up():
    alive = Client().get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    assert "no-cache" in alive["Cache-Control"]
    ready = Client().get("/readyz")
    assert ready.status_code == 200, ready.content
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["cache"] == "ok"
    assert checks["broker"].startswith("not used")  # the suite runs tasks eagerly


def test_not_ready_names_each_service_that_is_down_and_stays_alive():
    """The database, the cache (Redis) and the broker all refused: each is named, within the
    checks' timeout; /healthz still answers, so nobody restarts a process that is fine."""
    down = {"DATABASE_URL": f"postgres://tessera@{CLOSED}/tessera", "REDIS_URL": f"redis://{CLOSED}/0",
            "CELERY_TASK_ALWAYS_EAGER": "false"}
    started = time.monotonic()
    status, body = _probe("readyz", **down)
    assert time.monotonic() - started < 30
    assert status == 503 and body["status"] == "not ready", body
    assert {name: value.split(":")[0] for name, value in body["checks"].items()} == {
        "database": "failed", "cache": "failed", "broker": "failed"}, body
    assert CLOSED not in json.dumps(body)  # the class of the failure, never an address or a URL
    assert _probe("healthz", **down) == (200, {"status": "ok"})


def test_ready_with_a_real_redis_as_cache_and_broker(redis_server):
    status, body = _probe("readyz", REDIS_URL=redis_server.url, CELERY_TASK_ALWAYS_EAGER="false")
    assert status == 200, body
    assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}
