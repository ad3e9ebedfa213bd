"""Prometheus /metrics (core.metrics), as Prometheus sees it: the counters move with real sign-ins
and grants, the exposition parses, scrape-time gauges read their sources, only an authorised
scraper gets an answer, and several processes' values add up through the multiprocess directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from audit.models import Action
from audit.recording import record
from core.actors import system_actor
from idp import rotation
from idp.tasks import rotate_keys_tenant
from tenants.context import tenant_context
from tests.oidc import Browser
from tests.security.flows import full_flow, refresh, sign_in, token_request

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token-0123456789abcdef"  # noqa: S105


def scrape(client: Client | None = None, **headers: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, by (name, labels); parsed by prometheus-client's own parser."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.django_db(transaction=True)
def test_a_scrape_after_a_sign_in_and_a_grant_shows_the_counters_moved(live_server, world_a):
    issuer = f"{live_server.url}/t/acme"
    before = scrape()
    browser = Browser(live_server.url)
    sign_in(browser, issuer, password="wrong-password-1")
    tokens = full_flow(browser, issuer, world_a)
    assert refresh(issuer, tokens["refresh_token"], world_a.web.application.client_id,
                   world_a.web.client_secret).status_code == 200
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("tessera_sign_ins_total", outcome="success") == 1
    assert moved("tessera_sign_ins_total", outcome="failure") == 1
    assert moved("tessera_tokens_issued_total", grant="authorization_code") == 1
    assert moved("tessera_tokens_issued_total", grant="refresh_token") == 1
    assert moved("tessera_audit_events_total", action="token.issued", outcome="success") == 1
    assert moved("tessera_audit_events_total", action="auth.login.failed", outcome="failure") == 1
    # Requests by the URL pattern's name, never the path (which names the tenant).
    assert moved("tessera_http_requests_total", endpoint="idp:token", method="POST", status="200") == 2
    assert moved("tessera_http_request_duration_seconds_count", endpoint="idp:token") == 2
    assert moved("tessera_http_requests_total", endpoint="accounts:login", method="GET", status="200") >= 1
    assert not any("acme" in str(labels) for _, labels in after)


@pytest.mark.django_db(transaction=True)
def test_reuse_revocation_and_rate_limits_are_counted(live_server, world_a):
    from core.metrics import count_rate_limited

    issuer = f"{live_server.url}/t/acme"
    before = scrape()
    tokens = full_flow(Browser(live_server.url), issuer, world_a)
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    assert refresh(issuer, tokens["refresh_token"], client_id, secret).status_code == 200
    assert refresh(issuer, tokens["refresh_token"], client_id, secret).status_code == 400  # reused
    again = full_flow(Browser(live_server.url), issuer, world_a)
    assert token_request(issuer, {"token": again["refresh_token"]}, client_id, secret,
                         endpoint="revoke").status_code == 200
    count_rate_limited("login")
    after = scrape()
    assert value(after, "tessera_token_reuse_detected_total") - value(before, "tessera_token_reuse_detected_total") == 1
    assert value(after, "tessera_token_revocations_total") - value(before, "tessera_token_revocations_total") == 1
    assert (value(after, "tessera_rate_limited_requests_total", scope="login")
            - value(before, "tessera_rate_limited_requests_total", scope="login")) == 1


@pytest.mark.django_db
def test_a_bearer_token_is_required_once_configured(settings):
    settings.TESSERA = {**settings.TESSERA, "METRICS_TOKEN": TOKEN}
    missing = Client().get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    for wrong in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN):
        refused = Client().get("/metrics", HTTP_AUTHORIZATION=wrong)
        assert refused.status_code == 401, wrong
        assert b"tessera_" not in refused.content
    assert scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


@pytest.mark.django_db
def test_an_address_allowlist_admits_its_networks_only(settings):
    settings.TESSERA = {**settings.TESSERA, "METRICS_ALLOWED_IPS": ["10.20.0.0/16", "2001:db8::/32"]}
    assert Client(REMOTE_ADDR="10.20.3.4").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="2001:db8::7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    # A client cannot claim an allowed address through X-Forwarded-For ...
    spoofed = Client(REMOTE_ADDR="192.0.2.9").get("/metrics", HTTP_X_FORWARDED_FOR="10.20.3.4")
    assert spoofed.status_code == 403
    # ... unless a trusted proxy appended it.
    settings.TESSERA = {**settings.TESSERA, "TRUSTED_PROXY_COUNT": 1}
    proxied = Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_X_FORWARDED_FOR="192.0.2.9, 10.20.3.4")
    assert proxied.status_code == 200


@pytest.mark.django_db
def test_unconfigured_loopback_only_in_development_and_nobody_in_production(settings):
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.9").get("/metrics").status_code == 403
    settings.TESSERA = {**settings.TESSERA, "ENVIRONMENT": "production"}
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404
    with pytest.raises(SystemCheckError, match="tessera.W010"):
        call_command("check", deploy=True, fail_level="WARNING", tags=None)
    settings.TESSERA = {**settings.TESSERA, "METRICS_TOKEN": TOKEN}
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_signing_key_age_comes_from_the_rotation_jobs_reports(world_a, django_capture_on_commit_callbacks):
    before = scrape()
    assert value(before, "tessera_scrape_collector_up", collector="signing_keys") == 1
    with django_capture_on_commit_callbacks(execute=True):
        rotation.rotate_tenant(world_a.tenant.pk)
    after = scrape()
    assert value(after, "tessera_signing_key_reports") == value(before, "tessera_signing_key_reports") + 1
    for alg in ("RS256", "ES256"):
        age = after[("tessera_signing_key_age_seconds", frozenset({"algorithm": alg}.items()))]
        assert 0 <= age < 300


@pytest.mark.django_db
def test_job_runs_and_failures_are_counted(world_a):
    task = "idp.tasks.rotate_keys_tenant"
    before = scrape()
    rotate_keys_tenant.delay(world_a.tenant.pk)
    rotate_keys_tenant.apply(args=("not a tenant id",))  # raises inside the task
    after = scrape()
    assert (value(after, "tessera_jobs_total", task=task, outcome="succeeded")
            - value(before, "tessera_jobs_total", task=task, outcome="succeeded")) == 1
    assert (value(after, "tessera_jobs_total", task=task, outcome="failed")
            - value(before, "tessera_jobs_total", task=task, outcome="failed")) == 1


@pytest.mark.django_db
def test_the_audit_spool_backlog_is_read_at_scrape_time(audit_spool, world_a):
    assert value(scrape(), "tessera_audit_spool_backlog") == 0
    with tenant_context(world_a.tenant):
        for _ in range(2):  # a stateless grant's event, spooled
            record(Action.TOKEN_ISSUED, actor=system_actor("test"), details={"grant_type": "client_credentials"},
                   spool=True)
    samples = scrape()
    assert value(samples, "tessera_audit_spool_backlog") == 2
    assert value(samples, "tessera_audit_spool_pending") == 0
    assert value(samples, "tessera_scrape_collector_up", collector="audit_spool") == 1


@pytest.mark.django_db
def test_a_failing_source_is_reported_and_the_scrape_still_answers(settings):
    settings.TESSERA = {**settings.TESSERA, "AUDIT_SPOOL_URL": "redis://127.0.0.1:1/0"}  # refused
    samples = scrape()
    assert value(samples, "tessera_scrape_collector_up", collector="audit_spool") == 0
    assert value(samples, "tessera_scrape_collector_up", collector="signing_keys") == 1


# Counts in a process of its own, as one gunicorn worker would.
WORKER = """
import sys
from core import metrics
for _ in range(int(sys.argv[1])):
    metrics.count_token_issued("client_credentials")
metrics.count_rate_limited("token")
"""
SCRAPER = "import sys; from core import metrics; sys.stdout.write(metrics.exposition().decode())"


def test_several_processes_values_add_up_in_multiprocess_mode(tmp_path):
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def run(code: str, *args: str) -> str:
        return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=environment, check=True,
                              capture_output=True, text=True, timeout=60).stdout

    run(WORKER, "3")
    run(WORKER, "4")
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for family in text_string_to_metric_families(run(SCRAPER)) for s in family.samples}
    assert value(samples, "tessera_tokens_issued_total", grant="client_credentials") == 7
    assert value(samples, "tessera_rate_limited_requests_total", scope="token") == 2
