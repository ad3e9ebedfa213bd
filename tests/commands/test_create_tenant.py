"""manage.py create_tenant"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tenants.models import Tenant
from tests.commands.conftest import assert_usage_error


def test_create_tenant_in_process(db):
    out = StringIO()
    call_command("create_tenant", "acme", "--name", "Acme Corp", stdout=out)
    assert out.getvalue().strip() == "Created tenant acme (Acme Corp)."
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.name == "Acme Corp" and tenant.is_active


def test_create_tenant_json_in_process(db):
    out = StringIO()
    call_command("create_tenant", "globex", "--name", "Globex Inc", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert printed == {"slug": "globex", "name": "Globex Inc", "id": Tenant.objects.get(slug="globex").pk}


def test_create_tenant_exit_codes(manage):
    result = manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    assert result.stdout.strip() == "Created tenant acme (Acme Corp)." and result.other_stderr == ""
    # The chain starts with the tenant's creation; its signing keys are created with it.
    event, *keys = result.audit
    assert event["action"] == "tenant.created" and event["actor"] == {"name": "manage.py create_tenant"}
    assert sorted(k["details"]["alg"] for k in keys) == ["ES256", "RS256"]
    assert all(k["action"] == "key.created" and k["details"]["state"] == "active" for k in keys)
    assert manage.query("SELECT alg, state FROM idp_signingkey ORDER BY alg") == [
        ("ES256", "active"), ("RS256", "active")]
    assert manage.query("SELECT slug, name FROM tenants_tenant") == [("acme", "Acme Corp")]

    assert_usage_error(manage("create_tenant", "acme", "--name", "Another Acme"), "already exists")
    assert manage.query("SELECT slug, name FROM tenants_tenant") == [("acme", "Acme Corp")]


@pytest.mark.parametrize("slug", ["Acme", "-acme", "acme_corp", "a" * 64, "acme/x"])
def test_create_tenant_refuses_bad_slug(manage, slug):
    assert_usage_error(manage("create_tenant", slug, "--name", "Bad"))
    assert manage.query("SELECT count(*) FROM tenants_tenant") == [(0,)]


def test_create_tenant_usage_errors(manage):
    assert assert_usage_error(manage("create_tenant", "acme")).startswith("error: ")  # no --name
    assert assert_usage_error(manage("create_tenant", "--name", "Acme")).startswith("error: ")  # no slug
    assert assert_usage_error(manage("create_tenant", "acme", "--name", "A", "--bogus")).startswith("error: ")
    assert manage.query("SELECT count(*) FROM tenants_tenant") == [(0,)]
