"""The background jobs on real processes: ``celery -A settings.celery beat`` and ``celery -A
settings.celery worker`` started here as subprocesses, on a throwaway Redis broker (the
``redis_server`` fixture), against the test database as the application role (row-level
security binds them as it binds gunicorn), not eagerly.

- Beat alone schedules ``cleanup_all_tenants`` (every TESSERA_CLEANUP_INTERVAL, 2 s here); the
  worker fans it out to one ``cleanup_tenant`` per tenant, each through the audited platform
  door, and every tenant's dead tokens go while its live ones stay.
- Four runs of the same tenant's cleanup at once on a worker with two processes delete each
  row once, and none fails.
- A stopped worker stops nothing else: beat keeps enqueuing (the backlog waits in Redis),
  sign-ins and grants work, and a worker started again drains the backlog and cleans up.

Each process's output goes to a file under the test's tmp_path and is printed when the test
fails; every process is stopped in the fixture's teardown, whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import redis
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from audit.models import Action, AuditEvent
from audit.verification import verify_chain
from idp.models import AccessToken, RefreshToken
from idp.tasks import cleanup_tenant
from settings.celery import app as celery_app
from tenants.context import tenant_context
from tests.oidc import Browser
from tests.security.flows import full_flow, token_request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

INTERVAL = 2  # TESSERA_CLEANUP_INTERVAL of the beat started here (seconds)
DEADLINE = 60  # seconds any one thing awaited here may take
BROKER_DB = 3  # a Redis database of its own (the audit spool's tests use database 0)
QUEUE = "celery"  # Celery's default queue: a Redis list of messages waiting for a worker
ALL_TENANTS = "idp.tasks.cleanup_all_tenants"  # the task beat sends
LONG_AGO = timezone.now() - timedelta(days=400)
World = Any  # tests.conftest.TenantWorld, whose fields are typed object
# A worker's or beat's log line that means something went wrong (Celery's and Django's formats).
FAILURE = re.compile(r"raised unexpected|Traceback|\bERROR\b|\bCRITICAL\b")
# Celery's worker log format: "[2025-01-31 12:00:00,123: INFO/ForkPoolWorker-1] Task ... succeeded in 0.5s: 42"
SUCCEEDED = re.compile(r"^\[(?P<at>[\d-]+ [\d:,]+): INFO/(?P<process>[\w-]+)\] Task idp\.tasks\.cleanup_tenant"
                       r"\[[\w-]+\] succeeded in (?P<seconds>[\d.e-]+)s: (?P<deleted>\d+)$", re.MULTILINE)
ALL_TENANTS_DONE = re.compile(r"Task idp\.tasks\.cleanup_all_tenants\[[\w-]+\] succeeded in [\d.e-]+s: (\d+)$",
                              re.MULTILINE)


# -- processes -----------------------------------------------------------------------------

@dataclass
class Process:
    """A Celery process started by the test; stdout and stderr go to ``log``."""

    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def terminate(self) -> None:
        """SIGTERM: a worker's warm shutdown (running tasks finish, reserved ones go back to
        the queue); beat's exit."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then SIGKILL of its process group if it has not exited in ``timeout``; the
        exit status."""
        self.terminate()
        if self.popen.poll() is None:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)  # its own session: itself and its pool
                self.popen.wait()
        if self.popen.returncode != 0:  # died or killed: no pool process of it may live on
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode


@dataclass
class Celery:
    """Starts beat and workers against the test database and the throwaway broker."""

    broker_url: str
    broker: redis.Redis
    env: dict[str, str]
    tmp: Path
    started: list[Process] = field(default_factory=list)

    def _start(self, name: str, *args: str) -> Process:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "settings.celery", *args],
                cwd=settings.BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def worker(self, name: str, *, concurrency: int = 2) -> Process:
        """A prefork worker, as production runs it; returns once it is ready for tasks."""
        process = self._start(name, "worker", "--loglevel", "INFO", "--hostname", f"{name}@%h",
                              "--pool", "prefork", "--concurrency", str(concurrency),
                              "--without-gossip", "--without-mingle", "--without-heartbeat")
        self.wait_for(f"{name} ready", lambda: " ready." in process.output())
        return process

    def beat(self) -> Process:
        """Beat, its schedule file and pidfile in the test's tmp_path."""
        return self._start("beat", "beat", "--loglevel", "INFO", "--schedule", str(self.tmp / "beat-schedule"),
                           "--pidfile", str(self.tmp / "beat.pid"), "--max-interval", "1")

    def queued(self, task: str) -> int:
        """Messages of ``task`` waiting in the queue (a Redis list of JSON messages)."""
        return sum(json.loads(message)["headers"]["task"] == task for message in self.broker.lrange(QUEUE, 0, -1))

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} (exit {p.popen.returncode}) {p.log} -----\n{p.output()}"
                         for p in self.started)

    def wait_for(self, what: str, condition: Callable[[], object], deadline: float = DEADLINE) -> None:
        """Poll ``condition`` until it is true; fail with every process's log as soon as a
        process started here dies or logs a failure, or when ``deadline`` seconds pass."""
        end = time.monotonic() + deadline
        while not condition():
            self.assert_no_failure()
            dead = [p.name for p in self.started if not p.running and p.popen.returncode not in (0, None)
                    and p.popen.returncode != -signal.SIGTERM]
            if dead:
                pytest.fail(f"waiting for {what}: {', '.join(dead)} exited\n{self.logs()}")
            if time.monotonic() > end:
                pytest.fail(f"waiting for {what}: not within {deadline} s\n{self.logs()}")
            time.sleep(0.2)

    def assert_no_failure(self) -> None:
        for process in self.started:
            failures = [line for line in process.output().splitlines() if FAILURE.search(line)]
            assert not failures, f"{process.name} logged a failure: {failures}\n{self.logs()}"


def database_url() -> str:
    """DATABASE_URL of the test database as the test process reaches it: the application role
    (tests/conftest.py's django_db_setup points "default" at the database "owner" created)."""
    db = connection.settings_dict
    auth = quote(db["USER"], safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    query = {"host": db["HOST"], "port": db["PORT"], **db.get("OPTIONS", {})}
    return f"postgres://{auth}@/{quote(db['NAME'], safe='')}?{urlencode({k: v for k, v in query.items() if v})}"


@pytest.fixture
def celery(transactional_db, redis_server, tmp_path) -> Iterator[Celery]:
    """Launches Celery processes; teardown stops them (before the database is flushed) and
    prints their output, which pytest shows with a failing test."""
    # Kombu's spelling of a Redis Unix socket (redis_server.url is redis-py's unix://).
    broker_url = f"redis+socket://{redis_server.socket}?virtual_host={BROKER_DB}"
    broker = redis.Redis(unix_socket_path=str(redis_server.socket), db=BROKER_DB)
    broker.flushdb()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_OWNER_URL", "TESSERA_TEST_DATABASE", "REDIS_URL", "TESSERA_AUDIT_SPOOL_URL"}}
    env.update({
        # The suite's own (pytest-django set it from pytest.ini; settings.SETTINGS_MODULE is
        # None under the live server's override_settings).
        "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
        # The application role only (settings.test takes it for "owner" too without
        # DATABASE_OWNER_URL): no process started here can connect as the tables' owner.
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TESSERA_CLEANUP_INTERVAL": str(INTERVAL),
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    })
    launcher = Celery(broker_url=broker_url, broker=broker, env=env, tmp=tmp_path)
    try:
        yield launcher
    finally:
        try:
            for process in launcher.started:  # all at once: a worker's warm shutdown takes a while
                process.terminate()
            for process in launcher.started:
                process.stop()
            print(launcher.logs())
        finally:
            broker.flushdb()
            broker.close()


@contextlib.contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """The test process's Celery app sends tasks to ``broker_url`` (not eagerly) in the block;
    its configuration and broker connection pools are restored after."""
    conf, amqp = celery_app.conf, celery_app.amqp
    saved = {"broker_url": conf.broker_url, "task_always_eager": conf.task_always_eager}
    saved_pools = celery_app._pool, amqp._producer_pool
    celery_app._pool = amqp._producer_pool = None
    conf.update(broker_url=broker_url, task_always_eager=False)
    try:
        yield
    finally:
        for pool in (amqp._producer_pool, celery_app._pool):
            if pool is not None:
                pool.force_close_all()
        conf.update(saved)
        celery_app._pool, amqp._producer_pool = saved_pools


# -- data ----------------------------------------------------------------------------------

@dataclass
class Seeded:
    """Tokens of one tenant: ``dead`` access tokens that expired long ago (half of them with a
    refresh token, idle past its lifetime) and two pairs that must stay: a live access token,
    and an expired one whose refresh token still refreshes."""

    world: World
    dead: int
    kept: list[str]

    def dead_left(self) -> int:
        with tenant_context(self.world.tenant):
            return (AccessToken.objects.filter(expires__lte=LONG_AGO).count()
                    + RefreshToken.objects.filter(token__contains="-dead-").count())

    def kept_left(self) -> int:
        with tenant_context(self.world.tenant):
            return (AccessToken.objects.filter(token_checksum__in=self.kept).count()
                    + RefreshToken.objects.filter(token__contains="-kept-").count())


def seed(world: World, dead: int) -> Seeded:
    now, slug = timezone.now(), world.tenant.slug

    def access(label: str, expires: datetime) -> AccessToken:
        checksum = hashlib.sha256(f"{slug}-{label}".encode()).hexdigest()
        return AccessToken(tenant=world.tenant, user=world.user, application=world.web.application, expires=expires,
                           scope="openid", token="", token_checksum=checksum)

    kept = [access("kept-live", now + timedelta(hours=1)), access("kept-refreshable", now - timedelta(hours=1))]
    with tenant_context(world.tenant):
        expired = AccessToken.objects.bulk_create([access(f"dead-{i}", LONG_AGO) for i in range(dead)], batch_size=5000)
        AccessToken.objects.bulk_create(kept)
        RefreshToken.objects.bulk_create(
            [RefreshToken(tenant=world.tenant, user=world.user, application=world.web.application, access_token=token,
                          token=f"{slug}-{label}-{i}")
             for label, tokens in (("dead", expired[: dead // 2]), ("kept", kept)) for i, token in enumerate(tokens)],
            batch_size=5000)
    seeded = Seeded(world, dead, [token.token_checksum for token in kept])
    assert seeded.dead_left() == dead + dead // 2 and seeded.kept_left() == 4
    return seeded


def cleanup_accesses(world: World) -> int:
    """How often the platform door was opened into the tenant for a cleanup."""
    with tenant_context(world.tenant):
        return sum("cleanup" in event.details.get("reason", "")
                   for event in AuditEvent.objects.filter(action=Action.PLATFORM_ACCESS))


# -- tests ---------------------------------------------------------------------------------

def test_beat_schedules_the_cleanup_and_a_worker_cleans_every_tenant(celery, world_a, world_b):
    tenants = [seed(world_a, 300), seed(world_b, 200)]
    beat = celery.beat()
    worker = celery.worker("worker")
    celery.wait_for("every tenant's dead tokens deleted by the worker",
                    lambda: all(seeded.dead_left() == 0 for seeded in tenants))

    for seeded in tenants:
        assert seeded.kept_left() == 4  # the live tokens, and the refreshable pair
        assert cleanup_accesses(seeded.world) >= 1  # through the audited platform door
        with tenant_context(seeded.world.tenant):
            assert verify_chain().ok
    # Beat sent the job on its own (nothing here sent anything), the worker fanned it out.
    assert "Sending due task cleanup-expired (idp.tasks.cleanup_all_tenants)" in beat.output()
    log = worker.output()
    assert "2" in ALL_TENANTS_DONE.findall(log), log  # one cleanup_tenant enqueued per tenant
    assert re.search(r"cleanup acme: [1-9]\d* rows deleted", log) and re.search(r"cleanup globex: [1-9]", log), log
    # The worker's only credentials are the application role's, which RLS binds: no
    # superuser, no BYPASSRLS, owner of no table.
    app_role = connection.settings_dict["USER"]
    assert celery.env["DATABASE_URL"].startswith(f"postgres://{quote(app_role, safe='')}")
    assert app_role != connections["owner"].settings_dict["USER"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls, (SELECT count(*) FROM pg_tables WHERE tableowner = rolname)"
                       " FROM pg_roles WHERE rolname = %s", [app_role])
        assert cursor.fetchone() == (False, False, 0)
    celery.assert_no_failure()


def test_the_same_tenants_cleanup_four_times_at_once_deletes_each_row_once(celery, world_a):
    seeded = seed(world_a, 6000)  # 9000 rows: 6000 access tokens, 3000 refresh tokens
    worker = celery.worker("worker", concurrency=2)  # two processes, two database connections
    with publishing_to(celery.broker_url):
        for _ in range(4):
            cleanup_tenant.delay(world_a.tenant.pk, batch_size=200)
    celery.wait_for("four cleanups of acme", lambda: len(SUCCEEDED.findall(worker.output())) == 4)

    runs = [match.groupdict() for match in SUCCEEDED.finditer(worker.output())]
    assert sum(int(run["deleted"]) for run in runs) == 9000, runs  # each row deleted once
    assert seeded.dead_left() == 0 and seeded.kept_left() == 4
    assert cleanup_accesses(world_a) == 4
    with tenant_context(world_a.tenant):
        assert verify_chain().ok  # four audit events appended at once, one chain

    def interval(run: dict) -> tuple[float, float]:
        end = datetime.strptime(run["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        return end - float(run["seconds"]), end

    # They did run at once: two runs in different pool processes overlapped in time.
    overlapping = [(a, b) for i, a in enumerate(runs) for b in runs[i + 1:] if a["process"] != b["process"]
                   and interval(a)[0] < interval(b)[1] and interval(b)[0] < interval(a)[1]]
    assert overlapping, runs
    celery.assert_no_failure()
    print("four cleanups at once:", ", ".join(f"{r['process']} {r['deleted']} rows in {r['seconds']} s" for r in runs))


def test_a_stopped_worker_stops_nothing_else_and_a_new_one_drains_the_backlog(
        celery, live_server, issuer_a, world_a):
    beat = celery.beat()
    worker = celery.worker("worker-1")
    celery.wait_for("worker-1 running beat's job", lambda: ALL_TENANTS_DONE.search(worker.output()))
    assert worker.stop() == 0  # warm shutdown
    seeded = seed(world_a, 300)

    # Beat keeps sending the job; the messages wait in Redis.
    celery.wait_for("a backlog of three jobs in the queue", lambda: celery.queued(ALL_TENANTS) >= 3)
    # Sign-ins and grants do not need a worker.
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    assert token_request(issuer_a, {"grant_type": "client_credentials"}, client_id, secret).status_code == 200
    assert "access_token" in full_flow(Browser(live_server.url), issuer_a, world_a)
    assert beat.running
    assert seeded.dead_left() == 450  # nothing cleaned up meanwhile
    backlog = celery.queued(ALL_TENANTS)

    replacement = celery.worker("worker-2")
    celery.wait_for("the backlog drained and acme cleaned up",
                    lambda: celery.broker.llen(QUEUE) == 0 and seeded.dead_left() == 0)
    assert seeded.kept_left() == 4
    celery.wait_for("the backlog's jobs run",
                    lambda: len(ALL_TENANTS_DONE.findall(replacement.output())) >= backlog)
    celery.assert_no_failure()
