"""A served Tessera whose services the fault tests take away (issue 15): a PostgreSQL cluster of
its own (so it can be restarted without touching the suite's database), a restartable Redis
(cache, Celery broker and audit spool, as in production), gunicorn with two sync workers on
``settings.production`` with persistent connections, and the audit shipper. Provisioned
like the benchmark (bench/provision.py): tenant ``bench`` with a user, two client-credentials
clients (opaque and JWT) and a first-party web client.

gunicorn is reached directly over http with ``X-Forwarded-Proto: https`` (the header nginx
sets; settings.production trusts it), so Secure cookies and the https issuer are as deployed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devtools.faults import RestartableRedis
from devtools.pgcluster import Cluster, start_cluster
from tests.faults.flows import Target

ROOT = Path(__file__).resolve().parents[2]
TENANT = "bench"
OWNER, APP = "tessera_owner", "tessera_app"
# The sign-in and client limits of the tenant, raised out of the load's way (one IP, thousands
# of requests a minute); the rate limits have tests of their own (tests/security).
GENEROUS_LIMITS = """
from tenants.models import Tenant
from tenants.services import POLICY_FIELDS, update_policy
wanted = {"risk_step_up_threshold": 100, "ratelimit_signin_per_ip": 1000000, "ratelimit_signin_per_account": 1000000,
          "ratelimit_client_requests": 1000000, "ratelimit_recovery_per_ip": 1000000,
          "ratelimit_recovery_per_account": 1000000}
for tenant in Tenant.objects.filter(slug__in=%r):
    update_policy(tenant, **{k: v for k, v in wanted.items() if k in POLICY_FIELDS})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    cluster: Cluster
    redis: RestartableRedis
    work: Path
    env: dict[str, str]
    port: int
    info: dict = field(default_factory=dict)
    gunicorn: subprocess.Popen | None = None
    shipper: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def target(self) -> Target:
        return Target(self.base, TENANT, self.info, headers={"X-Forwarded-Proto": "https"})

    def manage(self, *args: str, check: bool = True, owner: bool = False) -> subprocess.CompletedProcess:
        env = {**self.env, "DATABASE_URL": self.cluster.url("tessera", user=OWNER)} if owner else self.env
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=check,
                              capture_output=True, text=True, timeout=300)

    def sql(self, query: str) -> str:
        """As the superuser (past row-level security): the database's own view."""
        return self.cluster.psql(query, dbname="tessera").strip()

    def gunicorn_log(self) -> str:
        path = self.work / "gunicorn.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_gunicorn(self, workers: int = 2) -> None:
        log = (self.work / "gunicorn.log").open("a")
        self.gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "settings.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
             "--worker-class", "sync", "--timeout", "60", "--graceful-timeout", "5"],
            cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True)
        wait_until_up(f"{self.base}/healthz")

    def start_shipper(self) -> None:
        log = (self.work / "shipper.log").open("a")
        self.shipper = subprocess.Popen([sys.executable, "manage.py", "ship_audit"], cwd=ROOT, env=self.env,
                                        stdout=log, stderr=log, start_new_session=True)

    def worker_pids(self) -> list[int]:
        assert self.gunicorn is not None
        pid = self.gunicorn.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def stop(self) -> None:
        for process in (self.gunicorn, self.shipper):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)

    # -- what the database says ---------------------------------------------------------------

    def wait_for_spool(self, timeout: float = 60) -> int:
        """Wait until the audit spool is empty (the shipper chained everything); what is left."""
        import redis

        client = redis.Redis.from_url(self.redis.url)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                left = int(client.xlen("tessera:audit"))
                if not left:
                    return 0
                time.sleep(0.3)
            return left
        finally:
            client.close()

    def token_event_request_ids(self) -> set[str]:
        rows = self.sql("SELECT request_id FROM audit_auditevent WHERE action IN ('token.issued', 'token.refreshed')")
        return set(rows.split())

    def verify_audit(self) -> subprocess.CompletedProcess:
        return self.manage("verify_audit", "--tenant", TENANT, check=False)


def wait_until_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def build_stack() -> Stack:
    """Start and provision everything; the caller stops it (``Stack.stop``, then the services)."""
    work = Path(tempfile.mkdtemp(prefix="tessera-faults-"))
    cluster = start_cluster()
    redis_server = RestartableRedis().start()
    cluster.psql(f"CREATE ROLE {OWNER} LOGIN; CREATE ROLE {APP} LOGIN")
    cluster.psql(f"CREATE DATABASE tessera OWNER {OWNER}")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "TESSERA_", "REDIS_",
                                                                      "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "settings.production",
        "DATABASE_URL": cluster.url("tessera", user=APP),
        "TESSERA_DATABASE_APP_ROLE": APP,
        "DB_CONN_MAX_AGE": "600",  # persistent connections, as deployed: they must survive a restart
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TESSERA_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "TESSERA_PUBLIC_URL": "https://idp.faults.invalid",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_server.url,
        "TESSERA_AUDIT_SPOOL_URL": redis_server.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",  # tasks go to the broker (no worker here: they wait)
        # Production serves hashed static files from a manifest: collected into this stack's own
        # directory (a fresh checkout has none; the shared var/static may be another run's).
        "STATIC_ROOT": str(work / "static"),
    }
    stack = Stack(cluster=cluster, redis=redis_server, work=work, env=env, port=free_port())
    try:
        stack.manage("migrate", "--noinput", "-v0", owner=True)
        stack.manage("collectstatic", "--noinput", "-v0")
        provision = subprocess.run([sys.executable, "bench/provision.py", "10", str(work / "refresh.txt")],
                                   cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300)
        stack.info = json.loads(provision.stdout)
        stack.manage("shell", "-c", GENEROUS_LIMITS % ([TENANT],))
        stack.start_gunicorn()
        stack.start_shipper()
    except BaseException:
        stack.stop()
        redis_server.destroy()
        cluster.stop()
        raise
    return stack
