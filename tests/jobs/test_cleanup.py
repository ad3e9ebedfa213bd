"""The cleanup job keeps the token tables bounded without breaking anyone: what it deletes and
what it must keep (a refresh token whose access token expired still refreshes), tenant by
tenant; on PostgreSQL, 100,000 expired tokens deleted in short batches while grants run, and
two cleanups at once deleting each row once."""

from __future__ import annotations

import hashlib
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import BrowserSession, LoginThrottle
from audit.models import Action, AuditEvent
from idp import cleanup
from idp.models import AccessToken, Grant, RefreshToken
from tenants.context import tenant_context
from tests.oidc import Browser
from tests.security.flows import full_flow, obtain_code, refresh, token_request

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = timezone.now() - timedelta(days=400)


def age(model, *, tenant, **changes) -> None:
    with tenant_context(tenant):
        model.objects.all().update(**changes)


def counts(tenant) -> dict[str, int]:
    with tenant_context(tenant):
        return {"access": AccessToken.objects.count(), "refresh": RefreshToken.objects.count(),
                "codes": Grant.objects.count()}


def test_cleanup_deletes_the_dead_and_keeps_what_still_works(live_server, issuer_a, world_a, world_b, issuer_b):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    idle = full_flow(Browser(live_server.url), issuer_a, world_a)  # its access token will expire
    rotated = full_flow(Browser(live_server.url), issuer_a, world_a)
    successor = refresh(issuer_a, rotated["refresh_token"], client_id, secret)  # leaves one used RT
    assert successor.status_code == 200
    full_flow(Browser(live_server.url), issuer_b, world_b)
    # Every access token of tenant A expired an hour ago; B's tokens are left alone.
    age(AccessToken, tenant=world_a.tenant, expires=timezone.now() - timedelta(hours=1))
    age(AccessToken, tenant=world_b.tenant, expires=LONG_AGO)
    # An unused code past its 60 s; a stale lockout counter; an expired session.
    obtain_code(Browser(live_server.url), issuer_a, client_id)
    age(Grant, tenant=world_a.tenant, expires=timezone.now() - timedelta(minutes=10))
    with tenant_context(world_a.tenant):
        LoginThrottle.objects.create(scope="account", username="mallory", ip="192.0.2.1", failures=3,
                                     last_failure=LONG_AGO)
        LoginThrottle.objects.create(scope="account", username="eve", ip="192.0.2.2", failures=3,
                                     last_failure=timezone.now())
        BrowserSession.objects.update(expire_date=LONG_AGO)
        used_codes = Grant.objects.filter(used_at__isnull=False).count()
    before_b = counts(world_b.tenant)

    report = cleanup.clean_tenant(world_a.tenant.pk, batch_size=2)
    with tenant_context(world_a.tenant):
        # Live refresh tokens (idle's and rotated's successor) keep their access tokens; the
        # used one is kept for reuse detection; the rotated-out access token is gone.
        assert RefreshToken.objects.filter(revoked__isnull=True).count() == 2
        assert RefreshToken.objects.filter(revoked__isnull=False).count() == 1
        assert AccessToken.objects.count() == 2
        assert not Grant.objects.filter(used_at__isnull=True).exists()  # the unused expired code
        assert Grant.objects.filter(used_at__isnull=False).count() == used_codes  # within the replay window
        counters = set(LoginThrottle.objects.values_list("username", flat=True))
        assert "mallory" not in counters and "eve" in counters  # past the cool-off / within it
        assert not BrowserSession.objects.exists()
        accesses = AuditEvent.objects.filter(action=Action.PLATFORM_ACCESS).order_by("-seq").first()
    assert report is not None and report.deleted["authorization codes"] >= 1
    assert report.deleted["sessions"] >= 1 and report.deleted["lockout counters"] == 1
    assert accesses is not None and "cleanup" in accesses.details["reason"]  # through the audited door
    assert counts(world_b.tenant) == before_b  # another tenant's rows are not this run's

    # The refresh token whose access token expired still works after the cleanup.
    assert refresh(issuer_a, idle["refresh_token"], client_id, secret).status_code == 200
    # Presenting the used one is still reuse: the family is revoked, its successor with it.
    assert refresh(issuer_a, rotated["refresh_token"], client_id, secret).status_code == 400
    with tenant_context(world_a.tenant):
        assert AuditEvent.objects.filter(action=Action.TOKEN_REUSE_DETECTED).exists()
    assert refresh(issuer_a, successor.json()["refresh_token"], client_id, secret).status_code == 400

    # Past the refresh lifetime (idle) and the reuse window, everything of A goes; B's run
    # deletes B's.
    age(AccessToken, tenant=world_a.tenant, expires=LONG_AGO)
    age(RefreshToken, tenant=world_a.tenant, revoked=None)
    with tenant_context(world_a.tenant):
        RefreshToken.objects.filter(access_token__isnull=True).update(revoked=LONG_AGO)
    age(Grant, tenant=world_a.tenant, used_at=LONG_AGO)
    call_command("cleanup_expired", tenant="acme")
    assert counts(world_a.tenant) == {"access": 0, "refresh": 0, "codes": 0}
    assert counts(world_b.tenant) == before_b
    cleanup.clean_tenant(world_b.tenant.pk)
    assert counts(world_b.tenant)["access"] == 0


def _expired_access_tokens(world, n: int, offset: int = 0) -> None:
    """``n`` access tokens of ``world``'s user and web client that expired a day ago."""
    expired = timezone.now() - timedelta(days=1)
    with tenant_context(world.tenant):
        AccessToken.objects.bulk_create(
            (AccessToken(tenant=world.tenant, user=world.user, application=world.web.application, expires=expired,
                         scope="openid", token="",
                         token_checksum=hashlib.sha256(f"expired-{offset + i}".encode()).hexdigest())
             for i in range(n)),
            batch_size=5000)


@pytest.mark.postgres
def test_a_hundred_thousand_expired_tokens_go_in_short_batches_while_grants_run(live_server, issuer_a, world_a):
    _expired_access_tokens(world_a, 100_000)
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    grant = {"grant_type": "client_credentials"}
    stop, latencies, statuses = threading.Event(), [], []

    def grants() -> None:
        while not stop.is_set():
            started = time.monotonic()
            statuses.append(token_request(issuer_a, grant, client_id, secret).status_code)
            latencies.append(time.monotonic() - started)

    for _ in range(20):  # the grant's latency without a cleanup running
        started = time.monotonic()
        token_request(issuer_a, grant, client_id, secret)
        latencies.append(time.monotonic() - started)
    quiet = sorted(latencies)[int(len(latencies) * 0.99) - 1]
    latencies.clear()

    granter = threading.Thread(target=grants)
    granter.start()
    started = time.monotonic()
    try:
        report = cleanup.clean_tenant(world_a.tenant.pk, batch_size=2000)
    finally:
        stop.set()
        granter.join()
    took = time.monotonic() - started

    assert report is not None and report.deleted["access tokens"] == 100_000
    assert counts(world_a.tenant)["access"] == 20 + len(statuses)  # the grants' own tokens are alive
    assert statuses and set(statuses) == {200}
    during = sorted(latencies)[max(0, int(len(latencies) * 0.99) - 1)]
    print(f"cleanup: 100000 expired access tokens in {took:.1f} s ({100_000 / took:.0f} rows/s), "
          f"longest batch {report.longest * 1000:.0f} ms; {len(statuses)} grants meanwhile, p99 "
          f"{during * 1000:.0f} ms (without cleanup {quiet * 1000:.0f} ms, median "
          f"{statistics.median(latencies) * 1000:.0f} ms)")


@pytest.mark.postgres
def test_two_cleanups_at_once_delete_each_row_once(world_a):
    _expired_access_tokens(world_a, 20_000)
    barrier = threading.Barrier(2)

    def one_cleanup(_n: int):
        barrier.wait()
        try:
            return cleanup.clean_tenant(world_a.tenant.pk, batch_size=500)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(one_cleanup, range(2)))
    deleted = [r.deleted["access tokens"] for r in reports if r is not None]
    assert sum(deleted) == 20_000, deleted  # every row deleted, none counted twice
    assert counts(world_a.tenant)["access"] == 0
    print(f"two cleanups at once: {deleted[0]} + {deleted[1]} rows")


def test_beat_schedules_the_cleanup_and_it_cleans_every_tenant(world_a, world_b):
    """Deactivated tenants included: their expired rows are no one's to keep."""
    from settings.celery import app

    app.loader.import_default_modules()
    app.finalize()
    entry = app.conf.beat_schedule["cleanup-expired"]
    assert entry["schedule"] == 3600.0
    _expired_access_tokens(world_a, 30)
    _expired_access_tokens(world_b, 20, offset=30)
    world_b.tenant.is_active = False
    world_b.tenant.save(update_fields=["is_active"])
    app.tasks[entry["task"]].delay()  # eager here, as in `make run`; a worker in production
    assert counts(world_a.tenant)["access"] == 0 and counts(world_b.tenant)["access"] == 0


def test_refresh_tokens_that_never_expire_are_never_cleaned_up(live_server, issuer_a, world_a, monkeypatch):
    """REFRESH_TOKEN_LIFETIME 0 is django-oauth-toolkit's "never expire": then neither a live
    refresh token with a long-expired access token nor a used one (its reuse always matters)
    is deleted."""
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    assert refresh(issuer_a, tokens["refresh_token"], client_id, secret).status_code == 200
    age(AccessToken, tenant=world_a.tenant, expires=LONG_AGO)
    with tenant_context(world_a.tenant):
        RefreshToken.objects.filter(revoked__isnull=False).update(revoked=LONG_AGO)
    monkeypatch.setattr(cleanup, "refresh_token_expire_timedelta", lambda: None)
    cleanup.clean_tenant(world_a.tenant.pk)
    assert counts(world_a.tenant)["refresh"] == 2 and counts(world_a.tenant)["access"] == 1
