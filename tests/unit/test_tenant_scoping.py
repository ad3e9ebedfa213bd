"""Tenant-scoped managers: fail closed without a tenant, see only the tenant in context."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from idp.models import Application, Consent, SigningKey
from tenants.context import (
    TenantNotSet,
    get_current_tenant,
    require_tenant,
    tenant_context,
)

User = get_user_model()


def test_no_tenant_in_context_raises(world_a):
    assert get_current_tenant() is None
    with pytest.raises(TenantNotSet):
        Application.objects.all()
    with pytest.raises(TenantNotSet):
        User.objects.filter(username="alice").exists()
    with pytest.raises(TenantNotSet):
        Consent.objects.count()
    with pytest.raises(TenantNotSet):
        SigningKey.objects.published()
    with pytest.raises(TenantNotSet):
        Application.objects.get_by_natural_key(world_a.web.application.client_id)
    with pytest.raises(TenantNotSet):
        User.objects.get_by_natural_key("alice")


def test_saving_without_a_tenant_raises(world_a):
    app = Application(name="Orphan", client_type=Application.CLIENT_PUBLIC,
                      authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE)
    with pytest.raises(TenantNotSet):
        app.save()
    assert app.pk is None


def test_only_the_current_tenants_rows_are_visible(world_a, world_b):
    a_ids = {world_a.web.application.client_id, world_a.spa.application.client_id,
             world_a.first_party.application.client_id}
    b_ids = {world_b.web.application.client_id, world_b.spa.application.client_id,
             world_b.first_party.application.client_id}
    with tenant_context(world_a.tenant):
        assert set(Application.objects.values_list("client_id", flat=True)) == a_ids
        assert User.objects.get(username="alice").pk == world_a.user.pk
        assert User.objects.get_by_natural_key("alice").pk == world_a.user.pk
        assert not Application.objects.filter(client_id=world_b.web.application.client_id).exists()
        with pytest.raises(Application.DoesNotExist):
            Application.objects.get(pk=world_b.web.application.pk)
        with pytest.raises(User.DoesNotExist):
            User.objects.get(pk=world_b.user.pk)
    with tenant_context(world_b.tenant):
        assert set(Application.objects.values_list("client_id", flat=True)) == b_ids
        assert User.objects.get(username="alice").pk == world_b.user.pk


def test_unscoped_drops_the_application_filter_but_not_the_database_one(world_a, world_b):
    """``unscoped`` skips the manager's filter; on PostgreSQL row-level security still
    narrows it to the tenant of the transaction, and to nothing without one."""
    with tenant_context(world_a.tenant):
        assert Application.objects.count() == 3
        expected = 3 if connection.vendor == "postgresql" else 6
        assert Application.unscoped.count() == expected
    if connection.vendor == "postgresql":
        assert Application.unscoped.count() == 0
        assert User.unscoped.filter(username="alice").count() == 0


def test_platform_path_visits_each_tenant_and_audits_it(world_a, world_b):
    from audit.models import Action, AuditEvent
    from core.actors import system_actor
    from tenants.platform import each_tenant

    seen = {}
    for tenant in each_tenant(reason="unit test sweep", actor=system_actor("pytest")):
        seen[tenant.slug] = set(Application.unscoped.values_list("tenant_id", flat=True))
    assert seen == {"acme": {world_a.tenant.pk}, "globex": {world_b.tenant.pk}}
    for world in (world_a, world_b):
        with tenant_context(world.tenant):
            event = AuditEvent.objects.filter(action=Action.PLATFORM_ACCESS).get()
            assert event.actor == {"name": "pytest"} and event.details == {"reason": "unit test sweep"}


def test_context_is_restored_after_nesting_and_errors(world_a, world_b):
    with tenant_context(world_a.tenant):
        with tenant_context(world_b.tenant):
            assert require_tenant() == world_b.tenant
        assert require_tenant() == world_a.tenant
        with pytest.raises(RuntimeError, match="boom"), tenant_context(world_b.tenant):
            raise RuntimeError("boom")
        assert require_tenant() == world_a.tenant
    assert get_current_tenant() is None
    with pytest.raises(TenantNotSet):
        Application.objects.count()


def test_other_threads_do_not_inherit_the_tenant(world_a):
    seen = []

    def probe():
        seen.append(get_current_tenant())

    with tenant_context(world_a.tenant):
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    assert seen == [None]
