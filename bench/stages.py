#!/usr/bin/env python3
"""Where a request's time goes: a per-stage cost table (ms per request) for each scenario.

    .venv/bin/python bench/stages.py [--only floor,cc_jwt] [--requests 300] [--top]
                                     [--reference-rate R | --measure-reference] [--method trace]

Runs the benchmark's scenarios in-process (bench/inprocess.py: PostgreSQL with the application
role, the Redis audit spool, production settings; this process and PostgreSQL on one core) and
prints a Markdown table; var/bench/stages.json keeps the numbers.

How time is attributed. Each stage is a set of *boundary* functions, chosen by module and
function name (so they survive refactoring: anything under oauthlib/ is oauthlib, anything
under audit/ is audit, ...; see ``RULES``). A moment of the request belongs to the innermost
boundary on the call stack at that moment, i.e. a boundary's inclusive time minus the
boundaries nested in it; what calls no boundary belongs to its caller's stage. So the stages
partition the request's time and add up to it. Database statements are the time inside
``cursor.execute`` through the outermost execute wrapper (bench.inprocess.count_statements:
tenants.db's BEGIN + set_config round trip, the query, waiting for PostgreSQL on the same core)
plus psycopg (fetching rows, COMMIT).

The stack is sampled, not traced: a wall-clock timer (``--interval-us``, 500 µs) interrupts
the requests and each sample is weighted by the time since the previous one (a C call that
holds the interpreter, an Argon2 hash, is charged whole to its caller). Tracing every call
(cProfile, sys.setprofile) was measured first: on Python 3.11 it slows these requests by 35%
(a tracer that does nothing) to 60-100% (cProfile), all of it in the Python stages and none in
PostgreSQL's or Argon2's, which would skew the very proportions this table is for
(``--method trace`` applies the same rules through a sys.setprofile tracer, for comparison).
Sampling skews nothing systematically, but it is not free: each timer signal costs 10-35 µs of
CPU on this VM even with an empty handler (measured: the kernel and the interpreter, not the
handler, whose own time is charged to no stage), 5-15% at the default rate, spread over the
stages in proportion to their time. So the requests are also timed without the profiler, in
``--rounds`` alternations with the profiled ones (the machine's slow moments fall on both), and
the rows are scaled by untraced ÷ profiled: they add up to the untraced total per request; the
factor is shown. The error left is statistical (hence ``--min-seconds``). The CPU rows say how
much of the time was this process's, PostgreSQL's backend's and Redis's CPU; the rest is waiting
(fsync of the WAL and of Redis's append-only file, the scheduler).

The server (gunicorn parsing HTTP, sockets) is outside the process: the "server" line
estimates it from the machine reference (bench/floor_app.py, a middleware-free view): its
gunicorn rate (``--reference-rate``, from ``make bench``, or ``--measure-reference``: gunicorn
sync x3 on core 0, wrk on core 1, as bench/run.py does) against its in-process time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.inprocess import (  # noqa: E402
    SCENARIOS,
    SERVER_CPU,
    Driver,
    Request,
    Statements,
    call,
    default_warmup,
    install_statement_counter,
    parse_only,
    pin,
    services,
    setup_django,
)

OUTSIDE = "outside"  # the driver's own code: not part of any request
MIDDLEWARE = "middleware"  # resolved to "mw:<class of self>" per sample

# Stage keys, their labels, and the table's order (middleware rows go after "handler").
LABELS = {
    "handler": "other: WSGI handler, signals, middleware glue",
    "request": "request parsing (HttpRequest, POST, cookies)",
    "urls": "URL resolution and reversing",
    "view": "view & app logic (Tessera views/services, DOT views, validator)",
    "client_auth": "client authentication (client lookup, secret check)",
    "oauthlib": "oauthlib generic request handling (+ DOT's OAuthLibCore)",
    "orm": "ORM & transactions (Django db layer, Python side)",
    "sql": "DB statements (cursor.execute incl. round trip, psycopg)",
    "audit": "audit record & chain (audit/)",
    "redis": "Redis round trips (audit spool)",
    "signing": "signing (sign_jwt/verify_jwt, cryptography, jwcrypto)",
    "hashing": "password hashing (Argon2)",
    "sessions": "sessions (load, save)",
    "ratelimit": "rate limits",
    "response": "response building (HttpResponse, JSON, cookies, templates)",
}
HARD, SOFT, MAYBE = 1, 2, 3

_AUTH_NAMES = (r"(authenticate_client|authenticate_client_id|client_authentication_required|_authenticate_basic_auth"
               r"|_authenticate_request_body|_load_application|_check_secret)")
# (stage, pattern over "<where>:<qualified name>", kind). <where> is p:<path in the project>,
# s:<path in site-packages> or l:<path in the standard library>. First match wins; a SOFT
# boundary counts only where the nearest HARD one outside it is oauthlib (Tessera's code called
# back by oauthlib: token generators, claims), elsewhere it belongs to its caller's stage.
RULES: list[tuple[str, str, int]] = [
    (OUTSIDE, r"^p:bench/(inprocess|stages)\.py:(?!count_statements$)", HARD),
    ("handler", r"^s:django/core/handlers/wsgi\.py:WSGIHandler\.__call__$", HARD),
    ("handler", r"^s:django/core/handlers/base\.py:BaseHandler\.get_response$", HARD),
    # Every method of a class named *Middleware (or Django's MiddlewareMixin): the class of
    # ``self`` names the row, so inherited methods count for the subclass in the stack.
    (MIDDLEWARE, r":(\w*Middleware|MiddlewareMixin)\.\w+$", HARD),
    # A method of a class Tessera builds at run time (core.stacks' page/back-channel wrappers):
    # a middleware's when the class of ``self`` is named *Middleware.
    (MIDDLEWARE, r"^p:[^:]*:.*<locals>\.\w+$", MAYBE),
    ("view", r"^s:django/core/handlers/base\.py:BaseHandler\._get_response$", HARD),
    ("sql", r"^p:bench/inprocess\.py:count_statements$", HARD),
    ("sql", r"^s:psycopg(_binary|_pool)?/", HARD),
    ("client_auth", rf"^s:oauth2_provider/.*\.{_AUTH_NAMES}$", HARD),
    ("client_auth", rf"^p:idp/validators\.py:.*\.{_AUTH_NAMES}$", HARD),
    ("client_auth", r"^p:idp/crypto\.py:verify_client_secret$", HARD),
    ("signing", r"^s:(cryptography|jwcrypto|jwt|jwkest|Cryptodome)/", HARD),
    ("signing", r"^p:[^:]*:(\w+\.)*(sign|verify)_jw[ts]$", HARD),
    ("hashing", r"^s:(argon2|_argon2_cffi_bindings)/", HARD),
    ("hashing", r"^s:django/contrib/auth/hashers\.py:", HARD),
    ("hashing", r"^p:accounts/hashers\.py:", HARD),
    ("audit", r"^p:audit/", HARD),
    ("redis", r"^s:redis/", HARD),
    ("sessions", r"^s:django/contrib/sessions/", HARD),
    ("sessions", r"^p:(accounts|tenants)/sessions\.py:", HARD),
    ("ratelimit", r"^s:limits/", HARD),
    ("ratelimit", r"^p:(core/ratelimit|accounts/ratelimit|idp/views/ratelimit)\.py:", HARD),
    ("urls", r"^s:django/urls/", HARD),
    ("oauthlib", r"^s:oauthlib/", HARD),
    ("oauthlib", r"^s:oauth2_provider/(oauth2_backends|views/mixins)\.py:", HARD),
    ("view", r"^s:oauth2_provider/(oauth2_validators\.py|views/)", HARD),
    ("view", r"^p:idp/validators\.py:", HARD),
    ("view", r"^p:\w+/(views|\w+_views|views/\w+)\.py:", HARD),
    ("orm", r"^s:django/db/", HARD),
    ("response", r"^s:django/(http/response\.py|template/|templatetags/|shortcuts\.py)", HARD),
    ("response", r"^l:http/cookies\.py:", HARD),
    ("request", r"^s:django/(http/request|http/multipartparser|http/cookie|core/handlers/wsgi)\.py:", HARD),
    ("view", r"^(p:|s:oauth2_provider/)", SOFT),
]
# Tessera code every statement passes through (tenants.db's execute wrapper, the tenant-scoped
# managers): a call site is the Tessera code above it.
PLUMBING = re.compile(r"^p:tenants/(db|managers)\.py:")
_COMPILED = [(stage, re.compile(pattern), kind) for stage, pattern, kind in RULES]
_SITE = re.compile(r".*/(?:site|dist)-packages/")
_STDLIB = re.compile(r".*/lib/python3\.\d+/")


def where(filename: str) -> str:
    """p:/s:/l: followed by the file's path inside the project, site-packages or stdlib."""
    site = _SITE.match(filename)
    if site:
        return "s:" + filename[site.end():]
    root = str(ROOT) + os.sep
    if filename.startswith(root):
        return "p:" + filename[len(root):]
    std = _STDLIB.match(filename)
    return "l:" + filename[std.end():] if std else "?:" + filename


def classify(code) -> tuple[str | None, int]:
    name = f"{where(code.co_filename)}:{code.co_qualname}"
    for stage, pattern, kind in _COMPILED:
        if pattern.search(name) and (kind != MAYBE or code.co_varnames[:1] == ("self",)):
            return stage, kind
    return None, 0


def _middleware_stage(frame) -> str:
    owner = frame.f_locals.get("self")
    return f"mw:{type(owner).__name__}" if owner is not None else "mw:?"


def _maybe_middleware(frame) -> str | None:
    """The middleware stage of a MAYBE boundary, or None: not a middleware's method."""
    name = type(frame.f_locals.get("self")).__name__
    return f"mw:{name}" if name.endswith("Middleware") else None


class Profile:
    """Per-stage wall time (and, sampled, this process's CPU time) over a block of requests."""

    def __init__(self) -> None:
        self.codes: dict[Any, tuple[str | None, int]] = {}
        self.own: dict[Any, bool] = {}
        self.times: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.samples: dict[str, int] = defaultdict(int)
        self.leaves: dict[tuple[Any, str], float] = defaultdict(float)  # (code, stage): own time
        # (code, stage): time at or below the innermost frame of Tessera's own code
        self.call_sites: dict[tuple[Any, str], float] = defaultdict(float)
        self.overhead = 0.0  # the profiler's own time, charged to no stage

    def entry(self, code) -> tuple[str | None, int]:
        entry = self.codes.get(code)
        if entry is None:
            entry = self.codes[code] = classify(code)
        return entry

    def call_site(self, frame):
        """The innermost frame of Tessera's own code, past the plumbing every query goes
        through (``PLUMBING``); None outside Tessera's code."""
        own = self.own
        while frame is not None:
            code = frame.f_code
            mine = own.get(code)
            if mine is None:
                name = f"{where(code.co_filename)}:{code.co_qualname}"
                mine = own[code] = (name.startswith("p:") and not name.startswith("p:bench/")
                                    and not PLUMBING.match(name))
            if mine:
                return code
            frame = frame.f_back
        return None

    def __enter__(self) -> Profile:
        raise NotImplementedError

    def __exit__(self, *exc) -> None:
        raise NotImplementedError


class Sampler(Profile):
    """Wall-clock stack sampling (SIGALRM every ``interval`` s), each sample weighted by the
    time since the previous one and charged to the innermost boundary on the stack."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self.last = self.last_cpu = 0.0
        self.busy = False

    def stage_of(self, frame) -> str:
        soft = None
        while frame is not None:
            stage, kind = self.entry(frame.f_code)
            if kind == MAYBE:
                found = _maybe_middleware(frame)
                if found is not None:
                    return found
            elif kind == HARD:
                if stage == "oauthlib" and soft is not None:
                    return soft
                return _middleware_stage(frame) if stage == MIDDLEWARE else stage  # type: ignore[return-value]
            if kind == SOFT and soft is None:
                soft = stage
            frame = frame.f_back
        return OUTSIDE

    def _sample(self, signum, frame) -> None:
        if self.busy:  # a signal that arrived while the handler ran: its time is the handler's
            return
        self.busy = True
        now, cpu = time.perf_counter(), time.process_time()
        if frame is not None and frame.f_code is _SAMPLE_CODE:  # a signal taken as the handler began
            frame = frame.f_back
        stage = self.stage_of(frame)
        self.times[stage] += now - self.last
        self.cpu[stage] += cpu - self.last_cpu
        self.samples[stage] += 1
        if frame is not None:
            self.leaves[(frame.f_code, stage)] += now - self.last
            site = self.call_site(frame)
            if site is not None:
                self.call_sites[(site, stage)] += now - self.last
        self.last, self.last_cpu = time.perf_counter(), time.process_time()
        self.overhead += self.last - now
        self.busy = False

    def __enter__(self) -> Sampler:
        signal.signal(signal.SIGALRM, self._sample)
        signal.siginterrupt(signal.SIGALRM, False)  # restart interrupted system calls
        self.last, self.last_cpu = time.perf_counter(), time.process_time()
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)
        return self

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        self.times[OUTSIDE] += time.perf_counter() - self.last


_SAMPLE_CODE = Sampler._sample.__code__


class Tracer(Profile):
    """The same attribution from a sys.setprofile tracer: exact boundaries, inflated times
    (every Python call pays the tracer; PostgreSQL's and C's time does not). For comparison."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[Any, str]] = [(None, OUTSIDE)]
        self.last = 0.0

    def _event(self, frame, event, arg) -> None:
        if event == "call":
            stage, kind = self.entry(frame.f_code)
            if kind == MAYBE:
                stage = _maybe_middleware(frame)
            if not kind or (kind == SOFT and self.stack[-1][1] != "oauthlib") or stage is None:
                return
            now = time.perf_counter()
            self.times[self.stack[-1][1]] += now - self.last
            self.samples[self.stack[-1][1]] += 1
            self.stack.append((frame, _middleware_stage(frame) if stage == MIDDLEWARE else stage))
        elif event == "return" and frame is self.stack[-1][0]:
            now = time.perf_counter()
            self.times[self.stack[-1][1]] += now - self.last
            self.stack.pop()
        else:
            return
        self.last = time.perf_counter()
        self.overhead += self.last - now

    def __enter__(self) -> Tracer:
        self.last = time.perf_counter()
        sys.setprofile(self._event)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(None)
        self.times[self.stack[-1][1]] += time.perf_counter() - self.last


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (PostgreSQL's backend, Redis)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def repeat(one, driver: Driver, key: str, requests: int, min_seconds: float) -> int:
    """Make at least ``requests`` requests and go on for ``min_seconds`` (while refresh tokens
    last); how many were made."""
    done, started = 0, time.perf_counter()
    while done < requests or (time.perf_counter() - started < min_seconds and driver.tokens_left(key) > 0):
        one()
        done += 1
    return done


def measure(driver: Driver, key: str, requests: int, min_seconds: float, profiler: Profile,
            pids: dict[str, int], rounds: int) -> dict[str, Any]:
    """Warm up; then ``rounds`` times: time requests without a profiler (and count their
    statements, this process's, PostgreSQL's and Redis's CPU time), then as many under the
    profiler. Alternating, the machine's slow moments fall on both alike."""
    one = driver.scenario(key)
    for _ in range(driver.warmup(key, default_warmup(key))):
        one()
    each, seconds = -(-requests // rounds), min_seconds / rounds
    untraced = cpu = 0.0
    untraced_requests = done = statements = 0
    others = dict.fromkeys(pids, 0.0)
    for _ in range(rounds):
        Statements.count = 0
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started, cpu_started = time.perf_counter(), time.process_time()
        untraced_requests += repeat(one, driver, key, each, seconds)
        untraced += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        others = {name: others[name] + cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        statements += Statements.count
        with profiler:
            done += repeat(one, driver, key, each, seconds)

    def per_request(times: dict[str, float]) -> dict[str, float]:
        return {stage: seconds * 1000 / done for stage, seconds in times.items() if stage != OUTSIDE}

    def ranked(table: dict[tuple[Any, str], float], scale: float) -> list[dict[str, Any]]:
        rows = sorted(((code, stage, seconds) for (code, stage), seconds in table.items() if stage != OUTSIDE),
                      key=lambda row: -row[2])
        return [{"function": f"{where(code.co_filename)}:{code.co_qualname}:{code.co_firstlineno}",
                 "stage": stage, "ms": seconds * 1000 / done * scale} for code, stage, seconds in rows[:40]]

    stages, stages_cpu = per_request(profiler.times), per_request(profiler.cpu)
    scale = untraced * 1000 / untraced_requests / (sum(stages.values()) or 1.0)
    cpu_scale = cpu * 1000 / untraced_requests / (sum(stages_cpu.values()) or 1.0)
    return {
        "untraced_ms": untraced * 1000 / untraced_requests,
        "rounds": rounds,
        "cpu_ms": {"this process": cpu * 1000 / untraced_requests,
                   **{name: seconds * 1000 / untraced_requests for name, seconds in others.items()}},
        "total_ms": sum(stages.values()),
        "stages_ms": stages,  # as profiled
        "scale": scale,  # untraced ÷ profiled
        "stages_scaled_ms": {stage: ms * scale for stage, ms in stages.items()},
        "stages_cpu_ms": stages_cpu,  # this process's CPU time, as profiled
        "stages_cpu_scaled_ms": {stage: ms * cpu_scale for stage, ms in stages_cpu.items()},
        "statements": statements / untraced_requests,
        "requests": {"untraced": untraced_requests, "profiled": done},
        "samples": sum(n for stage, n in profiler.samples.items() if stage != OUTSIDE),
        "profiler_overhead_ms": profiler.overhead * 1000 / done,
        "top": ranked(profiler.leaves, scale),
        "call_sites": ranked(profiler.call_sites, scale),
    }


# -- the server line: the machine reference in-process against its gunicorn rate -------------


def floor_app_child(requests: int) -> None:
    """(subprocess) ms per request of bench/floor_app.py's view, called in-process."""
    from bench.floor_app import application

    request = Request("GET", "/")
    for _ in range(500):
        call(application, request)
    started = time.perf_counter()
    for _ in range(requests):
        call(application, request)
    print(json.dumps({"ms": (time.perf_counter() - started) * 1000 / requests}))


def floor_app_ms(cpu: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    pin_cmd = ["taskset", "-c", cpu] if cpu else []
    out = subprocess.run([*pin_cmd, sys.executable, __file__, "--floor-app-child", "20000"], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["ms"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure_reference_rate(seconds: int = 5, runs: int = 3) -> float:
    """bench/run.py's machine reference: bench/floor_app under gunicorn sync x3 on core 0,
    wrk (bench/lua/static_get.lua, 8 connections) on core 1; the median of ``runs``."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "gunicorn", "bench.floor_app", "-w", "3", "-b",
         f"127.0.0.1:{port}", "--worker-class", "sync", "--log-level", "warning", "--backlog", "2048",
         "--no-control-socket"],
        cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                    break
            except OSError:
                time.sleep(0.2)
        lua = ROOT / "bench" / "lua"

        def wrk(duration: int) -> float:
            out = subprocess.run(
                ["taskset", "-c", "1", "wrk", "-t2", "-c8", f"-d{duration}s", "-s", str(lua / "static_get.lua"),
                 f"http://127.0.0.1:{port}/"],
                env={**env, "BENCH_LUA_DIR": str(lua), "BENCH_THREADS": "2"}, check=True, capture_output=True,
                text=True).stdout
            match = re.search(r"RESULT (\{.*\})", out)
            if match is None:
                raise RuntimeError(f"wrk printed no result:\n{out}")
            result = json.loads(match.group(1))
            return result["ok"] / (result["duration_us"] / 1e6)

        wrk(3)
        return statistics.median(wrk(seconds) for _ in range(runs))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


# -- output -------------------------------------------------------------------------------------


def stage_order(results: dict[str, dict[str, Any]]) -> list[str]:
    from django.conf import settings

    found = {stage for result in results.values() for stage in result["stages_ms"]}
    middleware = [f"mw:{path.rsplit('.', 1)[1]}" for path in settings.MIDDLEWARE]
    middleware += sorted(s for s in found if s.startswith("mw:") and s not in middleware)
    order = ["handler", *middleware, *(s for s in LABELS if s != "handler")]
    return [s for s in order if s in found] + sorted(found - set(order))


def table(results: dict[str, dict[str, Any]], server: dict[str, Any] | None) -> str:
    """Wall time per stage (what a request waits for), with the totals and counts."""
    keys = list(results)
    lines = stage_rows(results, "stages_scaled_ms", "stage (ms per request, wall clock)")
    lines.append(_row("**total in-process (untraced; the stages add up to it)**",
                      [f"**{results[k]['untraced_ms']:.3f}**" for k in keys]))
    lines.append(_row("profiled ÷ untraced (the profiler's inflation, taken out of the rows above)",
                      [f"{1 / results[k]['scale']:.2f}" for k in keys]))
    for name in ("this process", "PostgreSQL backend", "Redis"):
        lines.append(_row(f"CPU time of {name}", [_fmt(results[k]["cpu_ms"].get(name, 0.0)) for k in keys]))
    lines.append(_row("not CPU of these three (waiting: fsync, the scheduler)", [
        _fmt(max(0.0, results[k]["untraced_ms"] - sum(results[k]["cpu_ms"].values()))) for k in keys]))
    lines.append(_row("SQL statements per request", [f"{results[k]['statements']:.2f}" for k in keys]))
    lines.append(_row("requests profiled / samples",
                      [f"{results[k]['requests']['profiled']} / {results[k]['samples']}" for k in keys]))
    if server and server.get("server_ms") is not None:
        lines.append(_row("*server (estimate, outside the process, not in the total)*",
                          [f"*{server['server_ms']:.3f}*" for _ in keys]))
    return "\n".join(lines)


def cpu_table(results: dict[str, dict[str, Any]]) -> str:
    """This process's CPU time per stage: steadier than wall time on a busy machine (no fsync
    waits, no time spent waiting for the core)."""
    keys = list(results)
    lines = stage_rows(results, "stages_cpu_scaled_ms", "stage (ms of this process's CPU per request)")
    lines.append(_row("**this process's CPU per request (untraced; the stages add up to it)**",
                      [f"**{results[k]['cpu_ms']['this process']:.3f}**" for k in keys]))
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:.3f}" if value else "-"


def _row(title: str, values: list[str]) -> str:
    return f"| {title} | " + " | ".join(values) + " |"


def stage_rows(results: dict[str, dict[str, Any]], field: str, title: str) -> list[str]:
    keys = list(results)

    def label(stage: str) -> str:
        return f"middleware: {stage[3:]}" if stage.startswith("mw:") else LABELS.get(stage, stage)

    lines = [_row(title, keys), "| --- |" + " ---: |" * len(keys)]
    for stage in stage_order(results):
        lines.append(_row(label(stage), [_fmt(results[k][field].get(stage, 0.0)) for k in keys]))
    lines.append(_row("**all middleware (sum of the rows above)**", [
        _fmt(sum(v for s, v in results[k][field].items() if s.startswith("mw:"))) for k in keys]))
    return lines


def server_line(server: dict[str, Any]) -> str:
    if server.get("server_ms") is None:
        return (f"Server: not measured here (bench/floor_app.py's view takes {server['floor_app_ms']:.3f} ms "
                "in-process; pass --reference-rate R, its gunicorn rate from `make bench`, or --measure-reference, "
                "to estimate the server's own cost per request as 1000/R minus that).")
    return (f"Server (estimate): the machine reference (bench/floor_app.py, no middleware) served "
            f"{server['reference_rate']:.0f}/s under gunicorn sync x3 on one core ({server['reference_source']}), "
            f"i.e. {1000 / server['reference_rate']:.3f} ms of that core per request, of which its view takes "
            f"{server['floor_app_ms']:.3f} ms in-process: about {server['server_ms']:.3f} ms per request is "
            "gunicorn's own (HTTP parsing, sockets, the WSGI environ), on top of every column above.")


def top_lines(results: dict[str, dict[str, Any]], count: int) -> str:
    out = []
    for key, result in results.items():
        total = result["untraced_ms"] or 1.0
        out += ["", f"{key} ({result['untraced_ms']:.3f} ms/request): top {count} functions by own time "
                    "(the innermost Python frame, the C calls it makes included)", "",
                "| ms/request | % | stage | function |", "| ---: | ---: | --- | --- |"]
        out += [f"| {row['ms']:.4f} | {100 * row['ms'] / total:.1f} | {row['stage']} | `{row['function']}` |"
                for row in result["top"][:count]]
        out += ["", f"{key}: top {count} Tessera call sites (the innermost Tessera function on the stack, "
                    "everything it calls into included, per stage; tenants.db and tenants.managers skipped)", "",
                "| ms/request | % | stage | Tessera function |", "| ---: | ---: | --- | --- |"]
        out += [f"| {row['ms']:.4f} | {100 * row['ms'] / total:.1f} | {row['stage']} | `{row['function']}` |"
                for row in result["call_sites"][:count]]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated scenario keys: " + ", ".join(SCENARIOS))
    parser.add_argument("--requests", type=int, default=300, help="requests per pass (password logins: a tenth)")
    parser.add_argument("--min-seconds", type=float, default=6.0,
                        help="least time per scenario, untraced and again profiled")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of untraced and profiled requests")
    parser.add_argument("--interval-us", type=float, default=500.0, help="sampling interval")
    parser.add_argument("--method", choices=("sample", "trace"), default="sample",
                        help="sample the stack (default), or trace every call with sys.setprofile (inflated)")
    parser.add_argument("--top", action="store_true", help="also the top 15 functions by own time per scenario")
    parser.add_argument("--reference-rate", type=float, help="bench/floor_app's gunicorn rate from make bench")
    parser.add_argument("--measure-reference", action="store_true",
                        help="measure that rate here first (gunicorn + wrk on both cores, ~25 s)")
    parser.add_argument("--cpu", default=SERVER_CPU, help="core for this process, PostgreSQL and Redis ('' = any)")
    parser.add_argument("--output", default=str(ROOT / "var" / "bench" / "stages.json"))
    parser.add_argument("--floor-app-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_app_child:
        floor_app_child(args.floor_app_child)
        return 0
    keys = parse_only(args.only)
    cpu = args.cpu or None
    reference, source = args.reference_rate, "given with --reference-rate"
    if args.measure_reference:
        reference, source = measure_reference_rate(), "measured just before, 3 runs of 5 s"
    floor_ms = floor_app_ms(cpu)
    server: dict[str, Any] = {"floor_app_ms": floor_ms, "reference_rate": reference, "reference_source": source,
                              "server_ms": (1000 / reference - floor_ms) if reference else None}
    refresh_needed = 3 * args.requests + int(args.min_seconds * 600) + 200
    results: dict[str, dict[str, Any]] = {}
    started, load_before = time.monotonic(), Path("/proc/loadavg").read_text().split()[0]
    with services(refresh_needed, cpu=cpu) as env:
        pin(cpu)
        driver = Driver(setup_django(env.env, log_file=env.work / "server.log"), env.info, env.tokens)
        install_statement_counter()
        driver.sign_in()
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids = {"PostgreSQL backend": cursor.fetchone()[0], "Redis": env.redis.process.pid}
        for key in keys:
            requests = args.requests if not key.startswith("login") else max(10, args.requests // 10)
            profiler = Sampler(args.interval_us / 1e6) if args.method == "sample" else Tracer()
            results[key] = measure(driver, key, requests, args.min_seconds, profiler, pids, args.rounds)
            print(f"{key}: {results[key]['total_ms']:.3f} ms profiled, {results[key]['untraced_ms']:.3f} untraced",
                  file=sys.stderr, flush=True)
        text = "\n\n".join([
            table(results, server),
            server_line(server),
            *([cpu_table(results)] if args.method == "sample" else []),
            f"In-process, this process and PostgreSQL (and Redis) on core {cpu or 'any'}; production settings, "
            "row-level security on, audit spool on (no shipper running). "
            + (f"Stack sampled every {args.interval_us:.0f} µs" if args.method == "sample"
               else "Traced with sys.setprofile (times inflated by the tracer; see --method)")
            + f"; {args.rounds} alternations of untraced and profiled requests per scenario; "
            f"{time.monotonic() - started:.0f} s in all; load average {load_before} before, "
            f"{Path('/proc/loadavg').read_text().split()[0]} after (the machine's other work inflates wall times).",
        ])
        if args.top:
            text += "\n" + top_lines(results, 15)
    print(text)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"scenarios": results, "server": server, "stages": LABELS, "method": args.method,
                                  "interval_us": args.interval_us, "cpu": cpu}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
