"""Faults survived under load (issue 15), on a served Tessera of the module's own
(tests.faults.stack: PostgreSQL, Redis, gunicorn x2 on settings.production, the audit shipper).

While threads run the mixed flows (client credentials opaque and JWT, password sign-in, code +
PKCE, refresh), each test takes a service away and gives it back, and asserts what clients saw,
phase by phase, and what the database kept:

- Redis stopped: sign-in and every grant keep working (the cache degrades, the audit spool
  falls back to synchronous writes); a JWT access token is refused at introspection (the deny
  list fails closed) and readiness names the cache; nothing is lost when Redis returns.
- PostgreSQL restarted: requests during the outage get 503 with Retry-After in their caller's
  form, never a 500; no half-written row; the same gunicorn serves again without a restart,
  and a restart between two requests costs each persistent connection one 503 at most.
- A web worker SIGKILLed with requests in flight: every token a client received has its
  audit event, every stored token its event, and the chain verifies.

"No token without its event" is checked by request id: each request sends its own X-Request-ID,
which the audit trail stores (audit.context).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from devtools.faults import start_postgres, stop_postgres
from tests.faults.flows import Flows, Load, Recorder
from tests.faults.stack import TENANT, Stack

pytestmark = [pytest.mark.postgres, pytest.mark.prodlike]  # starts servers of its own: make test-topology
THREADS = 3
SERVER_ERRORS = range(500, 600)


def _run_phase(recorder: Recorder, phase: str, seconds: float) -> None:
    recorder.set_phase(phase)
    time.sleep(seconds)


def _assert_no_token_without_event(stack: Stack, recorder: Recorder) -> None:
    assert stack.wait_for_spool() == 0, "the audit spool did not drain"
    handed_out = recorder.token_request_ids()
    assert handed_out, "the load got no token at all"
    missing = handed_out - stack.token_event_request_ids()
    assert not missing, f"{len(missing)} of {len(handed_out)} tokens handed out have no audit event"
    # Stored tokens against their events: the opaque client-credentials client's rows and its
    # token.issued events are written in one transaction (never one without the other).
    client_id = stack.info["cc_auth"]
    import base64

    client_id = base64.b64decode(client_id.split()[1]).decode().split(":")[0]
    rows = int(stack.sql("SELECT count(*) FROM idp_accesstoken t JOIN idp_application a ON a.id = t.application_id "
                         f"WHERE a.client_id = '{client_id}'"))
    events = int(stack.sql("SELECT count(*) FROM audit_auditevent WHERE action = 'token.issued' "
                           f"AND actor_id = '{client_id}'"))
    assert rows == events, (rows, events)
    verified = stack.verify_audit()
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _statuses_of(recorder: Recorder, phase: str, step: str) -> set[int]:
    return {o.status for o in recorder.outcomes[phase] if o.step == step}


def test_redis_stopped_sign_in_and_grants_keep_working_and_nothing_is_lost(stack: Stack):
    recorder = Recorder()
    flows = Flows(stack.target, recorder)
    http_session = stack.target.session()
    jwt = requests.post(f"{stack.base}/t/{TENANT}/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": stack.info["cc_jwt_auth"], **stack.target.headers}).json()
    jwt_token = jwt["access_token"]
    log_offset = len(stack.gunicorn_log())
    with Load(flows, threads=THREADS):
        _run_phase(recorder, "before", 2)
        recorder.set_phase("redis down")
        stack.redis.stop()
        time.sleep(3)
        # Fail closed: the deny list cannot say the JWT was not revoked, so it is not active.
        introspected = Flows(stack.target, Recorder()).introspect(http_session, jwt_token, stack.info["cc_auth"])
        assert introspected is not None and introspected.status_code == 200
        assert introspected.json() == {"active": False}
        ready = requests.get(f"{stack.base}/readyz", headers=stack.target.headers, timeout=10)
        assert ready.status_code == 503 and ready.json()["checks"]["cache"].startswith("failed"), ready.text
        # The email-sending pages' limits count in this process's memory meanwhile (core.ratelimit,
        # H1's decision: no limit needs Redis to be enforced): the page still answers.
        reset = Flows(stack.target, Recorder()).password_reset(stack.target.session(), "bench@example.com")
        assert reset is not None and reset.status_code == 200, reset
        recorder.set_phase("redis back")
        stack.redis.start()
        time.sleep(3)
        reset = Flows(stack.target, Recorder()).password_reset(stack.target.session(), "bench@example.com")
        assert reset is not None and reset.status_code == 200, reset
    log = stack.gunicorn_log()[log_offset:]

    summary = recorder.summary()
    for phase in ("before", "redis down", "redis back"):
        statuses = recorder.statuses(phase)
        assert set(statuses) <= {200, 302}, (phase, summary)
    down = "redis down"
    for step in ("client credentials (opaque)", "client credentials (JWT)", "code exchange", "refresh"):
        assert _statuses_of(recorder, down, step) == {200}, (step, summary)
    assert _statuses_of(recorder, down, "sign-in") == {302}, summary
    # The cache's outage is logged at most once per process that met it, never once per request
    # (its end too: tests/faults/test_degrading_cache.py). Since the rate limits moved to
    # core.ratelimit no request of these flows needs the default cache, so it may not show at all.
    workers = len(stack.worker_pids())
    assert log.count("unreachable (ConnectionError); serving without the cache") <= workers, log[-3000:]
    assert "audit spool unavailable" in log  # the stateless grants' events went in synchronously
    assert "deny list unreachable" in log and jwt_token not in log
    # Once Redis is back, the JWT is active again (it was never revoked) and nothing was lost.
    again = flows.introspect(http_session, jwt_token, stack.info["cc_auth"])
    assert again is not None and again.json()["active"] is True
    _assert_no_token_without_event(stack, recorder)


def test_postgres_restarted_answers_503_and_the_same_server_recovers(stack: Stack):
    recorder = Recorder()
    flows = Flows(stack.target, recorder)
    headers = stack.target.headers
    gunicorn_pid = stack.gunicorn.pid if stack.gunicorn else None
    with Load(flows, threads=THREADS):
        _run_phase(recorder, "before", 2)
        recorder.set_phase("postgres down")
        stop_postgres(stack.cluster)
        try:
            time.sleep(2)
            token = requests.post(f"{stack.base}/t/{TENANT}/token", data={"grant_type": "client_credentials"},
                                  headers={"Authorization": stack.info["cc_auth"], **headers}, timeout=15)
            page = requests.get(f"{stack.base}/t/{TENANT}/login", headers=headers, timeout=15)
            api = requests.get(f"{stack.base}/t/{TENANT}/api/v1/users/", timeout=15,
                               headers={"Authorization": "Bearer x", **headers})
        finally:
            start_postgres(stack.cluster)
        recorder.set_phase("postgres back")
        time.sleep(3)

    # The protocol endpoint: the OAuth error body; the page: readable; the API: a problem document.
    assert token.status_code == 503 and token.headers["Retry-After"], token.text
    assert token.json()["error"] == "temporarily_unavailable" and token.headers["Cache-Control"] == "no-store"
    assert page.status_code == 503 and page.headers["Retry-After"] and "Temporarily unavailable" in page.text
    assert "Content-Security-Policy" in page.headers
    assert api.status_code == 503 and api.headers["Content-Type"] == "application/problem+json", api.text
    assert api.json()["type"] == "urn:tessera:problem:temporarily-unavailable"

    summary = recorder.summary()
    assert set(recorder.statuses("before")) <= {200, 302}, summary
    assert set(recorder.statuses("postgres down")) <= {200, 302, 503}, summary
    assert recorder.statuses("postgres down")[503] > 0, summary
    # Back without restarting gunicorn: after a second for requests in flight to settle, all served.
    back = [o for o in recorder.outcomes["postgres back"] if o.at > recorder.outcomes["postgres back"][0].at + 1]
    assert back and {o.status for o in back} <= {200, 302}, summary
    assert stack.gunicorn and stack.gunicorn.pid == gunicorn_pid and stack.gunicorn.poll() is None
    _assert_no_token_without_event(stack, recorder)


def test_a_restart_between_two_requests_costs_each_connection_one_request_at_most(stack: Stack):
    """Each worker holds a persistent connection (DB_CONN_MAX_AGE); PostgreSQL restarts while
    nobody asks. Without DB_CONN_HEALTH_CHECKS (off by default: a round trip before every
    request) the first request on each dead connection fails, as a 503, and Django closes that
    connection after it: the next request reconnects, without restarting anything."""
    recorder = Recorder()
    flows = Flows(stack.target, recorder)
    http_session = stack.target.session()
    for _ in range(10):  # every worker has served, so every worker holds a connection
        assert flows.client_credentials(http_session, stack.info["cc_auth"], "warm")
    stop_postgres(stack.cluster)
    start_postgres(stack.cluster)
    recorder.set_phase("after")
    for _ in range(10):
        flows.client_credentials(http_session, stack.info["cc_auth"], "after restart")
    statuses = [outcome.status for outcome in recorder.outcomes["after"]]
    assert set(statuses) <= {200, 503}, recorder.summary()  # a clean refusal, never a 500
    # One per worker's dead connection, and any the restarting server refused ("starting up").
    assert statuses[-5:] == [200] * 5, recorder.summary()


def test_a_web_worker_killed_in_flight_loses_no_event(stack: Stack):
    recorder = Recorder()
    flows = Flows(stack.target, recorder)
    with Load(flows, threads=THREADS + 1):
        _run_phase(recorder, "before", 2)
        recorder.set_phase("kills")
        for _ in range(3):
            victim = stack.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)  # gunicorn's master starts another
            time.sleep(1.5)
        _run_phase(recorder, "after", 2)

    summary = recorder.summary()
    # A request in flight on the killed worker gets no answer (0) or gunicorn's 502-free reset;
    # none gets a 500.
    assert not any(status in SERVER_ERRORS for phase in summary.values() for status in map(int, phase)), summary
    assert set(recorder.statuses("after")) <= {200, 302}, summary
    _assert_no_token_without_event(stack, recorder)
