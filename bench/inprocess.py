#!/usr/bin/env python3
"""The benchmark's scenarios in one Python process: no server, no load generator, no network.

The environment is bench/run.py's: a private PostgreSQL (the owner role migrates, the
application role serves, so row-level security applies), a Redis audit spool with
``appendfsync always``, production settings, the same environment variables, and the tenant
"bench" provisioned by bench/provision.py. The requests are the wrk scripts' (bench/lua),
with the same bodies, headers and cookies, handed to the real WSGI application
(``settings.wsgi.application``) through a hand-built environ; each response is read whole and
checked as the wrk scripts check it (status, and the text it must contain).

Used by bench/stages.py (a per-stage cost table) and bench/instructions.py (instruction counts
under callgrind); on its own it times each scenario in milliseconds per request:

    .venv/bin/python bench/inprocess.py [--only floor,cc_jwt] [--requests 300]

Differences from bench/run.py, on purpose: no audit shipper runs (the spool only accumulates
in Redis, so the grants that spool an event pay for the push and nothing else); the process
and PostgreSQL share one core (``--cpu``), as gunicorn and PostgreSQL do there; the log lines
(the audit trail's JSON copy) go to a file in the work directory instead of the terminal; and
``collectstatic`` writes into the work directory (STATIC_ROOT) instead of var/static.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools.pgcluster import start_cluster  # noqa: E402
from devtools.redisserver import start_redis  # noqa: E402

TENANT = "bench"
SERVER_CPU = "0"  # bench/run.py's server core: gunicorn, PostgreSQL, Redis (and the shipper)
# The scenario keys of the coordination contract, in bench/run.py's order.
SCENARIOS = ("floor", "cc_opaque", "cc_jwt", "refresh", "introspection", "code_pkce", "login", "login_mfa")
TITLES = {
    "floor": "floor: JWKS document (no database)",
    "cc_opaque": "client credentials (opaque)",
    "cc_jwt": "client credentials (JWT, ES256)",
    "refresh": "refresh (each token once)",
    "introspection": "introspection",
    "code_pkce": "authorization code + PKCE round trip",
    "login": "password login (Argon2id t=5 m=7MiB)",
    "login_mfa": "password login, MFA on (to the MFA step)",
}


def parse_only(value: str | None) -> list[str]:
    """The scenario keys of an ``--only`` value (all of them when empty), in the usual order."""
    if not value:
        return list(SCENARIOS)
    wanted = [key.strip() for key in value.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return [key for key in SCENARIOS if key in wanted]


# -- the environment: PostgreSQL, Redis, migrations, the provisioned tenant ------------------


def tessera_database(cluster, spool_url: str, **extra: str) -> dict[str, str]:
    """Create the production roles and database on ``cluster`` (README, Database roles: the
    owner migrates, the application role, without ownership or BYPASSRLS, serves and
    provisions) and return the environment Tessera is served with in the benchmark."""
    cluster.psql("CREATE ROLE tessera_owner LOGIN; CREATE ROLE tessera_app LOGIN")
    cluster.psql("CREATE DATABASE tessera OWNER tessera_owner")
    return {
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
        "TESSERA_AUDIT_SPOOL_URL": spool_url,
        "CELERY_TASK_ALWAYS_EAGER": "true",  # no worker here; nothing measured enqueues a task
        **extra,
    }


@dataclass
class Services:
    """A running benchmark environment (see ``services``)."""

    env: dict[str, str]  # the server's environment variables (bench/run.py's)
    info: dict[str, Any]  # bench/provision.py's JSON: credentials, ids, PKCE pair, ...
    tokens: list[str]  # fresh refresh tokens, each to be presented once
    work: Path
    cluster: Any
    redis: Any


def _terminate(signum, frame):  # SIGTERM (a harness giving up) runs the clean-up below too
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def services(refresh_tokens: int, *, cpu: str | None = SERVER_CPU) -> Iterator[Services]:
    """Start PostgreSQL and Redis (on ``cpu``), migrate, provision the tenant with
    ``refresh_tokens`` fresh refresh tokens; stop and delete all at exit (also on an error or
    SIGTERM)."""
    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    work = Path(tempfile.mkdtemp(prefix="tessera-inprocess-"))
    cluster = redis_server = None
    try:
        cluster = start_cluster(cpus=cpu)
        redis_server = start_redis(cpus=cpu)
        env = tessera_database(cluster, redis_server.url, STATIC_ROOT=str(work / "static"))
        py = sys.executable
        _run([py, "manage.py", "migrate", "--noinput", "-v0"],
             {**env, "DATABASE_URL": cluster.url("tessera", user="tessera_owner")})
        _run([py, "manage.py", "collectstatic", "--noinput", "-v0"], env)
        token_file = work / "refresh_tokens.txt"
        info = json.loads(_run([py, "bench/provision.py", str(refresh_tokens), str(token_file)], env))
        yield Services(env=env, info=info, tokens=token_file.read_text().split(), work=work,
                       cluster=cluster, redis=redis_server)
    finally:
        if redis_server is not None:
            redis_server.stop()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(cmd: list[str], env: dict[str, str]) -> str:
    """Run a set-up step in the project directory; its stdout, or an error with its stderr."""
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def pin(cpu: str | None) -> None:
    """Run this process on ``cpu`` (a taskset list), beside PostgreSQL and Redis."""
    if cpu:
        os.sched_setaffinity(0, {int(c) for c in cpu.split(",")})


def setup_django(env: dict[str, str], *, log_file: Path | None = None):
    """Import the WSGI application under ``env``; the log lines go to ``log_file`` if given."""
    os.environ.update(env)
    from settings.wsgi import application

    if log_file is not None:
        import logging

        stream = open(log_file, "a")  # noqa: SIM115 - open for the rest of the process
        for handler in [*logging.getLogger().handlers, *logging.getLogger("tessera.audit").handlers]:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)
    return application


class Statements:
    """SQL statements sent through Django's cursors (``count_statements``)."""

    count = 0


def count_statements(execute, sql, params, many, context):
    """The outermost execute wrapper: counts every statement Django sends (the audit chain's
    multi-statement query is one); bench/stages.py times everything inside it (tenants.db's
    BEGIN + set_config round trip included) as database statements."""
    Statements.count += 1
    return execute(sql, params, many, context)


def install_statement_counter() -> None:
    """Put ``count_statements`` first among the default connection's execute wrappers (outside
    tenants.db's, which the connection_created signal appends)."""
    from django.db import connection

    if count_statements not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, count_statements)


# -- the requests --------------------------------------------------------------------------


class RequestFailed(RuntimeError):
    pass


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for key, value in self.headers:
            if key.lower() == "set-cookie":
                jar.load(value)
        return {name: morsel.value for name, morsel in jar.items()}


_BASE_ENVIRON = {
    "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
    "SERVER_SOFTWARE": "tessera-bench-inprocess", "SCRIPT_NAME": "", "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "40000", "HTTP_HOST": "127.0.0.1:8000", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
    "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.input_terminated": True,
}


@dataclass
class Request:
    """One HTTP request as wrk sends it (Host plus the script's headers), ready to replay."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    environ: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        path, _, query = self.path.partition("?")
        environ = {**_BASE_ENVIRON, "REQUEST_METHOD": self.method, "PATH_INFO": path, "QUERY_STRING": query,
                   "RAW_URI": self.path, "wsgi.errors": sys.stderr}
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
        if self.method == "POST":
            environ["CONTENT_LENGTH"] = str(len(self.body))
        self.environ = environ


def call(application, request: Request) -> Reply:
    """One request through the WSGI application, its body read whole and the response closed
    (which sends Django's request_finished, as a server does)."""
    environ = {**request.environ, "wsgi.input": io.BytesIO(request.body)}
    started: list[Any] = []

    def start_response(status, headers, exc_info=None):
        started[:] = [status, headers]

    result = application(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Reply(int(started[0].split(" ", 1)[0]), started[1], body)


def expect(reply: Reply, status: int, contains: bytes | None = None, what: str = "") -> Reply:
    """The wrk scripts' success test (BENCH_OK, BENCH_MUST_CONTAIN)."""
    if reply.status != status or (contains is not None and contains not in reply.body):
        raise RequestFailed(f"{what}: {reply.status} {reply.body[:300]!r}")
    return reply


FORM = "application/x-www-form-urlencoded"


class Driver:
    """The eight scenarios of bench/run.py as functions making one request (a code round trip:
    two), raising RequestFailed unless it succeeded as wrk counts success."""

    def __init__(self, application, info: dict[str, Any], tokens: list[str]) -> None:
        self.application = application
        self.info = info
        self.tokens = list(tokens)
        self.next_token = 0
        self.base = f"/t/{TENANT}"
        self.csrf_cookie = self.session_cookie = self.csrf_token = ""

    def users(self, key: str) -> list[str]:
        """The users a password-login scenario signs in, in turn (bench/provision.py may make
        several, as wrk's BENCH_BODIES sends them)."""
        if key == "login":
            return self.info.get("login_users", [self.info["user"]])
        return self.info.get("mfa_users", [self.info["mfa_user"]])

    def warmup(self, key: str, requests: int) -> int:
        """``requests``, or for a password login at least one sign-in per user: a user's first
        sign-in writes rows the later ones find (a few statements more)."""
        return max(requests, len(self.users(key))) if key.startswith("login") else requests

    def tokens_left(self, key: str) -> int:
        """How many more requests of ``key`` can be made (refresh: one fresh token each)."""
        return len(self.tokens) - self.next_token if key == "refresh" else sys.maxsize

    def sign_in(self) -> None:
        """A CSRF cookie and token from the login page, then a signed-in session (run.py's)."""
        page = expect(call(self.application, Request("GET", f"{self.base}/login")), 200, what="login page")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        if match is None:
            raise RequestFailed("no CSRF token on the login page")
        self.csrf_token = match.group(1).decode()
        self.csrf_cookie = f"tessera_csrf={page.cookies()['tessera_csrf']}"
        body = urlencode({"csrfmiddlewaretoken": self.csrf_token, "username": self.info["user"],
                          "password": self.info["password"]}).encode()
        signed_in = expect(call(self.application, Request(
            "POST", f"{self.base}/login", body, {"Content-Type": FORM, "Cookie": self.csrf_cookie})), 302,
            what="benchmark login")
        self.session_cookie = f"tessera_session={signed_in.cookies()['tessera_session']}"

    def scenario(self, key: str) -> Callable[[], None]:
        """The function making one request of scenario ``key`` (sign_in() first)."""
        info, base, app = self.info, self.base, self.application

        def fixed(request: Request, status: int, contains: bytes | None) -> Callable[[], None]:
            def one() -> None:
                expect(call(app, request), status, contains, key)
            return one

        def post(path: str, body: str, **headers: str) -> Request:
            return Request("POST", path, body.encode(), {"Content-Type": FORM, **headers})

        cc = "grant_type=client_credentials"
        if key == "floor":
            return fixed(Request("GET", f"{base}/jwks.json"), 200, None)
        if key == "cc_opaque":
            return fixed(post(f"{base}/token", cc, Authorization=info["cc_auth"]), 200, b"access_token")
        if key == "cc_jwt":
            return fixed(post(f"{base}/token", cc, Authorization=info["cc_jwt_auth"]), 200, b"access_token")
        if key == "introspection":
            return fixed(post(f"{base}/introspect", f"token={info['introspect_token']}", Authorization=info["cc_auth"]),
                         200, b'"active": true')
        if key in ("login", "login_mfa"):
            # Several users in turn where bench/provision.py makes several (BENCH_BODIES).
            logins = itertools.cycle([post(f"{base}/login", urlencode({
                "csrfmiddlewaretoken": self.csrf_token, "username": user, "password": info["password"],
                "next": f"{base}/"}), Cookie=self.csrf_cookie) for user in self.users(key)])

            def login() -> None:
                expect(call(app, next(logins)), 302, None, key)
            return login
        if key == "refresh":
            def refresh() -> None:
                index = self.next_token
                self.next_token += 1
                token = self.tokens[index] if index < len(self.tokens) else "exhausted"  # as refresh.lua
                request = post(f"{base}/token", f"grant_type=refresh_token&refresh_token={token}",
                               Authorization=info["web_auth"])
                expect(call(app, request), 200, b"refresh_token", key)
            return refresh
        if key == "code_pkce":
            authorize = Request("GET", f"{base}/authorize?" + urlencode({
                "response_type": "code", "client_id": info["web_client_id"], "redirect_uri": info["redirect_uri"],
                "scope": "openid", "state": "s", "code_challenge": info["code_challenge"],
                "code_challenge_method": "S256"}), headers={"Cookie": self.session_cookie})
            token_body = urlencode({"grant_type": "authorization_code", "redirect_uri": info["redirect_uri"],
                                    "code_verifier": info["code_verifier"]})

            def round_trip() -> None:  # code_flow.lua: the 302's code, then the token request
                location = expect(call(app, authorize), 302, None, "authorize").header("Location") or ""
                codes = parse_qs(urlsplit(location).query).get("code")
                if not codes:
                    raise RequestFailed(f"authorize: no code in {location!r}")
                request = post(f"{base}/token", f"{token_body}&code={codes[0]}", Authorization=info["web_auth"])
                expect(call(app, request), 200, b"access_token", key)
            return round_trip
        raise KeyError(key)


def tokens_needed(keys: list[str], per_scenario: int) -> int:
    """Refresh tokens to provision: one per refresh request, and a margin."""
    return per_scenario + 100 if "refresh" in keys else 100


def default_warmup(key: str) -> int:
    """Warm-up requests: caches, lazy imports, the interpreter's specialisation, the first
    connection. Password logins cost ~25 ms each and warm up quicker."""
    return 5 if key.startswith("login") else 30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated scenario keys: " + ", ".join(SCENARIOS))
    parser.add_argument("--requests", type=int, default=300, help="measured requests per scenario")
    parser.add_argument("--cpu", default=SERVER_CPU, help="core for this process, PostgreSQL and Redis ('' = any)")
    args = parser.parse_args()
    keys = parse_only(args.only)
    with services(tokens_needed(keys, args.requests + 30), cpu=args.cpu or None) as env:
        pin(args.cpu or None)
        driver = Driver(setup_django(env.env, log_file=env.work / "server.log"), env.info, env.tokens)
        install_statement_counter()
        driver.sign_in()
        print("| scenario | ms/request | requests/s (one core, in-process) | SQL statements/request |")
        print("| --- | ---: | ---: | ---: |")
        for key in keys:
            one = driver.scenario(key)
            for _ in range(driver.warmup(key, default_warmup(key))):
                one()
            count = args.requests if not key.startswith("login") else max(1, args.requests // 10)
            Statements.count = 0
            started = time.perf_counter()
            for _ in range(count):
                one()
            ms = (time.perf_counter() - started) * 1000 / count
            print(f"| {key} | {ms:.3f} | {1000 / ms:.0f} | {Statements.count / count:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
