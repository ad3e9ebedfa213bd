"""The soak (issue 15): the mixed load of the benchmark's scenarios at once (client credentials
with opaque and with JWT access tokens, introspection of each, JWKS, password sign-in, code +
PKCE, refresh; tests.faults.flows) on two tenants, through nginx on the production-like
topology, for ``TESSERA_SOAK_SECONDS`` (60 in ``make test``, 600 in ``make soak``).

Asserted: 0 errors (every answer a 200 or the expected 302, every introspection of a token
just issued active); every token a client received has
its audit event (by request id) once the spool drained; every tenant's chain verifies; memory
flat. Written to var/soak.json: requests, errors, p99, RSS of each web worker at start and end.

Memory flat means: no web worker's RSS grew by more than ``RSS_GROWTH_MB`` between the start
(measured after a warm-up, so first imports and filled lookup caches are not counted) and the
end. An absolute margin rather than a ratio: the baseline grows with the code (117 MB per
worker in the last benchmark), a leak does not care, and 20 MB is what a leak of 1 KB per
request would reach in under a minute of this load on one worker, while the per-process lookup
caches are bounded (core.lookup_cache) and fill during the warm-up.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from devtools.prodlike import ProdLike
from tests.faults import prodlike_support as support
from tests.faults.flows import Flows, Load, Recorder, percentile

# On the session's topology (tests/prodlike/conftest.py): no start-up of its own in `make test`.
pytestmark = [pytest.mark.prodlike, pytest.mark.xdist_group("prodlike")]

ROOT = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("TESSERA_SOAK_SECONDS", "60"))
WARM_UP = 10
RSS_GROWTH_MB = 20
THREADS_PER_TENANT = 3
GENEROUS = {"ratelimit_signin_per_ip": 1000000, "ratelimit_signin_per_account": 1000000,
            "ratelimit_client_requests": 1000000}


def test_soak_two_tenants_mixed_load(prodlike: ProdLike) -> None:
    pl = prodlike
    tenants = [pl.provision(slug, policy=GENEROUS) for slug in ("soak-a", "soak-b")]
    recorder = Recorder()
    loads = [Load(Flows(support.target(pl, demo), recorder), threads=THREADS_PER_TENANT) for demo in tenants]
    for load in loads:
        load.__enter__()
    try:
        recorder.set_phase("warm-up")
        time.sleep(WARM_UP)
        rss_start = support.web_worker_rss_mb(pl, nodes=2)
        recorder.set_phase("soak")
        started = time.monotonic()
        time.sleep(SECONDS)
        elapsed = time.monotonic() - started
        rss_end = support.web_worker_rss_mb(pl, nodes=2)
    finally:
        for load in loads:
            load.stop()

    measured = recorder.outcomes["soak"]
    errors = [o for o in measured if o.status not in (200, 302) or o.active is False]
    latencies = [o.seconds for o in measured]
    left = support.wait_for_spool(pl)
    handed_out = recorder.token_request_ids()
    missing = handed_out - support.token_event_request_ids(pl)
    failures = support.verify_audit(pl, *(demo.slug for demo in tenants))
    figures = {
        "seconds": round(elapsed, 1), "tenants": [demo.slug for demo in tenants],
        "threads": THREADS_PER_TENANT * len(tenants),
        "requests": len(measured), "requests_per_second": round(len(measured) / elapsed, 1),
        "errors": len(errors), "error_statuses": sorted({o.status for o in errors}),
        "inactive_introspections": sum(o.active is False for o in measured),
        "by_step": dict(sorted(Counter(o.step for o in measured).items())),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "tokens_handed_out": len(handed_out), "tokens_without_event": len(missing),
        "audit_spool_left": left, "verify_audit": "clean" if not failures else failures,
        "rss_mb_start": {str(pid): round(mb, 1) for pid, mb in sorted(rss_start.items())},
        "rss_mb_end": {str(pid): round(mb, 1) for pid, mb in sorted(rss_end.items())},
        "rss_growth_limit_mb": RSS_GROWTH_MB,
    }
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "soak.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("soak:", json.dumps(figures))

    assert measured and not errors, figures
    assert left == 0 and handed_out and not missing, figures
    assert not failures, figures
    # The same workers at the end (none restarted), none grown past the margin.
    assert set(rss_end) == set(rss_start), figures
    grown = {pid: rss_end[pid] - rss_start[pid] for pid in rss_start}
    assert all(growth <= RSS_GROWTH_MB for growth in grown.values()), (grown, figures)
