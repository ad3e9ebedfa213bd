"""Celery tasks run as the job's tenant (eager mode here; the broker-backed worker test
arrives with the jobs issue)."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import User
from tenants.tasks import InactiveTenant, tenant_task


@tenant_task()
def _usernames_and_setting() -> tuple[list[str], str | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT username FROM accounts_user")  # no filter: RLS narrows it
        names = [row[0] for row in cursor.fetchall()]
        setting = None
        if connection.vendor == "postgresql":
            cursor.execute("SELECT current_setting('app.tenant_id', true)")
            setting = cursor.fetchone()[0]
    return names, setting


@pytest.mark.django_db(transaction=True)
def test_a_task_sees_only_its_tenant(world_a, world_b):
    from tenants.context import tenant_context

    with tenant_context(world_b.tenant):
        User.objects.create(username="bob", email="bob@globex.example")
    names, setting = _usernames_and_setting.delay(world_b.tenant.pk).get()
    if connection.vendor == "postgresql":
        assert sorted(names) == ["alice", "bob"] and setting == str(world_b.tenant.pk)
    names, _ = _usernames_and_setting.delay(world_a.tenant.pk).get()
    if connection.vendor == "postgresql":
        assert names == ["alice"]
    world_b.tenant.is_active = False
    world_b.tenant.save()
    with pytest.raises(InactiveTenant):
        _usernames_and_setting.delay(world_b.tenant.pk).get()
