"""The scheduled audit job (audit.retention.maintain_tenant): a signed checkpoint of each
chain, and each tenant's retention applied through the purge path, leaving a chain that
verifies; the floor of 30 days holds whatever the policy says."""

from __future__ import annotations

import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from audit.models import Action, AuditEvent, Checkpoint
from audit.recording import record
from audit.tasks import maintain_all_tenants
from audit.verification import verify_chain
from core.actors import system_actor
from settings.celery import app as celery_app
from tenants.context import tenant_context
from tenants.services import create_tenant, update_policy

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "owner"])


def old_tenant(slug: str, days_ago: int):
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(days=days_ago)):
        tenant = create_tenant(slug, slug.title())  # events 1-3: the tenant and its two keys
        with tenant_context(tenant):
            record(Action.ADMIN_ACTION, actor=system_actor("pytest"), details={"n": "old"})  # event 4
    with tenant_context(tenant):
        record(Action.ADMIN_ACTION, actor=system_actor("pytest"), details={"n": "new"})  # event 5
    return tenant


def seqs(tenant) -> list[int]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))


def test_the_job_checkpoints_every_chain_and_applies_each_retention():
    purged = old_tenant("purged", days_ago=100)
    kept = old_tenant("kept", days_ago=100)
    forever = old_tenant("forever", days_ago=1000)
    update_policy(purged, audit_retention_days=60)
    update_policy(kept, audit_retention_days=365)
    update_policy(forever, audit_retention_days=0)

    assert maintain_all_tenants.delay().get() == 3  # eager in tests, as in `make run`

    assert seqs(purged)[0] == 5  # events 1-4 were 100 days old
    assert seqs(kept)[0] == 1 and seqs(forever)[0] == 1
    for tenant in (purged, kept, forever):
        with tenant_context(tenant):
            result = verify_chain()
            assert result.ok, result
            assert Checkpoint.objects.exists()
            assert AuditEvent.objects.filter(action=Action.PLATFORM_ACCESS,
                                             details__reason="audit checkpoint and retention").exists()
    with tenant_context(purged):
        event = AuditEvent.objects.get(action=Action.AUDIT_PURGED)
        assert event.details["through_seq"] == 4
    connections["owner"].close()


def test_a_retention_under_thirty_days_is_refused():
    tenant = create_tenant("short", "Short")
    for days in (1, 29):
        with pytest.raises(ValidationError, match="at least 30 days"):
            update_policy(tenant, audit_retention_days=days)
    update_policy(tenant, audit_retention_days=30)


def test_the_command_runs_the_job_for_one_tenant():
    tenant = old_tenant("byhand", days_ago=100)
    update_policy(tenant, audit_retention_days=30)
    out = io.StringIO()
    call_command("purge_audit", tenant="byhand", stdout=out)
    assert "byhand: checkpoint at #" in out.getvalue() and "4 events purged" in out.getvalue()
    assert seqs(tenant)[0] == 5
    connections["owner"].close()


def test_the_job_is_on_the_beat_schedule():
    entry = celery_app.conf.beat_schedule["audit-checkpoints-and-retention"]
    assert entry["task"] == "audit.tasks.maintain_all_tenants"
