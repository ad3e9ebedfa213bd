"""Second factors over HTTP against the live server: TOTP (codes from pyotp, an independent
implementation), recovery codes, the MFA step, policy, step-up and the attacker's side."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest
import requests

from accounts.models import RecoveryCode, TOTPDevice
from audit.models import AuditEvent
from idp.models import Grant
from tenants.context import tenant_context
from tenants.models import MFAPolicy, SecurityPolicy
from tenants.services import update_policy
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.oidc import Browser, RelyingParty, redirect_params
from tests.security.flows import authorize_url, exchange, sign_in
from tests.totp import current_code, later_code

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_RE = re.compile(r'data-totp-secret>([A-Z2-7]+)<')
CODES_RE = re.compile(r"data-recovery-code>([a-z0-9-]+)<")


def set_policy(tenant, **fields) -> None:
    update_policy(tenant, **fields)


def enrol_totp(browser: Browser, issuer: str) -> tuple[pyotp.TOTP, list[str]]:
    """From a signed-in session: the TOTP page, one code, and the recovery codes shown once."""
    page = browser.go(f"{issuer}/account/totp")
    assert page.status_code == 200, page.text[:300]
    assert SECRET_RE.search(page.text), (page.url, page.text[:1500])
    secret = SECRET_RE.search(page.text).group(1)
    assert "<svg" in page.text  # the QR code, rendered here
    totp = pyotp.TOTP(secret)
    done = browser.submit(page, {"otp_token": current_code(totp), "next": ""})
    assert done.status_code == 200, done.text[:300]
    codes = CODES_RE.findall(done.text)
    assert len(codes) == 10
    return totp, codes


def password_then_mfa_page(browser: Browser, issuer: str, client_id: str) -> tuple[requests.Response, dict]:
    url, request = authorize_url(issuer, client_id)
    page = browser.login(browser.go(url), "alice", PASSWORD)
    assert urlsplit(page.url).path.endswith("/login/mfa"), page.url
    assert 'name="otp_token"' in page.text
    return page, request


def code_from(response: requests.Response, request: dict) -> str:
    if 'name="allow"' in response.text:
        raise AssertionError("consent page: use the first-party client")
    params = redirect_params(response)
    assert params.get("state") == request["state"], params
    return params["code"]


@pytest.fixture
def enrolled(live_server, issuer_a, world_a):
    """alice at acme with an authenticator app and recovery codes; a fresh browser."""
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    totp, codes = enrol_totp(browser, issuer_a)
    return totp, codes


def test_totp_login_issues_a_multi_factor_id_token(live_server, issuer_a, world_a, enrolled):
    totp, _codes = enrolled
    client = world_a.first_party
    browser = Browser(live_server.url)
    page, request = password_then_mfa_page(browser, issuer_a, client.application.client_id)
    response = browser.submit(page, {"otp_token": later_code(totp), "next": re.search(
        r'name="next" value="([^"]*)"', page.text).group(1).replace("&amp;", "&")})
    code = code_from(response, request)
    tokens = exchange(issuer_a, code, request, client.application.client_id, client.client_secret).json()
    rp = RelyingParty(issuer_a, client.application.client_id, client.client_secret, WEB_REDIRECT)
    claims = rp.verify_id_token(tokens["id_token"], request["nonce"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "2"
    with tenant_context(world_a.tenant):
        actions = list(AuditEvent.objects.filter(action__startswith="mfa.").values_list("action", flat=True))
    assert actions[:3] == ["mfa.enrolled", "mfa.recovery_codes_generated", "mfa.verified"]


def _next_of(page: requests.Response) -> str:
    return re.search(r'name="next" value="([^"]*)"', page.text).group(1).replace("&amp;", "&")


def test_a_totp_code_is_accepted_once(live_server, issuer_a, world_a, enrolled):
    totp, _codes = enrolled
    client_id = world_a.first_party.application.client_id
    code = later_code(totp)
    first = Browser(live_server.url)
    page, request = password_then_mfa_page(first, issuer_a, client_id)
    assert code_from(first.submit(page, {"otp_token": code, "next": _next_of(page)}), request)

    replay = Browser(live_server.url)
    page, _request = password_then_mfa_page(replay, issuer_a, client_id)
    refused = replay.submit(page, {"otp_token": code, "next": _next_of(page)})
    assert refused.status_code == 400
    assert "That code is not valid" in refused.text
    # Not signed in: the authorization request still asks for the sign-in.
    assert "login" in replay.go(f"{issuer_a}/account/").url


def test_wrong_codes_are_throttled(live_server, issuer_a, world_a, enrolled):
    totp, _codes = enrolled
    update_policy(world_a.tenant, lockout_failure_limit=20)  # the device's own throttle, not the lock
    browser = Browser(live_server.url)
    page, _request = password_then_mfa_page(browser, issuer_a, world_a.first_party.application.client_id)
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    for _ in range(4):
        page = browser.submit(page, {"otp_token": wrong, "next": _next_of(page)})
        assert page.status_code == 400
    # A failure makes the device wait (1 s, 2 s, 4 s ... after each checked failure; attempts
    # while it waits are refused unchecked): even the right code is refused now.
    refused = browser.submit(page, {"otp_token": later_code(totp), "next": _next_of(page)})
    assert refused.status_code == 400
    with tenant_context(world_a.tenant):
        device = TOTPDevice.objects.get(user=world_a.user)
        assert device.throttling_failure_count >= 1
        assert device.last_t == -1 or device.last_t < int(time.time() // 30) + 1  # the good code was not spent
        failures = AuditEvent.objects.filter(action="mfa.failed").count()
    assert failures == 5
    time.sleep(2 ** (device.throttling_failure_count - 1) + 0.2)
    page = browser.go(page.url)
    assert redirect_params(browser.submit(page, {"otp_token": later_code(totp), "next": _next_of(page)}))["code"]


def test_a_recovery_code_works_once(live_server, issuer_a, world_a, enrolled):
    _totp, codes = enrolled
    client_id = world_a.first_party.application.client_id
    browser = Browser(live_server.url)
    page, request = password_then_mfa_page(browser, issuer_a, client_id)
    assert code_from(browser.submit(page, {"otp_token": codes[0].upper(), "next": _next_of(page)}), request)

    again = Browser(live_server.url)
    page, _request = password_then_mfa_page(again, issuer_a, client_id)
    assert again.submit(page, {"otp_token": codes[0], "next": _next_of(page)}).status_code == 400
    with tenant_context(world_a.tenant):
        assert RecoveryCode.objects.count() == 9


def test_enrolling_a_factor_does_not_make_the_session_multi_factor(live_server, issuer_a, world_a):
    """Whoever holds only the password could enrol a factor of their own: that proves nothing
    more, so the session stays single-factor and acr_values=2 asks for the new factor."""
    client = world_a.first_party
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    totp, _codes = enrol_totp(browser, issuer_a)
    url, request = authorize_url(issuer_a, client.application.client_id, acr_values="2")
    page = browser.go(url)
    assert urlsplit(page.url).path.endswith("/login/mfa") and 'name="password"' not in page.text
    code = code_from(browser.submit(page, {"otp_token": later_code(totp), "next": _next_of(page)}), request)
    claims = RelyingParty(issuer_a, client.application.client_id, client.client_secret,
                          WEB_REDIRECT).verify_id_token(exchange(
                              issuer_a, code, request, client.application.client_id, client.client_secret,
                          ).json()["id_token"])
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]


def test_regenerated_recovery_codes_void_the_old_set(live_server, issuer_a, world_a, enrolled):
    totp, old = enrolled
    client_id = world_a.first_party.application.client_id
    browser = Browser(live_server.url)
    page, request = password_then_mfa_page(browser, issuer_a, client_id)
    code_from(browser.submit(page, {"otp_token": later_code(totp), "next": _next_of(page)}), request)
    shown = browser.submit(browser.go(f"{issuer_a}/account/recovery-codes"), {"regenerate": "1"})
    new = CODES_RE.findall(shown.text)
    assert len(new) == 10 and not set(new) & set(old)

    other = Browser(live_server.url)
    page, _request = password_then_mfa_page(other, issuer_a, client_id)
    assert other.submit(page, {"otp_token": old[1], "next": _next_of(page)}).status_code == 400
    time.sleep(1.1)  # one failure: the code set waits a second
    page = other.go(page.url)
    assert code_from(other.submit(page, {"otp_token": new[1], "next": _next_of(page)}), _request)


def test_a_half_finished_login_gets_no_code_and_no_session(live_server, issuer_a, world_a, enrolled):
    client = world_a.first_party
    browser = Browser(live_server.url)
    page, request = password_then_mfa_page(browser, issuer_a, client.application.client_id)
    # The authorization request again: back to the sign-in, no code.
    url, again = authorize_url(issuer_a, client.application.client_id)
    response = browser.go(url)
    assert not response.is_redirect and 'name="username"' in response.text
    with tenant_context(world_a.tenant):
        assert not Grant.objects.exists()
    # No page treats the session as signed in; nothing can be added to the account.
    assert 'name="username"' in browser.go(f"{issuer_a}/account/").text
    assert 'name="username"' in browser.go(f"{issuer_a}/account/totp").text
    assert "Not signed in" in browser.go(f"{issuer_a}/").text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    begin = browser.http.post(f"{issuer_a}/passkeys/register/begin", headers={"X-CSRFToken": csrf},
                              json={})
    assert begin.status_code in (401, 403), begin.text
    # The id_token_hint-less silent request is login_required, not a code.
    url, silent = authorize_url(issuer_a, client.application.client_id, prompt="none")
    assert redirect_params(browser.go(url))["error"] == "login_required"


def test_required_policy_takes_the_user_through_enrolment(live_server, issuer_a, world_a):
    set_policy(world_a.tenant, mfa=MFAPolicy.REQUIRED)
    client = world_a.first_party
    browser = Browser(live_server.url)
    url, request = authorize_url(issuer_a, client.application.client_id)
    choose = browser.login(browser.go(url), "alice", PASSWORD)
    assert urlsplit(choose.url).path.endswith("/login/enrol"), choose.url
    with tenant_context(world_a.tenant):
        assert not Grant.objects.exists()
    totp_link = re.search(r'data-enrol="totp" href="([^"]+)"', choose.text).group(1).replace("&amp;", "&")
    page = browser.go(requests.compat.urljoin(choose.url, totp_link))
    totp = pyotp.TOTP(SECRET_RE.search(page.text).group(1))
    assert browser.submit(page, {"otp_token": "000000" if totp.now() != "000000" else "111111",
                                 "next": _next_of(page)}).status_code == 400
    time.sleep(1.1)  # a wrong code throttles enrolment too
    page = browser.go(page.url)  # the same device: the secret shown again is the same
    assert SECRET_RE.search(page.text).group(1) == totp.secret
    codes_page = browser.submit(page, {"otp_token": current_code(totp), "next": _next_of(page)})
    assert len(CODES_RE.findall(codes_page.text)) == 10
    onward = re.search(r'href="([^"]+)" data-continue', codes_page.text).group(1).replace("&amp;", "&")
    code = code_from(browser.go(requests.compat.urljoin(codes_page.url, onward)), request)
    tokens = exchange(issuer_a, code, request, client.application.client_id, client.client_secret).json()
    claims = RelyingParty(issuer_a, client.application.client_id, client.client_secret,
                          WEB_REDIRECT).verify_id_token(tokens["id_token"], request["nonce"])
    # The new factor was used, but it was not bound to the account before this sign-in: no "mfa".
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "1"


def test_a_user_with_only_recovery_codes_must_use_one_before_enrolling(live_server, issuer_a, world_a, enrolled):
    _totp, codes = enrolled
    with tenant_context(world_a.tenant):
        TOTPDevice.objects.all().delete()  # the app is gone; the recovery codes are left
    set_policy(world_a.tenant, mfa=MFAPolicy.REQUIRED)
    browser = Browser(live_server.url)
    page = sign_in(browser, issuer_a)
    assert urlsplit(page.url).path.endswith("/login/mfa"), page.url  # not the enrolment page
    assert urlsplit(browser.go(f"{issuer_a}/account/totp").url).path.endswith("/login")
    assert urlsplit(browser.go(f"{issuer_a}/login/enrol").url).path.endswith("/login/mfa")
    done = browser.submit(browser.go(f"{issuer_a}/login/mfa"), {"otp_token": codes[0], "next": ""})
    assert "Signed in" in done.text


def test_a_password_change_voids_a_pending_sign_in(live_server, issuer_a, world_a, enrolled):
    from accounts.services import change_password

    browser = Browser(live_server.url)
    page, _request = password_then_mfa_page(browser, issuer_a, world_a.first_party.application.client_id)
    with tenant_context(world_a.tenant):
        change_password(type(world_a.user).objects.get(pk=world_a.user.pk), "another-long-passphrase-9")
    again = browser.go(page.url)
    assert 'name="username"' in again.text and 'name="otp_token"' not in again.text


def test_malformed_passkey_responses_are_client_errors(live_server, issuer_a, world_a):
    http = requests.Session()
    http.get(f"{issuer_a}/login")
    headers = {"X-CSRFToken": http.cookies.get("tessera_csrf"), "Accept": "application/json"}
    bad_responses = [
        {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {
            "clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA", "userHandle": "a"}},
        {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {
            "clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA", "userHandle": "\u00e9"}},
        {"id": 5, "rawId": [], "type": "public-key", "response": "x"},
        ["not", "an", "object"],
    ]
    for body in bad_responses:
        assert http.post(f"{issuer_a}/passkeys/authenticate/begin", json={}, headers=headers).status_code == 200
        done = http.post(f"{issuer_a}/passkeys/authenticate/complete", json=body, headers=headers)
        assert 400 <= done.status_code < 500, (body, done.status_code, done.text[:200])
        assert done.headers["Content-Type"].startswith("application/json")
    garbage = http.post(f"{issuer_a}/passkeys/authenticate/complete", data=b"{not json", headers={
        **headers, "Content-Type": "application/json"})
    assert garbage.status_code == 400


def test_required_for_admins_asks_only_admins(live_server, issuer_a, world_a):
    set_policy(world_a.tenant, mfa=MFAPolicy.REQUIRED_FOR_ADMINS)
    browser = Browser(live_server.url)
    assert "Signed in" in sign_in(browser, issuer_a).text
    with tenant_context(world_a.tenant):
        type(world_a.user).objects.filter(pk=world_a.user.pk).update(admin_role="full")
    admin = Browser(live_server.url)
    assert urlsplit(sign_in(admin, issuer_a).url).path.endswith("/login/enrol")


def test_policy_off_skips_the_mfa_step_even_for_enrolled_users(live_server, issuer_a, world_a, enrolled):
    set_policy(world_a.tenant, mfa=MFAPolicy.OFF)
    browser = Browser(live_server.url)
    assert "Signed in" in sign_in(browser, issuer_a).text


def test_acr_values_steps_a_single_factor_session_up_without_the_password(live_server, issuer_a, world_a):
    client = world_a.first_party
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)  # no factor yet: password only (acr 1)
    elsewhere = Browser(live_server.url)  # the factor is enrolled from another browser
    sign_in(elsewhere, issuer_a)
    totp, _codes = enrol_totp(elsewhere, issuer_a)

    url, request = authorize_url(issuer_a, client.application.client_id)
    plain = exchange(issuer_a, code_from(browser.go(url), request), request, client.application.client_id,
                     client.client_secret).json()
    rp = RelyingParty(issuer_a, client.application.client_id, client.client_secret, WEB_REDIRECT)
    assert rp.verify_id_token(plain["id_token"])["acr"] == "1"

    time.sleep(1.1)  # so that the second factor's time differs from the password's
    url, request = authorize_url(issuer_a, client.application.client_id, acr_values="2")
    page = browser.go(url)
    assert urlsplit(page.url).path.endswith("/login/mfa") and 'name="password"' not in page.text
    code = code_from(browser.submit(page, {"otp_token": later_code(totp), "next": _next_of(page)}), request)
    claims = rp.verify_id_token(exchange(issuer_a, code, request, client.application.client_id,
                                         client.client_secret).json()["id_token"])
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["sid"] == rp.verify_id_token(plain["id_token"])["sid"]  # the same session, stepped up
    # The session records which methods were used and when: the password then, the code now.
    from accounts.sessions import SessionStore

    with tenant_context(world_a.tenant):
        key = next(c.value for c in browser.http.cookies if c.name == "tessera_session")
        used = SessionStore(session_key=key).load()["_tessera_authn"]["used"]
    assert set(used) == {"pwd", "otp", "mfa"} and used["pwd"] < used["otp"] == used["mfa"]
    assert claims["auth_time"] == used["otp"]
    with tenant_context(world_a.tenant):
        assert AuditEvent.objects.filter(action="mfa.step_up").count() == 1
    # The stepped-up session answers a silent acr_values=2 request.
    url, _silent = authorize_url(issuer_a, client.application.client_id, acr_values="2", prompt="none")
    assert redirect_params(browser.go(url)).get("code")


def test_prompt_none_with_acr_values_is_interaction_required(live_server, issuer_a, world_a):
    client = world_a.first_party
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    elsewhere = Browser(live_server.url)
    sign_in(elsewhere, issuer_a)
    enrol_totp(elsewhere, issuer_a)
    url, _request = authorize_url(issuer_a, client.application.client_id, acr_values="2", prompt="none")
    assert redirect_params(browser.go(url))["error"] == "interaction_required"


def test_managing_factors_needs_a_second_factor_once_enrolled(live_server, issuer_a, world_a, enrolled):
    browser = Browser(live_server.url)
    set_policy(world_a.tenant, mfa=MFAPolicy.OFF)
    sign_in(browser, issuer_a)  # policy off: password only
    set_policy(world_a.tenant, mfa=MFAPolicy.OPTIONAL)
    page = browser.go(f"{issuer_a}/account/totp")
    assert urlsplit(page.url).path.endswith("/login/mfa")
    with tenant_context(world_a.tenant):
        assert TOTPDevice.objects.filter(confirmed=False).count() == 0


def test_a_factor_of_tenant_a_never_satisfies_tenant_b(live_server, issuer_a, issuer_b, world_a, world_b,
                                                       enrolled):
    totp_a, codes_a = enrolled
    b_setup = Browser(live_server.url)
    sign_in(b_setup, issuer_b)
    totp_b, _codes_b = enrol_totp(b_setup, issuer_b)  # B's alice: a seed of her own

    browser = Browser(live_server.url)
    page, request = password_then_mfa_page(browser, issuer_b, world_b.first_party.application.client_id)
    for answer in (later_code(totp_a), codes_a[0]):
        if answer == later_code(totp_b):
            continue  # one chance in a million that the two seeds agree now
        page = browser.submit(page, {"otp_token": answer, "next": _next_of(page)})
        assert page.status_code == 400, answer
    with tenant_context(world_a.tenant):
        assert RecoveryCode.objects.count() == 10  # A's code was not spent at B either
    page = browser.go(page.url)
    time.sleep(2.1)  # two failures: the device asks for 2 s
    assert code_from(browser.submit(page, {"otp_token": later_code(totp_b), "next": _next_of(page)}), request)
    # A session at A is nobody at B.
    assert "login" in Browser(live_server.url).go(f"{issuer_b}/account/").url


def test_no_seed_or_code_reaches_the_database_in_clear_or_the_audit_trail(live_server, issuer_a, world_a,
                                                                          enrolled):
    totp, codes = enrolled
    import base64

    seed = base64.b32decode(totp.secret + "=" * (-len(totp.secret) % 8))
    with tenant_context(world_a.tenant):
        device = TOTPDevice.objects.get(user=world_a.user)
        assert seed not in bytes(device.sealed_key)
        digests = set(RecoveryCode.objects.values_list("digest", flat=True))
        trail = " ".join(str(e.details) for e in AuditEvent.objects.all())
    assert len(digests) == 10
    for code in codes:
        assert code.replace("-", "") not in " ".join(digests)
        assert code not in trail and code.replace("-", "") not in trail
    assert totp.secret not in trail


@pytest.mark.parametrize("timeout", ["session_idle_timeout", "session_absolute_timeout"])
def test_session_timeouts_of_the_policy_end_the_session(live_server, issuer_a, world_a, timeout):
    browser = Browser(live_server.url)
    set_policy(world_a.tenant, **{timeout: 1})
    sign_in(browser, issuer_a)
    assert browser.go(f"{issuer_a}/account/").status_code == 200
    time.sleep(1.3)
    assert 'name="password"' in browser.go(f"{issuer_a}/account/").text
    with tenant_context(world_a.tenant):
        assert AuditEvent.objects.filter(action="auth.logout").count() == 1


def test_a_policy_change_applies_from_the_next_sign_in(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    set_policy(world_a.tenant, session_absolute_timeout=1, mfa=MFAPolicy.REQUIRED)
    time.sleep(1.3)
    assert browser.go(f"{issuer_a}/account/").status_code == 200  # the session keeps its own terms
    later_browser = Browser(live_server.url)
    assert "/login/enrol" in sign_in(later_browser, issuer_a).url  # the next sign-in has the new ones


def test_the_policy_is_changed_only_with_valid_values(db, world_a):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        update_policy(world_a.tenant, mfa="sometimes")
    with pytest.raises(ValidationError):
        update_policy(world_a.tenant, tenant_id=2)
    assert update_policy(world_a.tenant, mfa=MFAPolicy.REQUIRED).mfa == MFAPolicy.REQUIRED
    with tenant_context(world_a.tenant):
        assert SecurityPolicy.objects.get().mfa == MFAPolicy.REQUIRED
