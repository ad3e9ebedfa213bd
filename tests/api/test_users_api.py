"""The admin API's users: create, list with filters, read, change, deactivate, lock and unlock,
reset MFA, and a user's sessions and tokens; each change audited, no secret ever in a response,
sign-in and tokens following the state (real views, Django's test client)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client

from accounts.factors import new_recovery_codes, start_totp_enrolment, totp_secret_text
from accounts.models import BrowserSession, Passkey, TOTPDevice
from accounts.services import update_user
from audit.models import AuditEvent
from core.actors import user_actor
from idp.models import RefreshToken
from tenants.context import tenant_context
from tenants.services import update_policy
from tests.api.conftest import FORM, Api, client_credentials_token
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.security.flows import pkce_pair

WRONG = "The username or password is not correct."
FORBIDDEN_KEYS = {"password", "password_hash", "session_key", "token", "refresh_token", "access_token", "secret",
                  "key", "digest", "token_checksum", "sealed_key", "public_key", "credential_id"}


# -- helpers: a person signing in, and a relying party's tokens ------------------------------


def sign_in(slug: str, username: str = "alice", password: str = PASSWORD, http: Client | None = None) -> Any:
    http = http or Client()
    response = http.post(f"/t/{slug}/login", {"username": username, "password": password})
    response.http = http
    return response


def signed_in(http: Client, slug: str) -> bool:
    page = http.get(f"/t/{slug}/").content.decode()
    assert "Signed in" in page or "Not signed in" in page
    return "Not signed in" not in page


def _basic(client: Any) -> str:
    raw = f"{client.application.client_id}:{client.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def code_flow(http: Client, slug: str, client: Any) -> dict:
    """A signed-in browser (``http``) authorizes the tenant's web client; its token response."""
    verifier, challenge = pkce_pair()
    query = urlencode({"response_type": "code", "client_id": client.application.client_id,
                       "redirect_uri": WEB_REDIRECT, "scope": "openid profile email", "state": "s", "nonce": "n",
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    url = f"/t/{slug}/authorize?{query}"
    response = http.get(url)
    if response.status_code == 200 and 'name="allow"' in response.content.decode():
        response = http.post(url, {"allow": "1"})
    assert response.status_code == 302 and response["Location"].startswith(WEB_REDIRECT), response
    code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
    tokens = Client().post(f"/t/{slug}/token", urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": WEB_REDIRECT, "code_verifier": verifier,
    }), content_type=FORM, HTTP_AUTHORIZATION=_basic(client))
    assert tokens.status_code == 200, tokens.content
    return tokens.json()


def refresh(slug: str, client: Any, refresh_token: str) -> Any:
    return Client().post(f"/t/{slug}/token", urlencode({"grant_type": "refresh_token",
                                                        "refresh_token": refresh_token}),
                         content_type=FORM, HTTP_AUTHORIZATION=_basic(client))


def actions(tenant: Any, uid: str) -> list[str]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(target_type="user", target_id=uid).order_by("seq")
                    .values_list("action", flat=True))


def assert_no_secrets(body: Any, *secrets: str) -> None:
    """No key that names a secret, anywhere in the JSON; none of ``secrets`` in its text."""
    def walk(value: Any) -> None:
        if isinstance(value, dict):
            assert not FORBIDDEN_KEYS & set(value), value
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(body)
    text = str(body)
    for secret in secrets:
        assert secret not in text


def alice_uid(admin_a: Any) -> str:
    return str(admin_a.world.user.uid)


# -- the lifecycle ------------------------------------------------------------------------------


def test_a_user_is_managed_end_to_end_and_every_change_is_audited(admin_a, api_a: Api):
    created = api_a.post("users/", {"username": "bob", "email": "bob@acme.example", "password": "a-fine-passphrase-9",
                                    "first_name": "Bob", "admin_role": "read_only"})
    assert created.status_code == 201, created.content
    bob = created.json()
    uid = bob["uid"]
    assert bob["username"] == "bob" and bob["admin_role"] == "read_only" and bob["has_password"] is True
    assert bob["factors"] == {"totp": 0, "passkeys": 0, "recovery_codes_left": 0}
    assert_no_secrets(bob, "a-fine-passphrase-9")
    assert sign_in(admin_a.slug, "bob", "a-fine-passphrase-9").status_code == 302

    # Without a password: an unusable one, set through the password-reset flow.
    carol = api_a.post("users/", {"username": "carol", "email": "carol@acme.example"})
    assert carol.status_code == 201 and carol.json()["has_password"] is False

    # Reading and listing, with filters.
    read = api_a.get(f"users/{uid}/")
    assert read.status_code == 200 and read.json()["last_login"]  # bob signed in above
    assert read.json() == bob | {"updated": read.json()["updated"], "last_login": read.json()["last_login"]}
    names = lambda **f: sorted(u["username"] for u in api_a.get("users/", **f).json()["results"])  # noqa: E731
    assert names() == ["alice", "auditor", "bob", "carol", "root"]
    assert names(q="acme.ex") == ["auditor", "bob", "carol", "root"]
    assert names(username="O") == ["auditor", "bob", "carol", "root"]
    assert names(email="bob@") == ["bob"]
    assert names(admin_role="read_only") == ["auditor", "bob"]
    assert names(admin_role="none") == ["alice", "carol"]
    assert names(admin_role="full") == ["root"]
    assert names(email_verified="false") == ["bob", "carol"]
    assert names(joined_after=bob["date_joined"]) == ["bob", "carol"]
    assert names(joined_before=bob["date_joined"]) == ["alice", "auditor", "root"]
    page = api_a.get("users/", page_size=2).json()
    assert len(page["results"]) == 2 and page["next"]

    changed = api_a.patch(f"users/{uid}/", {"first_name": "Robert", "email_verified": True, "admin_role": ""})
    assert changed.status_code == 200, changed.content
    assert changed.json()["first_name"] == "Robert" and changed.json()["admin_role"] == ""

    for verb, field, value in (("deactivate", "is_active", False), ("reactivate", "is_active", True),
                               ("lock", "locked", True), ("unlock", "locked", False)):
        response = api_a.post(f"users/{uid}/{verb}/")
        assert response.status_code == 200, (verb, response.content)
        assert response.json()[field] is value
        assert api_a.get(f"users/{uid}/").json()[field] is value
    assert names(is_active="true", locked="false") == ["alice", "auditor", "bob", "carol", "root"]

    reset = api_a.post(f"users/{uid}/reset-mfa/")
    assert reset.status_code == 200 and reset.json() == {"totp": 0, "passkeys": 0, "recovery_codes": 0}
    assert api_a.get(f"users/{uid}/sessions/").json() == []
    assert api_a.post(f"users/{uid}/sessions/revoke-all/").json() == {"sessions_ended": 0}
    assert api_a.get(f"users/{uid}/tokens/").json() == []

    assert actions(admin_a.tenant, uid) == [
        "user.created", "auth.login.succeeded", "user.updated", "user.deactivated", "user.reactivated",
        "user.locked", "user.unlocked", "mfa.reset"]
    with tenant_context(admin_a.tenant):
        events = {e.action: e for e in AuditEvent.objects.filter(target_id=uid)}
        writer = admin_a.writer_client.application.client_id
        assert all(events[a].actor_id == writer for a in ("user.created", "user.updated", "user.locked"))
        assert events["user.updated"].details["changes"]["admin_role"] == ["read_only", ""]
        assert_no_secrets([e.details for e in AuditEvent.objects.all()], "a-fine-passphrase-9")


def test_invalid_input_names_the_field(admin_a, api_a: Api):
    update_policy(admin_a.tenant, password_min_length=20)
    weak = api_a.post("users/", {"username": "dave", "email": "dave@acme.example", "password": "short-pass-1"})
    assert weak.status_code == 400 and weak["Content-Type"] == "application/problem+json"
    assert {e["field"] for e in weak.json()["errors"]} == {"password"}
    assert "short-pass-1" not in weak.content.decode()
    taken = api_a.post("users/", {"username": "ALICE", "email": "new@acme.example"})
    assert taken.status_code == 400 and {e["field"] for e in taken.json()["errors"]} == {"username"}
    used = api_a.post("users/", {"username": "eve", "email": "Alice@Example.com"})
    assert used.status_code == 400 and {e["field"] for e in used.json()["errors"]} == {"email"}
    bad = api_a.post("users/", {"username": "no spaces!", "email": "x", "admin_role": "god"})
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"username", "email", "admin_role"}
    clash = api_a.patch(f"users/{alice_uid(admin_a)}/", {"email": "root@acme.example"})
    assert clash.status_code == 400 and {e["field"] for e in clash.json()["errors"]} == {"email"}
    assert api_a.get("users/not-a-uuid/").status_code == 404


# -- lock, deactivate, unlock: sign-in, sessions and tokens follow ------------------------------


def _signed_in_with_tokens(admin_a) -> tuple[Client, dict]:
    signed = sign_in(admin_a.slug)
    assert signed.status_code == 302 and signed_in(signed.http, admin_a.slug)
    return signed.http, code_flow(signed.http, admin_a.slug, admin_a.world.web)


def _refused_like_a_wrong_password(admin_a) -> None:
    locked = sign_in(admin_a.slug)
    wrong = sign_in(admin_a.slug, password="not-the-password-at-all")
    assert locked.status_code == wrong.status_code == 200
    assert WRONG in locked.content.decode() and WRONG in wrong.content.decode()
    assert not signed_in(locked.http, admin_a.slug)


def test_a_locked_user_cannot_sign_in_and_loses_sessions_and_tokens_until_unlocked(admin_a, api_a: Api):
    uid, web = alice_uid(admin_a), admin_a.world.web
    browser, tokens = _signed_in_with_tokens(admin_a)
    listed = api_a.get(f"users/{uid}/tokens/").json()
    assert [(t["client_id"], t["refresh"]) for t in listed] == [(web.application.client_id, True)]
    assert_no_secrets(listed, tokens["access_token"], tokens["refresh_token"])
    sessions = api_a.get(f"users/{uid}/sessions/").json()
    with tenant_context(admin_a.tenant):
        keys = list(BrowserSession.objects.values_list("session_key", flat=True))
    assert len(sessions) == 1 and sessions[0]["id"] not in keys
    assert_no_secrets(sessions, *keys)

    locked = api_a.post(f"users/{uid}/lock/")
    assert locked.status_code == 200 and locked.json()["locked"] is True
    assert not signed_in(browser, admin_a.slug)
    assert refresh(admin_a.slug, web, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    _refused_like_a_wrong_password(admin_a)
    assert api_a.get(f"users/{uid}/sessions/").json() == [] and api_a.get(f"users/{uid}/tokens/").json() == []

    assert api_a.post(f"users/{uid}/unlock/").json()["locked"] is False
    assert sign_in(admin_a.slug).status_code == 302
    trail = actions(admin_a.tenant, uid)
    assert "user.locked" in trail and "token.revoked" in trail and trail[-2:] == ["user.unlocked",
                                                                                  "auth.login.succeeded"]
    with tenant_context(admin_a.tenant):
        revoked = AuditEvent.objects.get(action="token.revoked", target_id=uid)
        assert revoked.details["reason"] == "user locked" and revoked.actor_type == "client"
        assert AuditEvent.objects.filter(action="auth.unlocked", subject="alice").exists()  # counters cleared


def test_a_deactivated_user_cannot_sign_in_and_loses_sessions_and_tokens(admin_a, api_a: Api):
    uid, web = alice_uid(admin_a), admin_a.world.web
    browser, tokens = _signed_in_with_tokens(admin_a)
    assert api_a.post(f"users/{uid}/deactivate/").json()["is_active"] is False
    assert not signed_in(browser, admin_a.slug)
    assert refresh(admin_a.slug, web, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    _refused_like_a_wrong_password(admin_a)
    with tenant_context(admin_a.tenant):
        assert not RefreshToken.objects.filter(user__uid=uid, revoked__isnull=True).exists()
        event = AuditEvent.objects.get(action="user.deactivated", target_id=uid)
        assert event.details == {"sessions_ended": 1}
    assert api_a.post(f"users/{uid}/reactivate/").json()["is_active"] is True
    assert sign_in(admin_a.slug).status_code == 302


def test_sessions_and_tokens_are_revoked_one_by_one_or_all_at_once(admin_a, api_a: Api):
    uid, web = alice_uid(admin_a), admin_a.world.web
    first, first_tokens = _signed_in_with_tokens(admin_a)
    second, second_tokens = _signed_in_with_tokens(admin_a)
    sessions = api_a.get(f"users/{uid}/sessions/").json()
    assert len(sessions) == 2
    sid = sessions[0]["id"]
    assert api_a.delete(f"users/{uid}/sessions/{sid}/").status_code == 204
    assert api_a.delete(f"users/{uid}/sessions/{sid}/").status_code == 404
    assert [signed_in(first, admin_a.slug), signed_in(second, admin_a.slug)].count(True) == 1
    # The tokens issued through the ended session went with it; the other session's stay.
    families = api_a.get(f"users/{uid}/tokens/").json()
    assert len(families) == 1
    assert api_a.post(f"users/{uid}/sessions/revoke-all/").json() == {"sessions_ended": 1}
    assert not signed_in(first, admin_a.slug) and not signed_in(second, admin_a.slug)
    assert api_a.get(f"users/{uid}/tokens/").json() == []

    browser, tokens = _signed_in_with_tokens(admin_a)
    family = api_a.get(f"users/{uid}/tokens/").json()[0]["family"]
    assert api_a.delete(f"users/{uid}/tokens/{family}/").status_code == 204
    assert api_a.delete(f"users/{uid}/tokens/{family}/").status_code == 404
    assert refresh(admin_a.slug, web, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert signed_in(browser, admin_a.slug)  # tokens only: the session stays

    tokens = code_flow(browser, admin_a.slug, web)
    other = api_a.post(f"users/{uid}/tokens/revoke-all/", {"client_id": admin_a.world.spa.application.client_id})
    assert other.json() == {"families": 0, "access_tokens": 0}
    assert api_a.post(f"users/{uid}/tokens/revoke-all/", {"client_id": "nope"}).status_code == 400
    assert api_a.post(f"users/{uid}/tokens/revoke-all/").json() == {"families": 1, "access_tokens": 1}
    assert refresh(admin_a.slug, web, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(admin_a.slug, web, first_tokens["refresh_token"]).status_code == 400
    assert refresh(admin_a.slug, web, second_tokens["refresh_token"]).status_code == 400
    with tenant_context(admin_a.tenant):
        ended = AuditEvent.objects.filter(action="auth.sessions_revoked", target_id=uid).order_by("seq")
        assert [len(e.details["sids"]) for e in ended] == [1, 1]
        by_admin = AuditEvent.objects.filter(action="token.revoked", target_id=uid,
                                             details__reason="revoked by an admin")
        assert by_admin.count() == 2 and {e.actor_type for e in by_admin} == {"client"}


# -- reset MFA ------------------------------------------------------------------------------------


def test_reset_mfa_removes_every_factor_and_the_next_sign_in_enrols_again(admin_a, api_a: Api):
    uid, user = alice_uid(admin_a), admin_a.world.user
    with tenant_context(admin_a.tenant):
        device = start_totp_enrolment(user)
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        seed = totp_secret_text(device)
        codes = new_recovery_codes(user)
        Passkey.objects.create(user=user, name="key", credential_id=b"\x01" * 16, public_key=b"cose",
                               aaguid="0" * 36, confirmed=True)
    update_policy(admin_a.tenant, mfa="required")
    read = api_a.get(f"users/{uid}/")
    assert read.json()["factors"] == {"totp": 1, "passkeys": 1, "recovery_codes_left": 10}
    assert_no_secrets(read.json(), seed, *codes, *[c.replace("-", "") for c in codes])
    listed = api_a.get("users/", username="alice")
    assert listed.json()["results"][0]["factors"]["recovery_codes_left"] == 10
    assert_no_secrets(listed.json(), seed, *codes)
    assert sign_in(admin_a.slug)["Location"].split("?")[0].endswith("/login/mfa")

    reset = api_a.post(f"users/{uid}/reset-mfa/")
    assert reset.status_code == 200 and reset.json() == {"totp": 1, "passkeys": 1, "recovery_codes": 10}
    assert api_a.get(f"users/{uid}/").json()["factors"] == {"totp": 0, "passkeys": 0, "recovery_codes_left": 0}
    assert sign_in(admin_a.slug)["Location"].split("?")[0].endswith("/login/enrol")
    with tenant_context(admin_a.tenant):
        assert not TOTPDevice.objects.filter(user=user).exists() and not Passkey.objects.filter(user=user).exists()
        event = AuditEvent.objects.get(action="mfa.reset", target_id=uid)
    assert event.details == {"totp_devices": 1, "passkeys": 1, "recovery_codes_removed": 10}


# -- who may do what ------------------------------------------------------------------------------


def test_a_read_only_token_reads_but_every_write_is_refused(admin_a):
    reader = Api(client_credentials_token(admin_a.slug, admin_a.reader_client, "admin:read"), admin_a.base)
    uid = alice_uid(admin_a)
    for path in ("users/", f"users/{uid}/", f"users/{uid}/sessions/", f"users/{uid}/tokens/"):
        assert reader.get(path).status_code == 200, path
    writes = [reader.post("users/", {"username": "x", "email": "x@acme.example"}),
              reader.patch(f"users/{uid}/", {"first_name": "X"}),
              *(reader.post(f"users/{uid}/{verb}/") for verb in ("deactivate", "reactivate", "lock", "unlock",
                                                                  "reset-mfa", "sessions/revoke-all",
                                                                  "tokens/revoke-all")),
              reader.delete(f"users/{uid}/sessions/{'a' * 22}/"),
              reader.delete(f"users/{uid}/tokens/{uid}/")]
    assert [w.status_code for w in writes] == [403] * len(writes)
    assert all(w["Content-Type"] == "application/problem+json" for w in writes)
    plain = Api(client_credentials_token(admin_a.slug, admin_a.plain_client, ""), admin_a.base)
    assert plain.get("users/").status_code == 403 and Api(None, admin_a.base).get("users/").status_code == 401
    assert actions(admin_a.tenant, uid) == ["user.created"]


def test_another_tenants_user_is_not_found(admin_a, admin_b, api_a: Api):
    b_uid = str(admin_b.world.user.uid)
    for path in (f"users/{b_uid}/", f"users/{b_uid}/sessions/", f"users/{b_uid}/tokens/"):
        assert api_a.get(path).status_code == 404, path
    for path in ("deactivate", "lock", "unlock", "reset-mfa", "sessions/revoke-all", "tokens/revoke-all"):
        assert api_a.post(f"users/{b_uid}/{path}/").status_code == 404, path
    assert api_a.patch(f"users/{b_uid}/", {"first_name": "X"}).status_code == 404
    assert b_uid not in api_a.get("users/", page_size=200).content.decode()
    with tenant_context(admin_b.tenant):
        assert admin_b.world.user.__class__.objects.get(uid=b_uid).is_active


def test_the_last_full_admin_cannot_be_demoted_locked_or_deactivated(admin_a, api_a: Api):
    root = str(admin_a.admin.uid)
    for response in (api_a.patch(f"users/{root}/", {"admin_role": "read_only"}), api_a.post(f"users/{root}/lock/"),
                     api_a.post(f"users/{root}/deactivate/")):
        assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
        assert "last active full admin" in response.json()["errors"][0]["detail"]
    assert api_a.get(f"users/{root}/").json() | {"updated": None} == (
        api_a.get(f"users/{root}/").json() | {"admin_role": "full", "is_active": True, "locked": False,
                                              "updated": None})
    # With a second full admin, the first may go; nobody takes their own full role away.
    alice = alice_uid(admin_a)
    assert api_a.patch(f"users/{alice}/", {"admin_role": "full"}).json()["admin_role"] == "full"
    with tenant_context(admin_a.tenant):
        try:
            update_user(admin_a.admin, actor=user_actor(admin_a.admin), admin_role="read_only")
        except Exception as exc:  # noqa: BLE001
            assert "your own full admin role" in str(exc)
        else:
            raise AssertionError("an admin demoted themselves")
    assert api_a.patch(f"users/{root}/", {"admin_role": "read_only"}).status_code == 200
    # Now alice is the last one.
    assert api_a.post(f"users/{alice}/lock/").status_code == 400
    assert actions(admin_a.tenant, root).count("user.updated") == 1


def test_a_raised_admin_role_ends_the_users_sessions_and_tokens(admin_a, api_a: Api):
    """More power than the user signed in with: they sign in again, under the policy admins are
    held to (a second factor, with "required for tenant admins"), and the tokens minted for the
    smaller role go. A lowered role ends nothing (the permission is checked at each request)."""
    uid, web = alice_uid(admin_a), admin_a.world.web
    browser, tokens = _signed_in_with_tokens(admin_a)
    assert api_a.patch(f"users/{uid}/", {"admin_role": "read_only"}).status_code == 200
    assert not signed_in(browser, admin_a.slug)
    assert refresh(admin_a.slug, web, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    with tenant_context(admin_a.tenant):
        assert AuditEvent.objects.filter(action="token.revoked", target_id=uid,
                                         details__reason="admin role raised").exists()

    browser, tokens = _signed_in_with_tokens(admin_a)
    assert api_a.patch(f"users/{uid}/", {"admin_role": ""}).status_code == 200
    assert signed_in(browser, admin_a.slug)
    assert refresh(admin_a.slug, web, tokens["refresh_token"]).status_code == 200


def test_a_changed_email_address_is_no_longer_verified(admin_a, api_a: Api):
    uid = alice_uid(admin_a)
    assert api_a.get(f"users/{uid}/").json()["email_verified"] is True
    changed = api_a.patch(f"users/{uid}/", {"email": "alice@elsewhere.example"})
    assert changed.status_code == 200 and changed.json()["email_verified"] is False
    vouched = api_a.patch(f"users/{uid}/", {"email": "alice@third.example", "email_verified": True})
    assert vouched.json()["email_verified"] is True  # an admin who checked it says so
