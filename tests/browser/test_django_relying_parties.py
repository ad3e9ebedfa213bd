"""The README's "Connecting your Django app", run: two small Django projects (tests/rp_apps),
one on mozilla-django-oidc and one on Authlib's Django client, each under its own
``manage.py runserver`` against a live Tessera, driven through Chromium. Sign in (consent,
claims on the app's page), sign out at both ends (RP-initiated logout), and two tenants at
once in one browser: each app connected to another tenant, each session on its own."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from idp.models import GrantType
from idp.services.clients import create_client
from tenants.context import tenant_context
from tests.browser.conftest import submit
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

APPS = Path(__file__).resolve().parents[1] / "rp_apps"
CALLBACK = {"mozilla": "/oidc/callback/", "authlib": "/callback/"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def relying_party(kind: str, issuer: str, world, tmp_path: Path) -> Iterator[str]:
    """Register the app as a client of ``world``'s tenant, exactly as its developers would
    (confidential, code + refresh, its callback with the trailing slash, its home page as the
    post-logout URI), and serve it; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tenant_context(world.tenant):
        client = create_client(name=f"{kind} app", confidential=True, redirect_uris=[base + CALLBACK[kind]],
                               post_logout_redirect_uris=[base + "/"],
                               grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "TESSERA_"))}
    env.update(DJANGO_SETTINGS_MODULE=f"rp_{kind}.settings", RP_ISSUER=issuer, PYTHONDONTWRITEBYTECODE="1",
               RP_CLIENT_ID=client.application.client_id, RP_CLIENT_SECRET=client.client_secret or "",
               RP_DATABASE=str(tmp_path / f"{kind}-{port}.sqlite3"), RP_COOKIE_PREFIX=f"{kind}{port}")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=APPS, env=env, check=True, timeout=120)
    server = subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], cwd=APPS, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for _ in range(150):
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(base + "/", timeout=2).ok:
                    break
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context()
    context.set_default_timeout(20_000)
    yield context
    context.close()


def _sign_in(page, app: str, username: str = "alice") -> None:
    """From the app's page through Tessera's login and consent pages, back to the app."""
    page.goto(app + "/")
    assert page.locator("[data-signed-out]").count() == 1
    page.click("[data-login]")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    submit(page, 'form button[type="submit"]')
    if page.locator('button[name="allow"]').count():
        page.click('button[name="allow"]')
    page.wait_for_url(app + "/")


def _signed_in_as(page, app: str) -> dict | None:
    page.goto(app + "/")
    marker = page.locator("[data-signed-in]")
    if not marker.count():
        return None
    return {"sub": marker.get_attribute("data-signed-in"), "issuer": marker.get_attribute("data-issuer"),
            "name": page.locator("[data-name]").inner_text(), "email": page.locator("[data-email]").inner_text()}


def _signed_in_at_tessera(page, issuer: str) -> bool:
    page.goto(issuer + "/")
    return page.locator("h1").inner_text() == "Signed in"


@pytest.mark.parametrize("kind", ["mozilla", "authlib"])
def test_a_django_app_signs_in_shows_the_claims_and_signs_out_at_both_ends(
        browser_context, live_server, issuer_a, world_a, tmp_path, kind):
    page = browser_context.new_page()
    with relying_party(kind, issuer_a, world_a, tmp_path) as app:
        _sign_in(page, app)
        assert _signed_in_as(page, app) == {"sub": str(world_a.user.uid), "issuer": issuer_a,
                                            "name": "Alice Liddell", "email": "alice@example.com"}
        assert _signed_in_at_tessera(page, issuer_a)
        page.goto(app + "/")
        page.click("[data-logout]")  # signs out at the app, then RP-initiated logout at Tessera
        page.wait_for_url(app + "/")
        assert page.locator("[data-signed-out]").count() == 1
        assert not _signed_in_at_tessera(page, issuer_a), "the app signed out but Tessera kept the session"


def test_two_tenants_at_once_in_one_browser(browser_context, live_server, issuer_a, issuer_b, world_a, world_b,
                                            tmp_path):
    """One browser, two apps, each connected to another tenant, where a user called alice
    with the same email exists at both: each app knows its own alice by (issuer, sub)."""
    page = browser_context.new_page()
    with relying_party("mozilla", issuer_a, world_a, tmp_path) as app_a, \
            relying_party("authlib", issuer_b, world_b, tmp_path) as app_b:
        _sign_in(page, app_a)
        _sign_in(page, app_b)
        at_a, at_b = _signed_in_as(page, app_a), _signed_in_as(page, app_b)
        assert at_a["issuer"] == issuer_a and at_a["sub"] == str(world_a.user.uid)
        assert at_b["issuer"] == issuer_b and at_b["sub"] == str(world_b.user.uid)
        assert at_a["sub"] != at_b["sub"] and at_a["email"] == at_b["email"]
        page.goto(app_a + "/")
        page.click("[data-logout]")
        page.wait_for_url(app_a + "/")
        assert _signed_in_as(page, app_a) is None and not _signed_in_at_tessera(page, issuer_a)
        assert _signed_in_as(page, app_b) == at_b and _signed_in_at_tessera(page, issuer_b)
