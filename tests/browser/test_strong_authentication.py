"""Second factors in headless Chromium, through a relying party's authorization request.

TOTP codes come from pyotp (an independent implementation); passkeys from Chrome's virtual
authenticator (CDP WebAuthn domain: a CTAP2 platform authenticator with resident keys and user
verification), which signs real assertions that the server verifies: nothing is mocked. The
ID tokens are fetched and read by the relying-party library (Authlib, tests.oidc).
"""

from __future__ import annotations

import time

import pyotp
import pytest

from accounts.models import Passkey
from audit.models import AuditEvent
from tenants.context import tenant_context
from tenants.models import MFAPolicy
from tenants.services import update_policy
from tests.browser.conftest import RP_ORIGIN, wait_until
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.oidc import RelyingParty
from tests.totp import current_code, later_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def rp_for(issuer: str, world) -> RelyingParty:
    client = world.first_party  # no consent page: the flows here are about authentication
    return RelyingParty(issuer, client.application.client_id, client.client_secret, WEB_REDIRECT)


def set_policy(tenant, **fields) -> None:
    update_policy(tenant, **fields)


def password(page, username: str = "alice") -> None:
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.click('form button[type="submit"]')


def submit_code(page, code: str) -> None:
    page.fill('input[name="otp_token"]', code)
    with page.expect_navigation():
        page.click('form button[type="submit"]:not([name])')


def id_token_claims(page, rp: RelyingParty, pending: dict) -> dict:
    page.wait_for_url(f"{RP_ORIGIN}/**")
    tokens = rp.exchange(page.url, pending)
    return rp.verify_id_token(tokens["id_token"], pending["nonce"])


def virtual_authenticator(page) -> tuple[object, str]:
    """Chrome's virtual authenticator on this page: (CDP session, authenticator id)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True,
    }})
    return cdp, added["authenticatorId"]


# A browser without passkey autofill: Chrome's virtual authenticator answers a conditional
# (autofill) request at once, which would sign in before a test could click or type anything.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"


def without_autofill(page) -> None:
    page.add_init_script(NO_AUTOFILL)


def sign_out(page) -> None:
    page.context.clear_cookies()


def register_passkey(page, issuer: str, name: str) -> None:
    page.goto(f"{issuer}/account/passkeys")
    page.fill('input[name="passkey_name"]', name)
    with page.expect_navigation():
        page.click("[data-passkey-register]")
    page.wait_for_selector(f"[data-passkey]:has-text('{name}')")


# -- TOTP ---------------------------------------------------------------------------------


def test_required_policy_enrols_totp_then_codes_work_once(page, live_server, issuer_a, world_a):
    set_policy(world_a.tenant, mfa=MFAPolicy.REQUIRED)
    rp = rp_for(issuer_a, world_a)
    url, pending = rp.authorization_url()
    page.goto(url)
    password(page)
    assert "/login/enrol" in page.url  # no factor yet: enrolment first, no code
    with page.expect_navigation():
        page.click("[data-enrol=totp]")
    assert page.locator(".qr svg").count() == 1
    totp = pyotp.TOTP(page.locator("[data-totp-secret]").inner_text().strip())
    submit_code(page, current_code(totp))
    codes = page.locator("[data-recovery-code]").all_inner_texts()
    assert len(codes) == 10
    with page.expect_navigation():
        page.click("[data-continue]")
    claims = id_token_claims(page, rp, pending)
    # The factor enrolled during this sign-in was used, but bound to nothing before it: no "mfa".
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "1"

    # A new browser session: password, then the MFA step with a code of a later step.
    sign_out(page)
    code = later_code(totp)
    url, pending = rp.authorization_url()
    page.goto(url)
    password(page)
    assert "/login/mfa" in page.url
    submit_code(page, code)
    assert id_token_claims(page, rp, pending)["amr"] == ["pwd", "otp", "mfa"]

    # The same code again: refused, no code for the relying party.
    sign_out(page)
    url, pending = rp.authorization_url()
    page.goto(url)
    password(page)
    submit_code(page, code)
    assert "/login/mfa" in page.url
    assert "not valid" in page.locator(".error").inner_text()
    time.sleep(1.1)  # the failure throttles the device for a second

    # A recovery code instead: good once.
    submit_code(page, codes[0])
    assert id_token_claims(page, rp, pending)["amr"] == ["pwd", "otp", "mfa"]
    sign_out(page)
    url, pending = rp.authorization_url()
    page.goto(url)
    password(page)
    submit_code(page, codes[0])
    assert "/login/mfa" in page.url and page.locator(".error").count() == 1


def test_acr_values_steps_up_with_the_second_factor_only(page, live_server, issuer_a, world_a):
    rp = rp_for(issuer_a, world_a)
    page.goto(f"{issuer_a}/login")
    password(page)  # no factor: a password-only session
    # The factor is enrolled from another browser; this session stays single-factor.
    other = page.context.browser.new_context(base_url=live_server.url)
    elsewhere = other.new_page()
    elsewhere.goto(f"{issuer_a}/login")
    password(elsewhere)
    elsewhere.goto(f"{issuer_a}/account/totp")
    totp = pyotp.TOTP(elsewhere.locator("[data-totp-secret]").inner_text().strip())
    submit_code(elsewhere, current_code(totp))
    other.close()

    url, pending = rp.authorization_url(acr_values="2")
    page.goto(url)
    assert "/login/mfa" in page.url
    assert page.locator('input[name="password"]').count() == 0
    submit_code(page, later_code(totp))
    claims = id_token_claims(page, rp, pending)
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]


# -- passkeys -----------------------------------------------------------------------------


def test_passkey_as_second_factor_and_passwordless_by_button(page, live_server, issuer_a, world_a):
    without_autofill(page)
    cdp, authenticator = virtual_authenticator(page)
    rp = rp_for(issuer_a, world_a)
    page.goto(f"{issuer_a}/login")
    password(page)
    register_passkey(page, issuer_a, "Laptop")
    # Several per user, each named. Adding one more needs a multi-factor session: the page
    # steps this password-only session up with the passkey it has (the MFA step's button).
    assert page.locator("[data-passkey-register]").count() == 0
    with page.expect_navigation():
        page.click("[data-step-up]")
    assert "/login/mfa" in page.url
    with page.expect_navigation(url=f"**{issuer_a.split('//')[1]}/account/passkeys"):
        page.click("[data-passkey-login]")
    # The second on another authenticator (one authenticator holds one passkey per account;
    # excludeCredentials tells it which it already has).
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]
    register_passkey(page, issuer_a, "Phone")
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(stored) == 1 and stored[0]["isResidentCredential"]
    assert page.locator("[data-passkey]").count() == 2
    assert page.locator("[data-passkey]").all_inner_texts()[0].startswith("Laptop")

    # Second factor after the password.
    sign_out(page)
    url, pending = rp.authorization_url()
    page.goto(url)
    password(page)
    assert "/login/mfa" in page.url
    with page.expect_navigation(url=f"{RP_ORIGIN}/**"):
        page.click("[data-passkey-login]")
    claims = id_token_claims(page, rp, pending)
    assert claims["amr"][0] == "pwd" and "hwk" in claims["amr"] and claims["amr"][-1] == "mfa"
    assert claims["acr"] == "2"

    # Passwordless, by the button on the login page (user verification required).
    sign_out(page)
    url, pending = rp.authorization_url()
    page.goto(url)
    with page.expect_navigation(url=f"{RP_ORIGIN}/**"):
        page.click("[data-passkey-login]")
    claims = id_token_claims(page, rp, pending)
    assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == "2"
    with tenant_context(world_a.tenant):
        purposes = [e.details["purpose"] for e in AuditEvent.objects.filter(action="mfa.verified")]
    assert purposes == ["step_up", "sign_in", "passwordless"]


def test_passkey_by_the_browsers_autofill(page, live_server, issuer_a, world_a):
    virtual_authenticator(page)
    rp = rp_for(issuer_a, world_a)
    page.goto(f"{issuer_a}/login")
    password(page)
    register_passkey(page, issuer_a, "Laptop")
    sign_out(page)
    # The login page's username field asks for autofill (autocomplete="username webauthn"); the
    # page starts a conditional request, which the virtual authenticator (no UI) answers with
    # its passkey, as a person picking it from the autofill list would. Nothing is clicked.
    url, pending = rp.authorization_url()
    with page.expect_navigation(url=f"{RP_ORIGIN}/**"):
        page.goto(url)
    assert page.url.startswith(WEB_REDIRECT)
    claims = id_token_claims(page, rp, pending)
    assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == "2"


def test_sign_count_regression_is_refused(page, live_server, issuer_a, world_a):
    without_autofill(page)
    cdp, authenticator = virtual_authenticator(page)
    page.goto(f"{issuer_a}/login")
    password(page)
    register_passkey(page, issuer_a, "Key")
    sign_out(page)
    page.goto(f"{issuer_a}/login")
    with page.expect_navigation():
        page.click("[data-passkey-login]")  # signs once: the server stores the count
    with tenant_context(world_a.tenant):
        stored = Passkey.objects.get().sign_count
    assert stored >= 1
    # A cloned authenticator: the same key, its counter behind the server's.
    credential = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]
    cdp.send("WebAuthn.removeCredential", {"authenticatorId": authenticator,
                                           "credentialId": credential["credentialId"]})
    cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator,
                                        "credential": {**credential, "signCount": 0}})
    sign_out(page)
    page.goto(f"{issuer_a}/login")
    page.click("[data-passkey-login]")
    assert wait_until(page, lambda: "not accepted" in page.locator("[data-passkey-status]").inner_text()
                      or "Invalid" in page.locator("[data-passkey-status]").inner_text())
    assert "/login" in page.url
    page.goto(f"{issuer_a}/")
    assert "Not signed in" in page.content()
    with tenant_context(world_a.tenant):
        assert AuditEvent.objects.filter(action="mfa.failed", details__factor="passkey").exists()


def test_a_passkey_of_tenant_a_signs_nobody_in_at_tenant_b(page, live_server, issuer_a, issuer_b,
                                                           world_a, world_b):
    without_autofill(page)
    virtual_authenticator(page)
    page.goto(f"{issuer_a}/login")
    password(page)
    register_passkey(page, issuer_a, "Key")
    sign_out(page)
    # Same host, so the same relying-party id: the browser offers A's passkey at B too.
    page.goto(f"{issuer_b}/login")
    page.click("[data-passkey-login]")
    assert wait_until(page, lambda: page.locator("[data-passkey-status]").inner_text() not in (
        "", "Waiting for your passkey…", "Checking your passkey…"))
    page.goto(f"{issuer_b}/")
    assert "Not signed in" in page.content()
    with tenant_context(world_b.tenant):
        assert not Passkey.objects.exists()
        assert AuditEvent.objects.filter(action="mfa.failed", details__reason="credential_not_found").exists()


def test_a_passkey_can_be_removed(page, live_server, issuer_a, world_a):
    without_autofill(page)
    virtual_authenticator(page)
    page.goto(f"{issuer_a}/login")
    password(page)
    register_passkey(page, issuer_a, "Old key")
    with page.expect_navigation():
        page.click("[data-step-up]")  # removing needs the second factor
    with page.expect_navigation(url="**/account/passkeys"):
        page.click("[data-passkey-login]")
    with page.expect_navigation():
        page.click("[data-passkey-remove]")
    assert page.locator("[data-passkey]").count() == 0
    with tenant_context(world_a.tenant):
        assert not Passkey.objects.exists()
        assert AuditEvent.objects.filter(action="mfa.removed", details__factor="passkey").exists()
    # The authenticator still holds it; the server no longer knows it.
    sign_out(page)
    page.goto(f"{issuer_a}/login")
    page.click("[data-passkey-login]")
    assert wait_until(page, lambda: "not" in page.locator("[data-passkey-status]").inner_text().lower())
    page.goto(f"{issuer_a}/")
    assert "Not signed in" in page.content()


def test_a_second_factor_ceremony_cannot_finish_a_passwordless_sign_in(page, live_server, issuer_a, world_a):
    """Begun for the MFA step (no user verification asked), then the pending sign-in abandoned:
    the assertion, made without user verification, must not sign anyone in passwordless."""
    without_autofill(page)
    cdp, authenticator = virtual_authenticator(page)
    page.goto(f"{issuer_a}/login")
    password(page)
    register_passkey(page, issuer_a, "Key")
    sign_out(page)
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False})
    page.goto(f"{issuer_a}/login")
    password(page)
    assert "/login/mfa" in page.url
    result = page.evaluate(r"""async () => {
      const cfg = document.querySelector("[data-passkey-config]").dataset;
      const post = (url, body) => fetch(url, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": cfg.csrf}, body: JSON.stringify(body || {})});
      const options = await (await post(cfg.beginAuth)).json();
      const b = (t) => Uint8Array.from(atob(t.replace(/-/g, "+").replace(/_/g, "/")), c => c.charCodeAt(0)).buffer;
      const s = (x) => btoa(String.fromCharCode(...new Uint8Array(x)))
        .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      // Abandon the pending sign-in (the MFA page's cancel), keeping the ceremony state.
      const form = new FormData(); form.append("cancel", "1"); form.append("csrfmiddlewaretoken", cfg.csrf);
      await fetch(window.location.pathname, {method: "POST", body: form, credentials: "same-origin"});
      const c = await navigator.credentials.get({publicKey: {...options, challenge: b(options.challenge),
        allowCredentials: options.allowCredentials.map(d => ({...d, id: b(d.id)}))}});
      const r = c.response;
      const done = await post(cfg.completeAuth, {id: c.id, rawId: s(c.rawId), type: c.type,
        clientExtensionResults: {}, response: {clientDataJSON: s(r.clientDataJSON),
        authenticatorData: s(r.authenticatorData), signature: s(r.signature)}});
      return {status: done.status, body: await done.text()};
    }""")
    assert result["status"] == 400 and "redirect_url" not in result["body"], result
    page.goto(f"{issuer_a}/")
    assert "Not signed in" in page.content()
