#!/usr/bin/env python3
"""Instructions per request for each benchmark scenario, counted by callgrind, and SQL
statements per request: figures that do not move with the machine's load.

    .venv/bin/python bench/instructions.py [--json] [--only floor,cc_jwt] [--requests 40] [--repeat 2]

``--json`` prints one JSON object, {"floor": {"instructions": int, "statements": int}, ...}
(bench/run.py reads it); without it, a Markdown table.

How: bench/inprocess.py's environment (a private PostgreSQL with the application role, the
Redis audit spool, production settings, the tenant "bench"), started here and removed at exit.
A child process signs in and runs the scenarios in-process, first natively (it counts the
statements through Django's execute wrappers and checks that every request succeeds), then
under ``valgrind --tool=callgrind``. For each scenario the child warms up, calls
``os.getppid()``, makes ``--requests`` requests, and calls ``os.getpgrp()``: callgrind zeroes
its counters before getppid and dumps them before getpgrp (``--zero-before``/``--dump-before``:
the process calls neither anywhere else), so each dump holds exactly the instructions of
the Python process's requests (the counted loop included, a few hundred instructions;
PostgreSQL's and Redis's work excluded). Instructions per request = the dump's total / requests.

Repeatable: the child runs with PYTHONHASHSEED=0 and TESSERA_LOOKUP_CACHE_SECONDS=86400. The
per-process lookup caches (tenants, clients, keys, policies) otherwise expire every 5 s: a
real server reloads each once per thousands of requests, but under callgrind (about 50 times
slower) every few dozen, which would add reloads to the count that depend on the machine's
speed. ``--repeat 2`` runs the callgrind child twice to show the spread.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.inprocess import (  # noqa: E402
    SCENARIOS,
    SERVER_CPU,
    Driver,
    Statements,
    install_statement_counter,
    parse_only,
    services,
    setup_django,
)

STEADY = {"PYTHONHASHSEED": "0", "TESSERA_LOOKUP_CACHE_SECONDS": "86400"}
CHILD_TIMEOUT = 3600


def counts(key: str, requests: int, warmup: int) -> tuple[int, int]:
    """(warm-up, measured) requests of ``key``: a password login costs ~50 ordinary requests."""
    return (2, max(2, requests // 8)) if key.startswith("login") else (warmup, requests)


# -- the child: runs inside callgrind (or natively) ------------------------------------------


def child(spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    driver = Driver(setup_django(spec["env"], log_file=Path(spec["log"])), spec["info"], spec["tokens"])
    install_statement_counter()
    driver.sign_in()
    out: dict[str, Any] = {}
    for key in spec["keys"]:
        one = driver.scenario(key)
        warmup, requests = counts(key, spec["requests"], spec["warmup"])
        for _ in range(driver.warmup(key, warmup)):
            one()
        Statements.count = 0
        started = time.perf_counter()
        os.getppid()  # callgrind --zero-before=getppid
        for _ in range(requests):
            one()
        os.getpgrp()  # callgrind --dump-before=getpgrp
        out[key] = {"requests": requests, "statements": Statements.count / requests,
                    "ms": (time.perf_counter() - started) * 1000 / requests}
    print("RESULT " + json.dumps(out), flush=True)


# -- the parent ------------------------------------------------------------------------------


def run_child(spec: dict[str, Any], work: Path, name: str, *, callgrind: bool) -> tuple[dict[str, Any], list[int]]:
    """Run the child (under callgrind if asked); its results and, under callgrind, the total
    instructions of each scenario's dump, in order."""
    spec_file = work / f"{name}.json"
    spec_file.write_text(json.dumps({**spec, "log": str(work / f"{name}.log")}))
    cmd = [sys.executable, __file__, "--child", str(spec_file)]
    out_dir = work / name
    out_dir.mkdir()
    if callgrind:
        cmd = ["valgrind", "--tool=callgrind", "--zero-before=getppid", "--dump-before=getpgrp",
               "--dump-instr=no", "--dump-line=no", f"--callgrind-out-file={out_dir}/callgrind.out.%p", *cmd]
    pin = ["taskset", "-c", spec["cpu"]] if spec["cpu"] else []
    process = subprocess.Popen([*pin, *cmd], cwd=ROOT, env={**spec["env"], **STEADY}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=CHILD_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    match = re.search(r"^RESULT (\{.*\})$", stdout, re.MULTILINE)
    if process.returncode or match is None:
        raise RuntimeError(f"{name} child failed ({process.returncode}):\n{stderr[-3000:]}")
    results = json.loads(match.group(1))
    if not callgrind:
        return results, []
    dumps = sorted(out_dir.glob("callgrind.out.*.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    totals = []
    for dump in dumps:
        text = dump.read_text(errors="replace")
        if "Trigger: --dump-before=getpgrp" not in text:
            continue
        totals.append(int(re.search(r"^summary:\s*(\d+)", text, re.MULTILINE).group(1)))  # type: ignore[union-attr]
    if len(totals) != len(spec["keys"]):
        raise RuntimeError(f"expected {len(spec['keys'])} callgrind dumps, found {len(totals)}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return results, totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object (for bench/run.py)")
    parser.add_argument("--only", help="comma-separated scenario keys: " + ", ".join(SCENARIOS))
    parser.add_argument("--requests", type=int, default=40, help="counted requests per scenario (logins: an eighth)")
    parser.add_argument("--warmup", type=int, default=20,
                        help="warm-up requests per scenario (logins: 2, or one per user signing in)")
    parser.add_argument("--repeat", type=int, default=1, help="callgrind runs (the figures are their median)")
    parser.add_argument("--cpu", default=SERVER_CPU, help="core for the child, PostgreSQL and Redis ('' = any)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    if shutil.which("valgrind") is None:
        print("error: valgrind not found (apt-get install valgrind)", file=sys.stderr)
        return 2
    keys = parse_only(args.only)
    per_run = args.requests + args.warmup + 10
    runs = 1 + args.repeat  # the native run, then the callgrind runs
    started = time.monotonic()
    with services(per_run * runs + 10, cpu=args.cpu or None) as env:
        tokens = env.tokens
        spec: dict[str, Any] = {"env": env.env, "info": env.info, "keys": keys, "requests": args.requests,
                                "warmup": args.warmup, "cpu": args.cpu}
        native, _ = run_child({**spec, "tokens": tokens[:per_run]}, env.work, "native", callgrind=False)
        counted: list[list[int]] = []
        for run in range(args.repeat):
            chunk = tokens[per_run * (run + 1):per_run * (run + 2)]
            results, totals = run_child({**spec, "tokens": chunk}, env.work, f"callgrind{run}", callgrind=True)
            counted.append([total // results[key]["requests"] for key, total in zip(keys, totals, strict=True)])
    per_key = {key: sorted(run[i] for run in counted) for i, key in enumerate(keys)}
    figures = {key: {"instructions": per_key[key][len(per_key[key]) // 2],
                     "statements": round(native[key]["statements"])} for key in keys}
    if args.json:
        print(json.dumps(figures))
        return 0
    head = "| scenario | instructions/request | " + "".join(f"run {i + 1} | " for i in range(args.repeat))
    lines = [head + "spread | SQL statements/request | ms/request natively |",
             "| --- | ---: |" + " ---: |" * args.repeat + " ---: | ---: | ---: |"]
    for i, key in enumerate(keys):
        values = [run[i] for run in counted]
        spread = (max(values) - min(values)) / min(values) * 100 if min(values) else 0.0
        lines.append(f"| {key} | {figures[key]['instructions']:,} | "
                     + "".join(f"{v:,} | " for v in values)
                     + f"{spread:.2f}% | {native[key]['statements']:.2f} | {native[key]['ms']:.2f} |")
    lines += ["", f"{args.requests} counted requests per scenario (password logins: {max(2, args.requests // 8)}) "
                  f"after {args.warmup} (logins: 2, or one per user) warm-up requests; {args.repeat} callgrind run(s); "
                  f"{time.monotonic() - started:.0f} s in all."]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
