"""Faults under load on the production-like topology (issue 15): nginx (HTTPS), pgbouncer in
transaction pooling, two gunicorn web nodes, worker, beat, shipper, Redis (devtools.prodlike).

Threads run the mixed flows through nginx while, in turn, Redis is stopped and started,
PostgreSQL stopped and started, the worker and beat stopped and started, and a web node
SIGKILLed and started again. Per phase:

- Redis down changes nothing a client sees (the cache degrades, the audit spool writes
  synchronously).
- PostgreSQL down: 200/302 where no database is needed, else 503 (never a 500, never a request
  left hanging); once it is back the same gunicorn workers answer again (no restart).
- Worker and beat down: issuance unaffected; an email queued meanwhile is sent once the worker
  is back, and beat sends its schedules again.
- A web node killed: nginx sends the rest to the other node; nothing the application answered
  is a 5xx.

At the end every token a client received has its audit event (by request id), and every
tenant's chain verifies.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from tests.faults import prodlike_support as support
from tests.faults.flows import Flows, Load, Recorder

pytestmark = [pytest.mark.postgres, pytest.mark.prodlike]  # starts servers of its own: make test-topology

GENEROUS = {"ratelimit_signin_per_ip": 1000000, "ratelimit_signin_per_account": 1000000,
            "ratelimit_recovery_per_ip": 1000000, "ratelimit_recovery_per_account": 1000000,
            "ratelimit_client_requests": 1000000}
PHASE_SECONDS = 4
# pgbouncer holds a client that waits for a server connection until its next login attempt
# (server_login_retry, 15 s by default) and then answers its error: a client gives up later.
CLIENT_TIMEOUT = 40
RECOVERY_SECONDS = 30  # PostgreSQL back -> the app answering again, without a restart
RESETS_WHILE_WORKER_DOWN = 2


def _emails_sent(pl: Any) -> int:
    return int(support.sql(pl, "SELECT count(*) FROM audit_auditevent WHERE action = 'user.email_sent' "
                               "AND details->>'kind' = 'password_reset'"))


def _wait_until(check: Any, seconds: float) -> float:
    """Seconds until ``check()`` held (polled every 0.2 s); raises after ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.2)
    return time.monotonic() - started


def test_faults_under_load_on_the_production_like_topology(prodlike_tools: None) -> None:
    from devtools.prodlike import ProdLike

    # A topology of its own (it breaks it). Beat's webhook sweep every 2 s: its "Sending due
    # task" shows beat working again at once.
    with ProdLike(web_nodes=2, gunicorn_workers=2, extra_env={"TESSERA_WEBHOOK_SWEEP_INTERVAL": "2"}) as pl:
        demo = pl.provision("faults", policy=GENEROUS)
        recorder = Recorder()
        target = support.target(pl, demo)
        flows = Flows(target, recorder, timeout=CLIENT_TIMEOUT)
        probe = Flows(target, Recorder())
        probe_session = target.session()
        with Load(flows, threads=4):
            recorder.set_phase("before")
            time.sleep(PHASE_SECONDS)

            recorder.set_phase("redis down")
            pl.stop("redis")
            time.sleep(PHASE_SECONDS)
            pl.start("redis")
            recorder.set_phase("redis back")
            time.sleep(PHASE_SECONDS)

            workers = support.web_worker_rss_mb(pl, nodes=2).keys()
            recorder.set_phase("postgres down")
            pl.stop("postgres")
            time.sleep(PHASE_SECONDS)
            pl.start("postgres")
            recorder.set_phase("postgres returning")
            recovery = _wait_until(lambda: probe.client_credentials(probe_session, target.info["cc_auth"], "probe"),
                                   RECOVERY_SECONDS)
            recorder.set_phase("postgres back")
            time.sleep(PHASE_SECONDS)
            workers_after = support.web_worker_rss_mb(pl, nodes=2).keys()

            beat_runs = pl.logs("beat").count("Sending due task")
            emails_before = _emails_sent(pl)
            recorder.set_phase("worker and beat down")
            pl.stop("worker")
            pl.stop("beat")
            for _ in range(RESETS_WHILE_WORKER_DOWN):
                flows.password_reset(target.session(), f"{demo.username}@{demo.slug}.example")
            time.sleep(PHASE_SECONDS)
            emails_while_down = _emails_sent(pl)
            pl.start("worker")
            pl.start("beat")
            recorder.set_phase("worker and beat back")
            time.sleep(PHASE_SECONDS)

            recorder.set_phase("web node killed")
            pl.kill("web0", signal.SIGKILL)
            time.sleep(PHASE_SECONDS)
            pl.start("web0")
            recorder.set_phase("web node back")
            time.sleep(PHASE_SECONDS)
        summary = recorder.summary()
        slowest_503 = max((o.seconds for o in recorder.all() if o.status == 503), default=0.0)
        print("statuses by phase:", summary, f"recovered {recovery:.1f} s after PostgreSQL was back;",
              f"slowest 503 {slowest_503:.1f} s")

        assert not any(500 in recorder.statuses(phase) for phase in summary), support.internal_errors(pl, 2)
        for phase in ("before", "redis down", "redis back", "postgres back", "worker and beat down",
                      "worker and beat back", "web node back"):
            assert set(recorder.statuses(phase)) <= {200, 302}, (phase, summary)
        for phase in ("postgres down", "postgres returning"):
            assert set(recorder.statuses(phase)) <= {200, 302, 503}, (phase, summary)
        assert recorder.statuses("postgres down")[503] > 0, summary
        # Recovery without a restart: the very same gunicorn workers answer again.
        assert workers_after == workers
        # A killed node's in-flight requests: nginx retries an idempotent one on the other node, a
        # POST may get 502 from nginx (the upstream closed); nothing the application answered 5xx.
        assert set(recorder.statuses("web node killed")) <= {200, 302, 502, 0}, summary

        # Jobs catch up: the reset emails queued while the worker was down are sent after it is
        # back, and beat sends its schedules again.
        assert emails_while_down == emails_before
        _wait_until(lambda: _emails_sent(pl) >= emails_before + RESETS_WHILE_WORKER_DOWN, 60)
        _wait_until(lambda: pl.logs("beat").count("Sending due task") > beat_runs, 30)

        assert support.wait_for_spool(pl) == 0
        handed_out = recorder.token_request_ids()
        missing = handed_out - support.token_event_request_ids(pl)
        assert handed_out and not missing, f"{len(missing)} of {len(handed_out)} tokens have no audit event"
        assert support.verify_audit(pl, demo.slug) == []
