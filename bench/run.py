#!/usr/bin/env python3
"""Benchmark: Tessera and a vanilla django-oauth-toolkit peer, on one PostgreSQL cluster, with
the server, PostgreSQL and Redis on one core and wrk (Lua scenarios) on the other. Prints a
Markdown results table (and writes it to bench/results/latest.md).

    make bench                       # or: .venv/bin/python bench/run.py [--duration 10 --runs 3]
    .venv/bin/python bench/run.py --only floor,opaque --duration 3 --runs 1 --warmup 1 --no-servers

Needs PostgreSQL's server binaries and wrk (apt-get install postgresql wrk redis-server) and two
cores. Closed loop: each scenario keeps a fixed number of connections busy. After a warm-up, it
runs several times and reports the median rate of *successful* responses and the p50/p99
latency of the median run. For each scenario, Tessera's runs are followed by the peer's (the
peer in bench/peers/dot, served by the same server on the same core, from its own database).

Every rate is also divided by the machine reference measured in the same run (a Django JSON
view without middleware under gunicorn sync x3): the targets are those ratios. The password
logins are measured against the Argon2id-only ceiling of the same run (verifications per
second that the server's core does with Tessera's parameters). Then, unless skipped: the
servers section (the reference, and Tessera's floor, opaque client credentials and
introspection under gunicorn sync, gunicorn gthread and granian), the cleanup row, the audit
trail check, and the instruction counts of bench/instructions.py.

--only takes scenario keys (floor, cc_opaque, cc_jwt, refresh, introspection, code_pkce, login,
login_mfa) or words of the row names; the cleanup row and the servers section run under --only
only when named ("cleanup", "servers").
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from audit.spool import STREAM as AUDIT_STREAM  # noqa: E402
from bench.inprocess import TITLES, tessera_database  # noqa: E402
from devtools.pgcluster import start_cluster  # noqa: E402
from devtools.redisserver import start_redis  # noqa: E402

LUA = ROOT / "bench" / "lua"
SERVER_CPU, LOAD_CPU = "0", "1"
TENANT = "bench"
PEER_DB = "peer_dot"  # the peer's database and its owner role (no superuser)

REFERENCE_RATE = 2650  # the machine: a Django JSON view with no middleware, gunicorn sync x3
# The targets, as ratios to the machine reference of the same run.
TARGETS = {"floor": 0.70, "cc_opaque": 0.226, "cc_jwt": 0.566, "refresh": 0.151, "introspection": 0.566,
           "code_pkce": 0.057}
LOGIN_TARGET = 0.85  # of the Argon2id-only ceiling of the same run
LOGIN_KEYS = ("login", "login_mfa")
PEER_TARGET = 1.5  # Tessera's rate against the peer's
RSS_TARGET_MB = 120
REFRESH_PER_SECOND = {"tessera": 2500, "peer": 1000}  # refresh tokens minted per second of load
# The rows of the table, in order (the scenario keys bench/instructions.py shares).
NAMES = TITLES


@dataclass
class Scenario:
    key: str
    name: str
    script: str
    env: dict
    connections: int
    path: str
    runs_tokens: bool = False  # consumes one refresh token per request


@dataclass
class Measured:
    rate: float  # median of the runs' rates of successful responses
    median: dict  # the median run's wrk result
    runs: list[int]
    failed: int  # responses that were not successes, in every run (static scripts: errors)
    ok_total: int  # successful responses, the warm-up's included
    exhausted: bool = False  # a run used up its refresh tokens (its rate is then a lower bound)


@dataclass(frozen=True)
class Server:
    """What serves a WSGI application: gunicorn sync, gunicorn gthread or granian (WSGI)."""

    kind: str
    workers: int
    threads: int = 1

    @property
    def label(self) -> str:
        if self.kind == "gunicorn-sync":
            return f"gunicorn sync x{self.workers}"
        if self.kind == "gunicorn-gthread":
            return f"gunicorn gthread x{self.workers} ({self.threads} threads)"
        return f"granian {version('granian')} WSGI x{self.workers} ({self.threads} blocking threads)"

    def command(self, py: str, module: str, port: int) -> list[str]:
        if self.kind == "granian":
            return [py, "-m", "granian", "--interface", "wsgi", f"{module}:application", "--host", "127.0.0.1",
                    "--port", str(port), "--workers", str(self.workers), "--blocking-threads", str(self.threads),
                    "--backlog", "2048", "--log-level", "warning", "--no-access-log"]
        return [py, "-m", "gunicorn", module, "-w", str(self.workers), "-b", f"127.0.0.1:{port}",
                "--worker-class", self.kind.removeprefix("gunicorn-"), "--threads", str(self.threads),
                "--log-level", "warning", "--backlog", "2048", "--no-control-socket"]


# (workers, threads) of each server unless --workers/--threads say otherwise.
SERVER_DEFAULTS = {"gunicorn-sync": (3, 1), "gunicorn-gthread": (2, 4), "granian": (1, 4)}
REFERENCE_SERVER = Server("gunicorn-sync", 3)  # the yardstick of the machine, whatever serves Tessera


def server_from(kind: str, workers: int | None = None, threads: int | None = None) -> Server:
    default_workers, default_threads = SERVER_DEFAULTS[kind]
    return Server(kind, workers or default_workers, threads or default_threads)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_wrk(base: str, scenario: Scenario, duration: int, threads: int = 2) -> dict:
    env = {**os.environ, **scenario.env, "BENCH_LUA_DIR": str(LUA), "BENCH_THREADS": str(threads)}
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", f"-t{threads}", f"-c{scenario.connections}", f"-d{duration}s",
           "--timeout", "10s", "-s", str(LUA / scenario.script), base + scenario.path]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (\{.*\})", out)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result = json.loads(match.group(1))
    result["rate"] = result["ok"] / (result["duration_us"] / 1e6)
    return result


def wait_until_up(url: str, attempts: int = 150) -> None:
    """Poll ``url`` until it answers 2xx (gunicorn workers import Django first)."""
    for _ in range(attempts):
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@contextmanager
def serving(server: Server, module: str, env: dict, ready_path: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``module``'s WSGI application served by ``server`` on the server's core; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(["taskset", "-c", SERVER_CPU, *server.command(sys.executable, module, port)],
                               cwd=ROOT, env=env, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + ready_path)
        yield base, process
    finally:
        stop(process)


class TokenFeed:
    """Refresh tokens, each handed to wrk once: one file per run, ``per_second`` x its duration."""

    def __init__(self, source: Path, work: Path, per_second: int) -> None:
        self.tokens = source.read_text().split()
        self.work, self.per_second, self.offset = work, per_second, 0

    def chunk(self, duration: int) -> tuple[Path, int]:
        count = self.per_second * duration
        tokens = self.tokens[self.offset:self.offset + count]
        self.offset += count
        path = self.work / f"tokens-{id(self)}-{self.offset}.txt"
        path.write_text("\n".join(tokens) + "\n")
        return path, len(tokens)


def measure(base: str, scenario: Scenario, runs: int, duration: int, warmup: int,
            tokens: TokenFeed | None = None) -> Measured:
    """A warm-up, then ``runs`` runs: the median rate, the median run, every run's rate."""
    results, failed, ok_total, exhausted = [], 0, 0, False
    for run in range(runs + 1):  # run 0 is the warm-up
        seconds = warmup if run == 0 else duration
        handed = 0
        if scenario.runs_tokens:
            assert tokens is not None
            chunk, handed = tokens.chunk(seconds)
            scenario.env["BENCH_TOKENS"] = str(chunk)
        result = run_wrk(base, scenario, seconds)
        exhausted |= scenario.runs_tokens and result["requests"] >= handed
        failed += result["requests"] - result["ok"]
        ok_total += result["ok"]
        if run:
            results.append(result)
    results.sort(key=lambda r: r["rate"])
    return Measured(statistics.median(r["rate"] for r in results), results[len(results) // 2],
                    [round(r["rate"]) for r in results], failed, ok_total, exhausted)


def reference_scenario() -> Scenario:
    return Scenario("reference", "machine reference", "static_get.lua", {}, 8, "/")


def measure_reference(env: dict, args) -> float:
    """Rate of a middleware-free Django JSON view under gunicorn sync x3, on the same core."""
    with serving(REFERENCE_SERVER, "bench.floor_app", env, "/") as (base, _process):
        return measure(base, reference_scenario(), args.runs, args.duration, args.warmup).rate


ARGON2_PROCESSES, ARGON2_SECONDS = 3, 5
_ARGON2_LOOP = """
import sys, time
from accounts.hashers import TesseraArgon2PasswordHasher
hasher = TesseraArgon2PasswordHasher()
encoded = hasher.encode("bench-password", hasher.salt())
start, seconds = float(sys.argv[1]), float(sys.argv[2])
while time.time() < start:
    time.sleep(0.01)
count = 0
while time.time() < start + seconds:
    assert hasher.verify("bench-password", encoded)
    count += 1
print(count / (time.time() - start))
"""


def measure_argon2_ceiling(env: dict) -> float:
    """Argon2id verifications per second on the server's core, with Tessera's hasher and its
    parameters: ARGON2_PROCESSES processes (as many as the sync workers) at once, summed."""
    start = time.time() + 2  # every process has imported its hasher by then
    processes = [subprocess.Popen(["taskset", "-c", SERVER_CPU, sys.executable, "-c", _ARGON2_LOOP, str(start),
                                   str(ARGON2_SECONDS)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(ARGON2_PROCESSES)]
    return sum(float(p.communicate()[0]) for p in processes)


def _proc_times(pid: int | str) -> tuple[int, list[int]]:
    """(ppid, [utime, stime, cutime, cstime]) of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[1]), [int(x) for x in fields[11:15]]


class CpuAccount:
    """CPU time the machine spent in processes other than this benchmark's, over the run: a
    load left running beside it (another benchmark, a test suite) takes the server's core from
    the rates. Busy time of the cores (user, nice, system; /proc/stat) less this process's and
    its waited-for descendants' (servers, wrk, Redis, the provisioning) and the PostgreSQL
    cluster's (its postmaster, which reaps its backends, and the backends alive)."""

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        self.busy0, self.steal0 = self._cores()
        self.ours0 = self._ours()
        self.cluster = 0.0

    @staticmethod
    def _cores() -> tuple[int, int]:
        rows = [line.split() for line in Path("/proc/stat").read_text().splitlines() if re.match(r"cpu\d+ ", line)]
        return sum(int(r[1]) + int(r[2]) + int(r[3]) for r in rows), sum(int(r[8]) for r in rows)

    @staticmethod
    def _ours() -> float:
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system

    def cluster_done(self, cluster) -> None:
        """Before the cluster stops: its processes' CPU time (they are not this process's children)."""
        postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
        ticks = sum(_proc_times(postmaster)[1])
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid, times = _proc_times(entry.name)
                except OSError:
                    continue
                if ppid == postmaster:
                    ticks += sum(times)
        self.cluster = ticks / self.HZ

    def foreign(self) -> tuple[float, float]:
        """(seconds of CPU in other processes, seconds stolen by the hypervisor) since the start."""
        busy, steal = self._cores()
        return ((busy - self.busy0) / self.HZ - (self._ours() - self.ours0) - self.cluster,
                (steal - self.steal0) / self.HZ)


def worker_rss_mb(master_pid: int) -> list[float]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return sizes


def wait_for_spool(redis_server, limit: float) -> tuple[int, float]:
    """Wait (up to ``limit`` seconds) for the audit shipper to empty the spool: (left, seconds)."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    started = time.monotonic()
    while client.xlen(AUDIT_STREAM) and time.monotonic() - started < limit:
        time.sleep(0.5)
    return client.xlen(AUDIT_STREAM), time.monotonic() - started


def audit_summary(py: str, env: dict, redis_server) -> str:
    """After the load: the spool drains, and the tenant's whole chain verifies (nothing lost)."""
    if redis_server:
        left, drained_in = wait_for_spool(redis_server, 120)
    verify = subprocess.run([py, "manage.py", "verify_audit", "--tenant", TENANT], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    lines = (verify.stdout.strip() or verify.stderr.strip()).splitlines()
    result = next((line for line in lines if line.startswith(f"{TENANT}:")), lines[-1] if lines else "?")
    spool = (f"; audit spool {'empty' if not left else f'still holds {left}'} {drained_in:.1f} s after the load"
             if redis_server else "")
    return f"Audit trail after the run: `verify_audit --tenant {TENANT}` -> {result}{spool}."


CLEANUP_TENANTS, CLEANUP_ROWS = 10, 1_000_000
_EXTRA_TENANTS = """
from idp.services.clients import create_client
from tenants.context import tenant_context
from tenants.services import create_tenant
for n in range(1, {count}):
    tenant = create_tenant(f"expired{{n}}", f"Expired {{n}}")
    with tenant_context(tenant):
        create_client(name="Machine", confidential=True, grant_types=["client_credentials"], redirect_uris=[])
"""


def measure_cleanup(cluster, py: str, env: dict, base: str, info: dict, args) -> list[str]:
    """The cleanup row: 1,000,000 expired access tokens across 10 tenants, deleted by
    ``manage.py cleanup_expired`` (on the server's core, as the job runs beside the server)
    while client-credentials grants run; their p99 during the cleanup against without it."""
    subprocess.run([py, "manage.py", "shell", "-c", _EXTRA_TENANTS.format(count=CLEANUP_TENANTS)],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    per_tenant = CLEANUP_ROWS // CLEANUP_TENANTS
    cluster.psql(  # as the superuser, so past row-level security: one client per tenant, expired tokens
        "INSERT INTO idp_accesstoken (tenant_id, user_id, application_id, token, token_checksum, expires, "
        "scope, resource, created, updated, sid) SELECT a.tenant_id, NULL, a.id, '', "
        "encode(sha256(('expired-' || a.tenant_id || '-' || g)::bytea), 'hex'), now() - interval '2 days', "
        "'openid', '[]', now() - interval '3 days', now() - interval '3 days', '' FROM (SELECT DISTINCT ON (tenant_id) "
        f"id, tenant_id FROM idp_application ORDER BY tenant_id, id) a CROSS JOIN generate_series(1, {per_tenant}) g; "
        "ANALYZE idp_accesstoken", dbname="tessera")
    grants = Scenario("cleanup", "client credentials during cleanup", "static_post.lua",
                      {"BENCH_BODY": "grant_type=client_credentials", "BENCH_AUTH": info["cc_auth"],
                       "BENCH_MUST_CONTAIN": "access_token"}, 8, f"/t/{TENANT}/token")
    without = run_wrk(base, grants, args.duration)
    started = time.monotonic()
    cleanup = subprocess.Popen(["taskset", "-c", SERVER_CPU, py, "manage.py", "cleanup_expired"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    during = []
    while cleanup.poll() is None:
        during.append(run_wrk(base, grants, 3))
    out, err = cleanup.communicate()
    elapsed = time.monotonic() - started
    if cleanup.returncode:
        raise RuntimeError(f"cleanup_expired failed: {err}")
    deleted = sum(int(n) for n in re.findall(r"(\d+) access tokens", out))
    longest = max(float(x) for x in re.findall(r"longest batch ([0-9.]+) s", out))
    worst = max(r["p99_us"] for r in during) / 1000 if during else float("nan")
    typical = statistics.median(r["p99_us"] for r in during) / 1000 if during else float("nan")
    rate = statistics.median(r["rate"] for r in during) if during else float("nan")
    return [
        f"Cleanup ({deleted:,} expired access tokens in {CLEANUP_TENANTS} tenants, `manage.py cleanup_expired` "
        f"on the server's core while client-credentials grants run): {elapsed:.1f} s, "
        f"{deleted / elapsed:,.0f} rows/s, longest batch (the longest any lock is held) {longest:.3f} s; "
        f"grant p99 {without['p99_us'] / 1000:.1f} ms without the cleanup, {typical:.1f} ms during it "
        f"(median of {len(during)} runs of 3 s; worst {worst:.1f} ms), {rate:.0f} grants/s during it "
        f"against {without['rate']:.0f}/s without. Targets: under 60 s, no lock over 1 s, p99 within 2x.",
    ]


@dataclass
class Site:
    """Where one identity provider answers each scenario, and the credentials it was provisioned with."""

    jwks: str
    token: str
    introspect: str
    authorize: str
    login: str
    after_login: str  # the login form's ``next``
    csrf_cookie: str
    session_cookie: str
    info: dict = field(default_factory=dict)


TESSERA_SITE = Site(f"/t/{TENANT}/jwks.json", f"/t/{TENANT}/token", f"/t/{TENANT}/introspect",
                    f"/t/{TENANT}/authorize", f"/t/{TENANT}/login", f"/t/{TENANT}/", "tessera_csrf",
                    "tessera_session")
PEER_SITE = Site("/o/.well-known/jwks.json", "/o/token/", "/o/introspect/", "/o/authorize/", "/accounts/login/",
                 "/accounts/done/", "csrftoken", "sessionid")


def build_scenarios(base: str, site: Site) -> list[Scenario]:
    """The scenarios of one site, after signing in once through its login form (a session for
    the code flow, a CSRF cookie/token pair for the login rows). Production cookies are Secure;
    the load runs over plain HTTP behind no proxy, so cookies are carried by hand."""
    info = site.info
    page = requests.get(base + site.login)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    csrf_cookie = f"{site.csrf_cookie}={page.cookies[site.csrf_cookie]}"
    signed_in = requests.post(
        base + site.login, allow_redirects=False, headers={"Cookie": csrf_cookie},
        data={"csrfmiddlewaretoken": csrf, "username": info["user"], "password": info["password"]})
    if signed_in.status_code != 302:
        raise RuntimeError(f"benchmark login at {base + site.login} failed: {signed_in.status_code}")
    session_cookie = f"{site.session_cookie}={signed_in.cookies[site.session_cookie]}"

    def login_body(user: str) -> str:
        return urlencode({"csrfmiddlewaretoken": csrf, "username": user, "password": info["password"],
                          "next": site.after_login})

    authorize = site.authorize + "?" + urlencode({
        "response_type": "code", "client_id": info["web_client_id"], "redirect_uri": info["redirect_uri"],
        "scope": "openid", "state": "s", "code_challenge": info["code_challenge"], "code_challenge_method": "S256"})
    token_body = urlencode({"grant_type": "authorization_code", "redirect_uri": info["redirect_uri"],
                            "code_verifier": info["code_verifier"]})
    cc_body = "grant_type=client_credentials"
    scenarios = [
        Scenario("floor", NAMES["floor"], "static_get.lua", {}, 8, site.jwks),
        Scenario("cc_opaque", NAMES["cc_opaque"], "static_post.lua",
                 {"BENCH_BODY": cc_body, "BENCH_AUTH": info["cc_auth"], "BENCH_MUST_CONTAIN": "access_token"},
                 8, site.token),
        Scenario("cc_jwt", NAMES["cc_jwt"], "static_post.lua",
                 {"BENCH_BODY": cc_body, "BENCH_AUTH": info.get("cc_jwt_auth"), "BENCH_MUST_CONTAIN": "access_token"},
                 8, site.token),
        Scenario("refresh", NAMES["refresh"], "refresh.lua",
                 {"BENCH_AUTH": info["web_auth"]}, 8, site.token, runs_tokens=True),
        Scenario("introspection", NAMES["introspection"], "static_post.lua",
                 {"BENCH_BODY": f"token={info['introspect_token']}", "BENCH_AUTH": info["cc_auth"],
                  "BENCH_MUST_CONTAIN": '"active": true'}, 8, site.introspect),
        Scenario("code_pkce", NAMES["code_pkce"], "code_flow.lua",
                 {"BENCH_AUTHORIZE_PATH": authorize, "BENCH_TOKEN_PATH": site.token,
                  "BENCH_COOKIE": session_cookie, "BENCH_AUTH": info["web_auth"],
                  "BENCH_TOKEN_BODY": token_body}, 8, authorize),
        # Several people in turn (bench/provision.py, LOGIN_USERS): one account's sign-ins from
        # unknown browsers queue on its lockout counter, by design.
        Scenario("login", NAMES["login"], "static_post.lua",
                 {"BENCH_BODY": login_body(info["user"]), "BENCH_COOKIE": csrf_cookie, "BENCH_OK": "302",
                  "BENCH_BODIES": "\n".join(login_body(u) for u in info.get("login_users", [info["user"]]))},
                 4, site.login),
        # The same password step for a user with an authenticator app: the answer is the
        # redirect to the MFA step (the session is not signed in yet). The TOTP check itself
        # is one HMAC-SHA1 and one UPDATE; a static load cannot replay a code anyway.
        Scenario("login_mfa", NAMES["login_mfa"], "static_post.lua",
                 {"BENCH_BODY": login_body(info.get("mfa_user", "")), "BENCH_COOKIE": csrf_cookie,
                  "BENCH_OK": "302",
                  "BENCH_BODIES": "\n".join(login_body(u) for u in info.get("mfa_users", []))}, 4, site.login),
    ]
    # The peer has neither JWT access tokens nor MFA.
    return [s for s in scenarios if (s.key != "cc_jwt" or "cc_jwt_auth" in info)
            and (s.key != "login_mfa" or "mfa_user" in info)]


def selected(key: str, only: str | None) -> bool:
    """Whether --only names the scenario ``key`` (by its key or a word of its name)."""
    if not only:
        return True
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    return key in wanted or any(w in NAMES[key] for w in wanted)


def rsa_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def measure_instructions(keys: list[str]) -> tuple[dict, str]:
    """bench/instructions.py's counts per request ({key: {"instructions", "statements"}}) and
    a note; ({}, why) when it is absent or fails: the table then shows "-"."""
    script = ROOT / "bench" / "instructions.py"
    if not script.exists():
        return {}, "bench/instructions.py is absent"
    try:
        done = subprocess.run([sys.executable, str(script), "--json", "--only", ",".join(keys)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                              timeout=1200)
    except subprocess.TimeoutExpired:
        return {}, "bench/instructions.py did not finish within 20 minutes"
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {}, f"bench/instructions.py failed (exit {done.returncode}: {tail})"
    for text in (done.stdout, *reversed(done.stdout.splitlines())):
        try:
            counts = json.loads(text)
        except ValueError:
            continue
        if isinstance(counts, dict):
            return counts, ""
    return {}, "bench/instructions.py printed no JSON object"


SERVERS_KEYS = ("floor", "cc_opaque", "introspection")


def measure_servers(env: dict, scenarios: list[Scenario], args) -> tuple[list[str], float]:
    """The servers section: the machine reference and Tessera's floor, opaque client credentials
    and introspection under each server (short runs), with the responses that were not successes.
    Also returns the reference's rate under gunicorn sync x3 here (a second look at the machine)."""
    runs, duration, warmup = args.servers_runs, args.servers_duration, min(args.warmup, 2)
    servers = [server_from("gunicorn-sync"), server_from("gunicorn-gthread"), server_from("granian")]
    chosen = [s for s in scenarios if s.key in SERVERS_KEYS]
    header = ["server", "machine reference /s", *(f"{s.name} /s" for s in chosen), "responses not successful"]
    lines = [
        f"Servers ({runs} runs of {duration}s after a {warmup}s warm-up each, median; the reference is the "
        f"middleware-free view, the other columns Tessera; every server pinned to core {SERVER_CPU}):",
        "",
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
    ]
    again = 0.0
    for server in servers:
        with serving(server, "bench.floor_app", env, "/") as (base, _process):
            reference = measure(base, reference_scenario(), runs, duration, warmup)
        if server == REFERENCE_SERVER:
            again = reference.rate
        with serving(server, "settings.wsgi", env, TESSERA_SITE.jwks) as (base, _process):
            results = [measure(base, s, runs, duration, warmup) for s in chosen]
        failed = reference.failed + sum(r.failed for r in results)
        cells = [server.label, f"{reference.rate:.0f}", *(f"{r.rate:.0f}" for r in results), str(failed)]
        lines.append("| " + " | ".join(cells) + " |")
        print(f"servers: {server.label}: {' / '.join(cells[1:])}", file=sys.stderr)
    return lines, again


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--server", choices=sorted(SERVER_DEFAULTS), default="gunicorn-sync",
                        help="what serves Tessera and the peer in the main table (default gunicorn-sync: sync x3; "
                             "gunicorn-gthread: 2 workers x 4 threads; granian: WSGI, 1 worker x 4 blocking "
                             "threads); the machine reference is always gunicorn sync x3")
    parser.add_argument("--workers", type=int, help="worker processes of --server (default: see --server)")
    parser.add_argument("--threads", type=int, help="threads per worker of --server (default: see --server)")
    parser.add_argument("--only", help="comma-separated scenario keys or words of their names; "
                                       "'cleanup' and 'servers' name the cleanup row and the servers section")
    parser.add_argument("--no-peer", action="store_true", help="skip the django-oauth-toolkit peer")
    parser.add_argument("--no-servers", action="store_true", help="skip the servers section")
    parser.add_argument("--servers-runs", type=int, default=2, help="runs per scenario in the servers section")
    parser.add_argument("--servers-duration", type=int, default=5, help="seconds per run in the servers section")
    parser.add_argument("--no-instructions", action="store_true",
                        help="skip the instruction counts (bench/instructions.py)")
    parser.add_argument("--without-rls", action="store_true",
                        help="measure with the row-level security policies disabled, to price them "
                             "(the per-transaction tenant setting stays: it also fills tenant_id defaults)")
    parser.add_argument("--without-spool", action="store_true",
                        help="no audit spool: stateless grants write their audit event synchronously "
                             "(decision \"Every token issue is audited synchronously\"), to compare with the "
                             "spool (decision \"Stateless grants are audited through a durable spool\")")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "latest.md"))
    args = parser.parse_args()
    for tool in ("wrk", "taskset", "redis-server"):
        if not shutil.which(tool):
            print(f"error: {tool} not found (apt-get install wrk util-linux redis-server)", file=sys.stderr)
            return 2
    if (os.cpu_count() or 1) < 2:
        print("error: needs two cores (one for the server, one for the load)", file=sys.stderr)
        return 2
    began = time.monotonic()
    cpu = CpuAccount()
    server = server_from(args.server, args.workers, args.threads)
    only_words = {w.strip() for w in (args.only or "").split(",")}
    run_servers = not args.no_servers and (not args.only or "servers" in only_words)
    run_cleanup = not args.only or "cleanup" in only_words

    work = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        cluster = start_cluster(cpus=SERVER_CPU)
        stack.callback(cluster.stop)
        redis_server = None if args.without_spool else start_redis(cpus=SERVER_CPU)
        if redis_server:
            stack.callback(redis_server.stop)
        env = tessera_database(cluster, redis_server.url if redis_server else "")
        py = sys.executable
        subprocess.run([py, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                       env={**env, "DATABASE_URL": cluster.url("tessera", user="tessera_owner")})
        if args.without_rls:
            cluster.psql("DO $$ DECLARE t text; BEGIN FOR t IN SELECT c.relname FROM pg_class c "
                         "WHERE c.relrowsecurity LOOP EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL "
                         "SECURITY', t); END LOOP; END $$", dbname="tessera")
        subprocess.run([py, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        refresh_seconds = (args.warmup + args.duration * args.runs) if selected("refresh", args.only) else 0
        TESSERA_SITE.info = json.loads(subprocess.run(
            [py, "bench/provision.py", str(REFRESH_PER_SECOND["tessera"] * refresh_seconds),
             str(work / "refresh_tokens.txt")],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout)

        # The peer: its own database, owned by a role without superuser, on the same cluster.
        peer_env = {}
        if not args.no_peer:
            cluster.psql(f"CREATE ROLE {PEER_DB} LOGIN")
            cluster.psql(f"CREATE DATABASE {PEER_DB} OWNER {PEER_DB}")
            peer_env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "bench.peers.dot.settings",
                "PYTHONPATH": str(ROOT),
                "PEER_SECRET_KEY": secrets.token_urlsafe(50),
                "PEER_DB_NAME": PEER_DB, "PEER_DB_USER": PEER_DB,
                "PEER_DB_HOST": str(cluster.socket_dir), "PEER_DB_PORT": str(cluster.port),
                "PEER_OIDC_RSA_PRIVATE_KEY": rsa_private_key_pem(),
            }
            subprocess.run([py, "-m", "django", "migrate", "--noinput", "-v0"], cwd=ROOT, env=peer_env, check=True)
            PEER_SITE.info = json.loads(subprocess.run(
                [py, "bench/peers/dot/provision.py", str(REFRESH_PER_SECOND["peer"] * refresh_seconds),
                 str(work / "peer_refresh_tokens.txt")],
                cwd=ROOT, env=peer_env, check=True, capture_output=True, text=True).stdout)

        reference = measure_reference(env, args)
        print(f"machine reference: {reference:.0f}/s", file=sys.stderr)

        base, tessera = stack.enter_context(serving(server, "settings.wsgi", env, TESSERA_SITE.jwks))
        if redis_server:  # the audit shipper shares the server's core with the server and PostgreSQL
            shipper = subprocess.Popen(["taskset", "-c", SERVER_CPU, py, "manage.py", "ship_audit"],
                                       cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
            stack.callback(stop, shipper)
        scenarios = [s for s in build_scenarios(base, TESSERA_SITE) if selected(s.key, args.only)]
        tessera_tokens = TokenFeed(work / "refresh_tokens.txt", work, REFRESH_PER_SECOND["tessera"])
        peer_scenarios: dict[str, Scenario] = {}
        peer_base, peer, peer_tokens = "", None, None
        if not args.no_peer:
            peer_base, peer = stack.enter_context(serving(server, "bench.peers.dot.wsgi", peer_env, PEER_SITE.jwks))
            peer_scenarios = {s.key: s for s in build_scenarios(peer_base, PEER_SITE)}
            peer_tokens = TokenFeed(work / "peer_refresh_tokens.txt", work, REFRESH_PER_SECOND["peer"])
        time.sleep(2)  # every worker has imported its application (wait_until_up saw one answer)

        # Scenario by scenario, Tessera then the peer (after Tessera's audit spool has drained,
        # so that the shipper's work falls on Tessera's runs), so both see the same moment of
        # this noisy machine. DOT has no JWT access tokens: that row's peer is its opaque grant.
        ours: dict[str, Measured] = {}
        theirs: dict[str, Measured] = {}
        ceiling = None
        for scenario in scenarios:
            if scenario.key in LOGIN_KEYS and ceiling is None:  # measured next to the rows it bounds
                if redis_server:
                    wait_for_spool(redis_server, 30)
                ceiling = measure_argon2_ceiling(env)
                print(f"Argon2id ceiling: {ceiling:.1f}/s", file=sys.stderr)
            ours[scenario.key] = measure(base, scenario, args.runs, args.duration, args.warmup, tessera_tokens)
            print(f"{scenario.name}: {ours[scenario.key].rate:.0f}/s (runs {ours[scenario.key].runs})",
                  file=sys.stderr)
            peer_key = "cc_opaque" if scenario.key == "cc_jwt" else scenario.key
            if peer_key in peer_scenarios and peer_key not in theirs:
                if redis_server:
                    wait_for_spool(redis_server, 30)
                theirs[peer_key] = measure(peer_base, peer_scenarios[peer_key], args.runs, args.duration,
                                           args.warmup, peer_tokens)
                print(f"  peer: {theirs[peer_key].rate:.0f}/s (runs {theirs[peer_key].runs})", file=sys.stderr)
        rss = worker_rss_mb(tessera.pid)
        peer_rss = worker_rss_mb(peer.pid) if peer else []
        servers_lines, reference_again = (measure_servers(env, build_scenarios(base, TESSERA_SITE), args)
                                          if run_servers else ([], 0.0))
        cleanup_lines = measure_cleanup(cluster, py, env, base, TESSERA_SITE.info, args) if run_cleanup else []
        audit_line = audit_summary(py, env, redis_server)
        if "cc_jwt" in ours:
            jwt_auth = TESSERA_SITE.info["cc_jwt_auth"]
            jwt_client = base64.b64decode(jwt_auth.split()[1]).decode().split(":")[0]
            events = cluster.psql(
                "SELECT set_config('app.tenant_id', (SELECT id FROM tenants_tenant WHERE slug = "
                f"'{TENANT}')::text, false); SELECT count(*) FROM audit_auditevent WHERE action = "
                f"'token.issued' AND actor_id = '{jwt_client}'", dbname="tessera").split()[-1]
            jwt_ok = ours["cc_jwt"].ok_total
            audit_line += (f" JWT client-credentials grants: {jwt_ok} successful responses counted by wrk, "
                           f"{events} `token.issued` events in the chain (a response in flight when a run "
                           f"ends is issued but not counted).")
        pg_version = cluster.psql("SHOW server_version").strip()
        cpu.cluster_done(cluster)
    foreign = (*cpu.foreign(), time.monotonic() - began)

    counts, counts_note = ({}, "not measured (--no-instructions)") if args.no_instructions else \
        measure_instructions([s.key for s in scenarios])
    elapsed = time.monotonic() - began
    table = render(args, server, pg_version, (reference, reference_again), ceiling, scenarios, ours, theirs, rss,
                   peer_rss, counts, counts_note, servers_lines, cleanup_lines, audit_line, elapsed, foreign)
    print(table)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(table + "\n")
    return 0


def render(args, server: Server, pg_version: str, references: tuple[float, float], ceiling: float | None,
           scenarios: list[Scenario], ours: dict[str, Measured], theirs: dict[str, Measured], rss: list[float],
           peer_rss: list[float], counts: dict, counts_note: str, servers_lines: list[str],
           cleanup_lines: list[str], audit_line: str, elapsed: float, foreign: tuple[float, float, float]) -> str:
    reference, again = references
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    peer_name = f"django-oauth-toolkit {version('django-oauth-toolkit')}"
    lines = [
        f"Measured {date.today().isoformat()} on {cpu.group(1) if cpu else platform.processor()}, "
        f"{os.cpu_count()} cores; {server.label}, PostgreSQL {pg_version} and Redis pinned to core {SERVER_CPU}, "
        f"wrk on core {LOAD_CPU}; {args.runs} runs of {args.duration}s after a {args.warmup}s warm-up, median shown; "
        f"row-level security {'policies OFF (--without-rls, for comparison only)' if args.without_rls else 'on'}; "
        + ("audit events of stateless grants written synchronously (--without-spool)." if args.without_spool
           else "audit spool on (Redis appendfsync always and the shipper on the server's core)."),
        "",
        f"Machine reference (a Django JSON view without middleware, {REFERENCE_SERVER.label}, same core): "
        f"{reference:.0f}/s in this run"
        + (f" (and {again:.0f}/s in the servers section, minutes later: the machine's noise)" if again else "")
        + f". The targets are ratios to the first (they were set where it ran at {REFERENCE_RATE}/s: "
          "0.226 was 600 grants/s there).",
    ]
    other, stolen, seconds = foreign
    other = max(other, 0.0)  # the accounting is good to a second or two on a quiet machine
    lines += ["", f"Other processes on the machine used {other:.0f} CPU-seconds during the measurements "
                  f"({other / seconds:.0%} of one core over their {seconds / 60:.1f} min), the hypervisor "
                  f"stole {stolen:.0f} s" + (": WARNING, another load ran beside the benchmark, rates are low."
                                            if other > 0.05 * seconds else ".")]
    if ceiling:
        lines += ["", f"Argon2id-only ceiling (Tessera's hasher, t=5 m=7 MiB p=1; {ARGON2_PROCESSES} processes "
                      f"on core {SERVER_CPU} for {ARGON2_SECONDS} s, summed): {ceiling:.1f} verifications/s; "
                      f"the login rows' target is {LOGIN_TARGET} of it."]
    if theirs:
        lines += ["", f"Peer: vanilla {peer_name} (bench/peers/dot): DOT's stock models and views, plain client "
                      "secrets, PKCE required, OpenID Connect with an RSA key (RS256 ID tokens), stock refresh "
                      "rotation, introspection authenticated by HTTP Basic client credentials, Django's LoginView "
                      "with the same Argon2id parameters, Django's session, CSRF, authentication and messages "
                      f"middleware, database sessions; no audit trail, no row-level security; database {PEER_DB} "
                      f"on the same cluster (owned by a role without superuser), {server.label} on the same core, "
                      "the same wrk scripts, measured right after Tessera in each scenario. DOT has no JWT access "
                      "tokens: the JWT row's peer is its opaque client-credentials grant; it has no MFA either."]
    lines += ["", "Instructions and statements per request: "
                  + (counts_note or "bench/instructions.py (in-process, the Python server process only; "
                                    "PostgreSQL's own work not included).")]
    peer_col = "DOT peer /s"
    lines += [
        "",
        f"| scenario | Tessera /s | {peer_col} | Tessera ÷ peer (≥ {PEER_TARGET}) | Tessera ÷ reference | target | "
        "met? | p50 ms | p99 ms | instructions/req | statements/req | runs (Tessera; peer) |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for scenario in scenarios:
        mine = ours[scenario.key]
        peer_key = "cc_opaque" if scenario.key == "cc_jwt" else scenario.key
        peer = theirs.get(peer_key)
        misses = []
        by_reference = mine.rate / reference
        ratio_text = f"{by_reference:.3f}"
        if scenario.key in LOGIN_KEYS:
            target_text = f"≥ {LOGIN_TARGET} of the Argon2id ceiling"
            if ceiling:
                ratio_text += f" ({mine.rate / ceiling:.2f} of the ceiling)"
                if mine.rate / ceiling < LOGIN_TARGET:
                    misses.append("ceiling")
        else:
            target = TARGETS[scenario.key]
            target_text = f"≥ {target}"
            if by_reference < target:
                misses.append("reference")
        peer_text = ratio_peer = "-"
        if peer:
            peer_text = f"{peer.rate:.0f}" + (" (opaque)" if peer_key != scenario.key else "")
            if peer.rate:
                ratio_peer = f"{mine.rate / peer.rate:.2f}"
            if not peer.rate or mine.rate / peer.rate < PEER_TARGET:
                misses.append("peer")
        met = "yes" if not misses else f"no ({', '.join(misses)})"
        count = counts.get(scenario.key) or {}
        instructions = f"{count['instructions'] / 1e6:.2f} M" if "instructions" in count else "-"
        statements = f"{count['statements']:g}" if "statements" in count else "-"
        runs = f"{mine.runs}" + (f"; {peer.runs}" if peer and peer_key == scenario.key else "")
        for who, measured in (("Tessera", mine), ("peer", peer)):
            if measured and measured.exhausted:
                runs += f" ({who}: refresh tokens ran out, a lower bound)"
        lines.append(f"| {scenario.name} | {mine.rate:.0f} | {peer_text} | {ratio_peer} | {ratio_text} | "
                     f"{target_text} | {met} | {mine.median['p50_us'] / 1000:.1f} | "
                     f"{mine.median['p99_us'] / 1000:.1f} | {instructions} | {statements} | {runs} |")

    def sizes(values: list[float]) -> str:
        return f"{max(values):.0f} (max of {', '.join(f'{v:.0f}' for v in values)})" if values else "-"

    lines.append(f"| RSS per worker (MB) | {sizes(rss)} | {sizes(peer_rss)} | | | ≤ {RSS_TARGET_MB} | "
                 f"{'yes' if rss and max(rss) <= RSS_TARGET_MB else 'no'} | | | | | |")
    # The code flow's script counts round trips (two requests each); every other script, requests.
    unsuccessful = [f"{who} {scenario.name}: {measured.failed}" for scenario in scenarios
                    if scenario.script != "code_flow.lua"
                    for who, measured in (("Tessera", ours[scenario.key]), ("peer", theirs.get(scenario.key)))
                    if measured and measured.failed]
    if unsuccessful:
        lines += ["", "Responses that were not successes (warm-ups included): " + "; ".join(unsuccessful) + "."]
    for block in (servers_lines, cleanup_lines, [audit_line]):
        if block:
            lines += ["", *block]
    lines += ["", f"Whole run: {elapsed / 60:.1f} min."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
