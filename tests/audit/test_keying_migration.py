"""The migration that gave existing events their keyed links (audit 0003) keys an intact chain
and refuses one that was already tampered with: keying it would vouch for the tampering."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection, connections

from audit.models import Action, AuditEvent
from audit.recording import record
from audit.verification import verify_chain
from core.actors import system_actor
from tenants.context import tenant_context
from tests.audit.test_tamper_evidence import _write_as_owner

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "owner"])
migration = importlib.import_module("audit.migrations.0003_keyed_links_and_checkpoints")


def _run_migration_function() -> None:
    alias = "owner" if connection.vendor == "postgresql" else "default"
    try:
        with connections[alias].schema_editor(atomic=True) as editor:
            migration.key_existing_links(None, editor)
    finally:
        connections["owner"].close()


def _unkey(tenant) -> None:
    """The table as an earlier release left it: public links only."""
    _write_as_owner(tenant, ("UPDATE audit_auditevent SET mac = '' WHERE tenant_id = %s", [tenant.pk]))


def test_an_intact_unkeyed_chain_is_keyed(world_a, world_b):
    for world in (world_a, world_b):
        with tenant_context(world.tenant):
            record(Action.ADMIN_ACTION, actor=system_actor("pytest"))
        _unkey(world.tenant)
        with tenant_context(world.tenant):
            assert not verify_chain().ok  # no keyed links yet: the control
    _run_migration_function()
    for world in (world_a, world_b):
        with tenant_context(world.tenant):
            assert not AuditEvent.objects.filter(mac="").exists()
            assert verify_chain().ok


def test_a_tampered_unkeyed_chain_is_refused_not_keyed(world_a):
    _unkey(world_a.tenant)
    _write_as_owner(world_a.tenant, ("UPDATE audit_auditevent SET details = '{\"name\": \"Evil\"}' "
                                     "WHERE tenant_id = %s AND seq = 1", [world_a.tenant.pk]))
    with pytest.raises(RuntimeError, match="broken at event #1"):
        _run_migration_function()
    with tenant_context(world_a.tenant):
        assert AuditEvent.objects.filter(mac="").count() == AuditEvent.objects.count()
