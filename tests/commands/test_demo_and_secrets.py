"""manage.py demo and manage.py generate_secrets"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from io import StringIO

from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from idp.management.commands.demo import DEMO_ADMIN_PASSWORD, DEMO_PASSWORD, PLATFORM_STAFF_PASSWORD
from idp.models import Application, SigningKey
from tenants.context import tenant_context
from tenants.models import Tenant
from tests.commands.conftest import ROOT, assert_usage_error


def _demo_json(manage) -> dict:
    return json.loads(manage.ok("demo", "--json").stdout)


def test_demo_prints_issuer_user_and_clients_and_is_idempotent(manage):
    first = _demo_json(manage)
    assert first["issuer"].endswith("/t/demo") and first["issuer"].startswith("http")
    assert first["discovery"] == first["issuer"] + "/.well-known/openid-configuration"
    assert first["user"] == {"username": "demo", "password": DEMO_PASSWORD}
    clients = {c["client_id"]: c for c in first["clients"]}
    assert set(clients) == {"demo-web", "demo-spa"}
    assert len(clients["demo-web"]["client_secret"]) >= 43 and clients["demo-spa"]["client_secret"] is None

    second = _demo_json(manage)
    assert [c["client_id"] for c in second["clients"]] == [c["client_id"] for c in first["clients"]]
    assert second["issuer"] == first["issuer"]
    assert manage.query("SELECT slug FROM tenants_tenant ORDER BY slug") == [("demo",), ("platform",)]
    assert manage.query("SELECT username, admin_role FROM accounts_user ORDER BY username") == [
        ("admin", "full"), ("demo", ""), ("staff", "full")]
    assert first["admin"]["url"] == first["issuer"] + "/admin/" and first["admin"]["username"] == "admin"
    assert first["platform_admin"]["url"].endswith("/t/platform/admin/")
    assert manage.query("SELECT client_id FROM idp_application ORDER BY client_id") == [
        ("demo-spa",), ("demo-web",)]

    # A rerun issues the web client a new secret; only the newest one works.
    [(stored,)] = manage.query("SELECT client_secret FROM idp_application WHERE client_id = 'demo-web'")
    new_secret = second["clients"][0]["client_secret"]
    assert new_secret != clients["demo-web"]["client_secret"]
    assert stored == manage.client_secret_digest(new_secret)
    assert stored != manage.client_secret_digest(clients["demo-web"]["client_secret"])


def test_demo_human_output(manage):
    out = manage.ok("demo").stdout
    assert re.search(r"^Issuer: +http\S+/t/demo$", out, re.MULTILINE), out
    assert f"Demo user:  demo / {DEMO_PASSWORD}" in out
    assert f"/t/demo/admin/  admin / {DEMO_ADMIN_PASSWORD}" in out
    assert f"/t/platform/admin/  staff / {PLATFORM_STAFF_PASSWORD}" in out
    assert re.search(r"client_id: +demo-web$", out, re.MULTILINE) and re.search(
        r"client_id: +demo-spa$", out, re.MULTILINE
    )
    assert len(re.findall(r"client_secret: +\S{43,}$", out, re.MULTILINE)) == 1
    assert manage.ok("demo").stdout.count("client_id:") == 2


def test_demo_in_process_twice(db):
    for _ in range(2):
        call_command("demo", stdout=StringIO())
    tenant = Tenant.objects.get(slug="demo")
    with tenant_context(tenant):
        assert Application.objects.count() == 2
        assert set(SigningKey.objects.filter(state="active").values_list("alg", flat=True)) >= {"RS256"}
        request = RequestFactory().post("/t/demo/login")
        request.tenant = tenant
        user = authenticate(request, username="demo", password=DEMO_PASSWORD)
    assert user is not None and user.email_verified


def _generated() -> dict[str, str]:
    out = StringIO()
    call_command("generate_secrets", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["SECRET_KEY", "TESSERA_KEY_ENCRYPTION_KEY"]
    return dict(line.split("=", 1) for line in lines)


def test_generate_secrets_prints_fresh_values():
    first, second = _generated(), _generated()
    kek = base64.urlsafe_b64decode(first["TESSERA_KEY_ENCRYPTION_KEY"].encode())
    assert len(kek) == 32
    assert re.fullmatch(r"[A-Za-z0-9_-]+=*", first["TESSERA_KEY_ENCRYPTION_KEY"])
    assert len(first["SECRET_KEY"]) >= 50 and len(set(first["SECRET_KEY"])) >= 5
    assert first["SECRET_KEY"] != second["SECRET_KEY"]
    assert first["TESSERA_KEY_ENCRYPTION_KEY"] != second["TESSERA_KEY_ENCRYPTION_KEY"]


def test_generated_secrets_satisfy_the_production_settings():
    values = _generated()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **values,
           "ALLOWED_HOSTS": "id.example.com", "TESSERA_PUBLIC_URL": "https://id.example.com",
           "REDIS_URL": "redis://127.0.0.1:6379/0"}
    result = subprocess.run([sys.executable, "-c", "import settings.production"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_generate_secrets_subprocess_and_usage_error(manage):
    result = manage.ok("generate_secrets")
    assert re.fullmatch(r"SECRET_KEY=\S{50,}\nTESSERA_KEY_ENCRYPTION_KEY=\S{43,44}\n", result.stdout)
    assert result.other_stderr == ""
    assert assert_usage_error(manage("generate_secrets", "--bogus")).startswith("error: ")
    assert assert_usage_error(manage("demo", "--bogus")).startswith("error: ")
