#!/usr/bin/env python3
"""Token-endpoint benchmark: Tessera under gunicorn on PostgreSQL, one core for server and
database, wrk (Lua scenarios) on the other core. Prints a Markdown results table.

    make bench                       # or: .venv/bin/python bench/run.py [--duration 10 --runs 3]

Needs PostgreSQL's server binaries and wrk (apt-get install postgresql wrk) and two cores.
Closed loop: each scenario keeps a fixed number of connections busy. After a warm-up, it
runs several times and reports the median rate of *successful* responses and the p50/p99
latency of the median run.
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
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from audit.spool import STREAM as AUDIT_STREAM  # noqa: E402
from devtools.pgcluster import start_cluster  # noqa: E402
from devtools.redisserver import start_redis  # noqa: E402

LUA = ROOT / "bench" / "lua"
SERVER_CPU, LOAD_CPU = "0", "1"
TENANT = "bench"


@dataclass
class Scenario:
    name: str
    script: str
    env: dict
    connections: int
    path: str
    target: float
    runs_tokens: bool = False  # consumes one refresh token per request


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


REFERENCE_RATE = 2650  # the machine: a Django JSON view with no middleware, gunicorn sync x3


def measure_reference(py: str, env: dict, args) -> float:
    """Rate of a middleware-free Django JSON view under the same gunicorn, on the same core."""
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, py, "-m", "gunicorn", "bench.floor_app", "-w", str(args.workers),
         "-b", f"127.0.0.1:{port}", "--worker-class", "sync", "--log-level", "warning", "--backlog", "2048"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/")
        scenario = Scenario("reference", "static_get.lua", {}, 8, "/", 0)
        run_wrk(f"http://127.0.0.1:{port}", scenario, args.warmup)
        return statistics.median(
            run_wrk(f"http://127.0.0.1:{port}", scenario, args.duration)["rate"] for _ in range(args.runs))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def worker_rss_mb(master_pid: int) -> list[float]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return sizes


def audit_summary(py: str, env: dict, redis_server) -> str:
    """After the load: the spool drains, and the tenant's whole chain verifies (nothing lost)."""
    if redis_server:
        import redis

        client = redis.Redis.from_url(redis_server.url)
        started = time.monotonic()
        while client.xlen(AUDIT_STREAM) and time.monotonic() - started < 120:
            time.sleep(0.5)
        left, drained_in = client.xlen(AUDIT_STREAM), time.monotonic() - started
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
    grants = Scenario("client credentials during cleanup", "static_post.lua",
                      {"BENCH_BODY": "grant_type=client_credentials", "BENCH_AUTH": info["cc_auth"],
                       "BENCH_MUST_CONTAIN": "access_token"}, 8, f"/t/{TENANT}/token", 0)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--only", help="comma-separated scenario names")
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

    work = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    cluster = start_cluster(cpus=SERVER_CPU)
    redis_server = None if args.without_spool else start_redis(cpus=SERVER_CPU)
    gunicorn = shipper = None
    try:
        # The production roles (README, Database roles): the owner migrates, the application
        # role (no ownership, no BYPASSRLS) serves and provisions.
        cluster.psql("CREATE ROLE tessera_owner LOGIN; CREATE ROLE tessera_app LOGIN")
        cluster.psql("CREATE DATABASE tessera OWNER tessera_owner")
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings.production",
            "DATABASE_URL": cluster.url("tessera", user="tessera_app"),
            "TESSERA_DATABASE_APP_ROLE": "tessera_app",
            "DB_CONN_MAX_AGE": "600",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "TESSERA_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "TESSERA_PUBLIC_URL": "https://idp.bench.invalid",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            "TESSERA_AUDIT_SPOOL_URL": redis_server.url if redis_server else "",
            "CELERY_TASK_ALWAYS_EAGER": "true",  # no worker here; nothing measured enqueues a task
        }
        py = sys.executable
        subprocess.run([py, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                       env={**env, "DATABASE_URL": cluster.url("tessera", user="tessera_owner")})
        if args.without_rls:
            cluster.psql("DO $$ DECLARE t text; BEGIN FOR t IN SELECT c.relname FROM pg_class c "
                         "WHERE c.relrowsecurity LOOP EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL "
                         "SECURITY', t); END LOOP; END $$", dbname="tessera")
        subprocess.run([py, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        refresh_needed = 2500 * args.duration * (args.runs + 1)
        refresh_file = work / "refresh_tokens.txt"
        info = json.loads(subprocess.run([py, "bench/provision.py", str(refresh_needed), str(refresh_file)],
                                         cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout)
        reference = measure_reference(py, env, args)
        gunicorn = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, py, "-m", "gunicorn", "settings.wsgi", "-w", str(args.workers),
             "-b", f"127.0.0.1:{port}", "--worker-class", args.worker_class, "--threads", str(args.threads),
             "--log-level", "warning",
             "--backlog", "2048"],
            cwd=ROOT, env=env, start_new_session=True,
        )
        if redis_server:  # the audit shipper shares the server's core with gunicorn and PostgreSQL
            shipper = subprocess.Popen(["taskset", "-c", SERVER_CPU, py, "manage.py", "ship_audit"],
                                       cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/t/{TENANT}/jwks.json")

        # A signed-in browser session, and a CSRF cookie/token pair for the login form.
        # (Production cookies are Secure; the load runs over plain HTTP behind no proxy,
        # so cookies are carried by hand.)
        page = requests.get(f"{base}/t/{TENANT}/login")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        csrf_cookie = f"tessera_csrf={page.cookies['tessera_csrf']}"
        signed_in = requests.post(
            f"{base}/t/{TENANT}/login", allow_redirects=False, headers={"Cookie": csrf_cookie},
            data={"csrfmiddlewaretoken": csrf, "username": info["user"], "password": info["password"]})
        if signed_in.status_code != 302:
            raise RuntimeError(f"benchmark login failed: {signed_in.status_code}")
        session_cookie = f"tessera_session={signed_in.cookies['tessera_session']}"
        login_body = urlencode({"csrfmiddlewaretoken": csrf, "username": info["user"],
                                "password": info["password"], "next": f"/t/{TENANT}/"})
        authorize = f"/t/{TENANT}/authorize?" + urlencode({
            "response_type": "code", "client_id": info["web_client_id"], "redirect_uri": info["redirect_uri"],
            "scope": "openid", "state": "s", "code_challenge": info["code_challenge"],
            "code_challenge_method": "S256"})
        mfa_login_body = urlencode({"csrfmiddlewaretoken": csrf, "username": info["mfa_user"],
                                    "password": info["password"], "next": f"/t/{TENANT}/"})
        token_body = urlencode({"grant_type": "authorization_code", "redirect_uri": info["redirect_uri"],
                                "code_verifier": info["code_verifier"]})
        cc_body = "grant_type=client_credentials"
        scenarios = [
            Scenario("floor: JWKS document (no database)", "static_get.lua", {}, 8,
                     f"/t/{TENANT}/jwks.json", 0),
            Scenario("client credentials (opaque)", "static_post.lua",
                     {"BENCH_BODY": cc_body, "BENCH_AUTH": info["cc_auth"], "BENCH_MUST_CONTAIN": "access_token"},
                     8, f"/t/{TENANT}/token", 600),
            Scenario("client credentials (JWT, ES256)", "static_post.lua",
                     {"BENCH_BODY": cc_body, "BENCH_AUTH": info["cc_jwt_auth"], "BENCH_MUST_CONTAIN": "access_token"},
                     8, f"/t/{TENANT}/token", 1500),
            Scenario("refresh (each token once)", "refresh.lua",
                     {"BENCH_AUTH": info["web_auth"]}, 8, f"/t/{TENANT}/token", 400, runs_tokens=True),
            Scenario("introspection", "static_post.lua",
                     {"BENCH_BODY": f"token={info['introspect_token']}", "BENCH_AUTH": info["cc_auth"],
                      "BENCH_MUST_CONTAIN": '"active": true'}, 8, f"/t/{TENANT}/introspect", 1500),
            Scenario("authorization code + PKCE round trip", "code_flow.lua",
                     {"BENCH_AUTHORIZE_PATH": authorize, "BENCH_TOKEN_PATH": f"/t/{TENANT}/token",
                      "BENCH_COOKIE": session_cookie, "BENCH_AUTH": info["web_auth"],
                      "BENCH_TOKEN_BODY": token_body}, 8, authorize, 150),
            Scenario("password login (Argon2id t=5 m=7MiB)", "static_post.lua",
                     {"BENCH_BODY": login_body, "BENCH_COOKIE": csrf_cookie, "BENCH_OK": "302"},
                     4, f"/t/{TENANT}/login", 48),
            # The same password step for a user with an authenticator app: the answer is the
            # redirect to the MFA step (the session is not signed in yet). The TOTP check itself
            # is one HMAC-SHA1 and one UPDATE; a static load cannot replay a code anyway.
            Scenario("password login, MFA on (to the MFA step)", "static_post.lua",
                     {"BENCH_BODY": mfa_login_body, "BENCH_COOKIE": csrf_cookie, "BENCH_OK": "302"},
                     4, f"/t/{TENANT}/login", 48),
        ]
        if args.only:
            wanted = {w.strip() for w in args.only.split(",")}
            scenarios = [s for s in scenarios if any(w in s.name for w in wanted)]

        rows = []
        served_ok: dict[str, int] = {}  # successful responses, warm-ups included
        token_offset = 0
        all_tokens = refresh_file.read_text().split()
        for scenario in scenarios:
            results = []
            for run in range(args.runs + 1):  # run 0 is the warm-up
                if scenario.runs_tokens:
                    chunk = work / f"tokens-{run}.txt"
                    chunk.write_text("\n".join(all_tokens[token_offset:token_offset + 2500 * args.duration]) + "\n")
                    token_offset += 2500 * args.duration
                    scenario.env["BENCH_TOKENS"] = str(chunk)
                result = run_wrk(base, scenario, args.warmup if run == 0 else args.duration)
                served_ok[scenario.name] = served_ok.get(scenario.name, 0) + result["ok"]
                if run:
                    results.append(result)
            results.sort(key=lambda r: r["rate"])
            median = results[len(results) // 2]
            rows.append((scenario, statistics.median(r["rate"] for r in results), median,
                         [round(r["rate"]) for r in results]))
            print(f"{scenario.name}: {rows[-1][1]:.0f}/s (runs {rows[-1][3]})", file=sys.stderr)
        rss = worker_rss_mb(gunicorn.pid)
        cleanup_lines = [] if args.only and "cleanup" not in args.only else measure_cleanup(
            cluster, py, env, base, info, args)
        audit_line = audit_summary(py, env, redis_server)
        jwt_ok = served_ok.get("client credentials (JWT, ES256)")
        if jwt_ok:
            jwt_client = base64.b64decode(info["cc_jwt_auth"].split()[1]).decode().split(":")[0]
            events = cluster.psql(
                "SELECT set_config('app.tenant_id', (SELECT id FROM tenants_tenant WHERE slug = "
                f"'{TENANT}')::text, false); SELECT count(*) FROM audit_auditevent WHERE action = "
                f"'token.issued' AND actor_id = '{jwt_client}'", dbname="tessera").split()[-1]
            audit_line += (f" JWT client-credentials grants: {jwt_ok} successful responses counted by wrk, "
                           f"{events} `token.issued` events in the chain (a response in flight when a run "
                           f"ends is issued but not counted).")

        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        lines = [
            f"Measured {date.today().isoformat()} on {cpu.group(1) if cpu else platform.processor()}, "
            f"{os.cpu_count()} cores; gunicorn {args.worker_class} x{args.workers}"
            f"{f' ({args.threads} threads)' if args.threads > 1 else ''} and PostgreSQL "
            f"{cluster.psql('SHOW server_version').strip()} pinned to core {SERVER_CPU}, wrk on core {LOAD_CPU}; "
            f"{args.runs} runs of {args.duration}s after a {args.warmup}s warm-up, median shown; "
            f"row-level security {'policies OFF (--without-rls, for comparison only)' if args.without_rls else 'on'}; "
            + ("audit events of stateless grants written synchronously (--without-spool)." if args.without_spool
               else "audit spool on (Redis appendfsync always and the shipper on the server's core)."),
            "",
            f"Machine reference (Django JSON view, no middleware, same gunicorn): {reference:.0f}/s here "
            f"against {REFERENCE_RATE}/s where the targets were set; \"scaled target\" = target x "
            f"{reference / REFERENCE_RATE:.2f}.",
            "",
            "| scenario | per second | target | scaled target | p50 ms | p99 ms | runs |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for scenario, rate, median, runs in rows:
            scaled = scenario.target * reference / REFERENCE_RATE
            target = f"{scenario.target:.0f}" if scenario.target else "-"
            scaled_text = (f"{scaled:.0f}{'' if rate >= scaled else ' (below)'}" if scenario.target else "-")
            lines.append(f"| {scenario.name} | {rate:.0f} | {target} | {scaled_text} | "
                         f"{median['p50_us'] / 1000:.1f} | {median['p99_us'] / 1000:.1f} | {runs} |")
        lines.append(f"| RSS per worker (MB) | {max(rss):.0f} (max of {', '.join(f'{r:.0f}' for r in rss)}) "
                     f"| 120 | 120 | | | |")
        lines += ["", *cleanup_lines, "", audit_line]
        table = "\n".join(lines)
        print(table)
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(table + "\n")
        return 0
    finally:
        for process in (gunicorn, shipper):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        if redis_server:
            redis_server.stop()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
