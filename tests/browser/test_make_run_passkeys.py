"""`make run` with TESSERA_PUBLIC_URL=http://localhost:PORT: passkeys work on the embedded
default (SQLite, Django's server), in Chromium with its virtual authenticator.

WebAuthn refuses IP addresses as relying-party ids, so the plain `make run` (issuer
http://127.0.0.1:PORT) does not offer passkeys and says why on the passkeys page.
"""

from __future__ import annotations

import pytest

from tests.browser.test_strong_authentication import virtual_authenticator
from tests.make_run import make_run

pytestmark = pytest.mark.browser
DEMO = ("demo", "correct-horse-battery-staple")


@pytest.fixture(scope="module")
def localhost_run(tmp_path_factory):
    with make_run(tmp_path_factory.mktemp("make-run-localhost"), public_url="http://localhost:{port}") as running:
        yield running[0]


@pytest.fixture
def tab(chromium):
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _password(tab, issuer: str) -> None:
    tab.goto(f"{issuer}/login")
    tab.fill('input[name="username"]', DEMO[0])
    tab.fill('input[name="password"]', DEMO[1])
    with tab.expect_navigation():
        tab.click('form button[type="submit"]')


def test_make_run_on_localhost_registers_and_signs_in_with_a_passkey(localhost_run, tab):
    issuer = localhost_run
    assert issuer.startswith("http://localhost:")
    virtual_authenticator(tab)
    _password(tab, issuer)
    tab.goto(f"{issuer}/account/passkeys")
    tab.fill('input[name="passkey_name"]', "Demo key")
    with tab.expect_navigation():
        tab.click("[data-passkey-register]")
    assert tab.locator("[data-passkey]").count() == 1
    tab.context.clear_cookies()
    # The login page's autofill request signs the demo user in with the passkey alone.
    with tab.expect_navigation(url=f"{issuer}/"):
        tab.goto(f"{issuer}/login")
    assert tab.locator("[data-username]").inner_text() == "demo"


def test_plain_make_run_on_an_ip_address_says_passkeys_need_a_name(tmp_path, tab):
    with make_run(tmp_path) as (issuer, _output):
        assert issuer.startswith("http://127.0.0.1:")
        tab.goto(f"{issuer}/login")
        assert tab.locator("[data-passkey-login]").count() == 0
        _password(tab, issuer)
        tab.goto(f"{issuer}/account/passkeys")
        assert "Passkeys need a domain name" in tab.locator(".error").inner_text()
