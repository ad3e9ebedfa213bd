"""Django admin per tenant (/t/<slug>/admin/): who gets in, what they see, what they may do.

Real HTTP through Django's test client, signed in through the tenant's own login page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse, set_urlconf

from accounts.models import User
from audit.models import Action, AuditEvent, WebhookSubscription
from idp.models import Application, SigningKey
from tenants.admin_site import urlconf_for
from tenants.context import tenant_context
from tenants.services import policy_for
from tests.admin.conftest import admin_url, location_path, sign_in
from tests.api.conftest import client_credentials_token
from tests.conftest import PASSWORD

CHANGELISTS = ["accounts/user/", "idp/application/", "idp/signingkey/", "audit/auditevent/",
               "audit/webhooksubscription/", "audit/webhookdelivery/"]


def trail(tenant: Any, action: str | None = None) -> list[AuditEvent]:
    with tenant_context(tenant):
        events = AuditEvent.objects.order_by("seq")
        return list(events.filter(action=action) if action else events)


def rows_of(world: Any) -> dict[str, Any]:
    """Each admin model's objects of a tenant: (object pk, a string its changelist shows)."""
    with tenant_context(world.tenant):
        subscription = WebhookSubscription.objects.first() or WebhookSubscription.objects.create(
            url=f"https://siem.{world.slug}.example/hook", actions=["*"], sealed_secret=b"sealed")
        key = SigningKey.objects.order_by("created").first()
        event = AuditEvent.objects.order_by("seq").last()
        return {
            "accounts/user/": (world.admin.pk, world.admin.email),
            "idp/application/": (world.writer_client.application.pk, world.writer_client.application.client_id),
            "idp/signingkey/": (key.pk, key.kid),
            "audit/auditevent/": (event.pk, None),
            "tenants/securitypolicy/": (policy_for(world.tenant).pk, None),
            "audit/webhooksubscription/": (subscription.pk, subscription.url),
        }


def test_a_tenant_admin_sees_only_their_tenant(admin_a, admin_b):
    browser = sign_in(admin_a.slug, "root")
    mine, theirs = rows_of(admin_a), rows_of(admin_b)
    for changelist in CHANGELISTS:
        page = browser.get(admin_url(admin_a.slug, changelist))
        assert page.status_code == 200, changelist
        text = page.content.decode()
        if mine.get(changelist, (None, None))[1]:
            assert mine[changelist][1] in text, changelist
            assert theirs[changelist][1] not in text, changelist
        # Every link of the page stays inside tenant A.
        assert not re.search(r'href="/t/(?!acme/)', text), changelist
    for changelist, (pk, _shown) in theirs.items():
        for view in ("change/", "history/", "delete/"):
            response = browser.get(admin_url(admin_a.slug, f"{changelist}{pk}/{view}"))
            assert response.status_code == 404, (changelist, view)
    # Searching for B's rows finds none either.
    page = browser.get(admin_url(admin_a.slug, "accounts/user/"), {"q": admin_b.admin.email})
    assert "0 results" in page.content.decode()
    # B's object through A's admin: never changed.
    browser.post(admin_url(admin_a.slug, f"accounts/user/{admin_b.admin.pk}/change/"), {"first_name": "Mallory"})
    with tenant_context(admin_b.tenant):
        assert User.objects.get(pk=admin_b.admin.pk).first_name == ""


def test_the_platform_tenants_model_is_not_shown_to_tenant_admins(admin_a):
    browser = sign_in(admin_a.slug, "root")
    assert browser.get(admin_url(admin_a.slug, "tenants/tenant/")).status_code == 403
    assert "tenants/tenant/" not in browser.get(admin_url(admin_a.slug)).content.decode()


def test_sign_in_goes_through_the_tenants_login_page_and_comes_back(admin_a):
    anonymous = Client()
    first = anonymous.get(admin_url(admin_a.slug, "accounts/user/"))
    assert first.status_code == 302 and location_path(first) == admin_url(admin_a.slug, "login/")
    second = anonymous.get(first["Location"])
    assert second.status_code == 302
    assert second["Location"] == f"/t/{admin_a.slug}/login?next=%2Ft%2Facme%2Fadmin%2Faccounts%2Fuser%2F"
    # A next outside the admin is not followed.
    assert anonymous.get(admin_url(admin_a.slug, "login/?next=https://evil.example/"))["Location"].endswith(
        "next=%2Ft%2Facme%2Fadmin%2F")
    browser = sign_in(admin_a.slug, "root", next_url=admin_url(admin_a.slug, "accounts/user/"))
    assert browser.landed == admin_url(admin_a.slug, "accounts/user/")
    assert browser.get(browser.landed).status_code == 200
    # Signed in: the admin's login page goes to the admin.
    assert browser.get(admin_url(admin_a.slug, "login/"))["Location"] == admin_url(admin_a.slug)
    # Logout and password change are the tenant's own pages.
    assert browser.post(admin_url(admin_a.slug, "logout/"))["Location"] == f"/t/{admin_a.slug}/logout"
    assert browser.get(admin_url(admin_a.slug, "password_change/"))["Location"] == f"/t/{admin_a.slug}/account/password"


def test_plain_users_and_other_tenants_admins_do_not_get_in(admin_a, admin_b):
    plain = sign_in(admin_a.slug, "alice")
    assert plain.get(admin_url(admin_a.slug)).status_code == 302
    refused = plain.get(admin_url(admin_a.slug, "login/"))
    assert refused.status_code == 403
    for changelist in CHANGELISTS:
        assert plain.get(admin_url(admin_a.slug, changelist)).status_code == 302

    # B's admin, signed in at B: A's admin sends them to A's login (B's session is not A's).
    other = sign_in(admin_b.slug, "root")
    assert other.get(admin_url(admin_b.slug)).status_code == 200
    for path in ("", *CHANGELISTS):
        response = other.get(admin_url(admin_a.slug, path))
        assert response.status_code == 302 and "/t/acme/admin/login/" in response["Location"], path

    # Even B's session cookie presented on A's path (one cookie name per tenant path) is ignored.
    forged = Client()
    forged.cookies["tessera_session"] = other.cookies["tessera_session"].value
    assert forged.get(admin_url(admin_a.slug))["Location"].startswith("/t/acme/admin/login/")


def test_an_unknown_or_deactivated_tenant_has_no_admin(db):
    assert Client().get("/t/nope/admin/").status_code == 404
    assert Client().get("/t/nope/admin/login/").status_code == 404


def test_a_locked_or_demoted_admin_is_out_at_once(admin_a):
    browser = sign_in(admin_a.slug, "auditor")
    assert browser.get(admin_url(admin_a.slug)).status_code == 200
    with tenant_context(admin_a.tenant):
        User.objects.filter(pk=admin_a.reader.pk).update(admin_role="")
    assert browser.get(admin_url(admin_a.slug)).status_code == 302


def test_a_read_only_admin_views_and_changes_nothing(admin_a):
    reader = sign_in(admin_a.slug, "auditor")
    rows = rows_of(admin_a)
    for changelist, (pk, _shown) in rows.items():
        if changelist != "tenants/securitypolicy/":
            assert reader.get(admin_url(admin_a.slug, changelist)).status_code == 200
        page = reader.get(admin_url(admin_a.slug, f"{changelist}{pk}/change/"))
        assert page.status_code == 200, changelist
        assert 'name="_save"' not in page.content.decode(), changelist
        assert reader.post(admin_url(admin_a.slug, f"{changelist}{pk}/change/"), {}).status_code == 403, changelist
        assert reader.get(admin_url(admin_a.slug, f"{changelist}{pk}/delete/")).status_code == 403, changelist
        assert reader.get(admin_url(admin_a.slug, f"{changelist}add/")).status_code == 403, changelist
    users = reader.get(admin_url(admin_a.slug, "accounts/user/")).content.decode()
    assert 'name="action"' not in users  # no actions offered
    before = len(trail(admin_a.tenant))
    _act(reader, admin_a.slug, "accounts/user/", "lock", [admin_a.world.user.pk])
    reader.post(admin_url(admin_a.slug, "idp/signingkey/rotate/"))
    with tenant_context(admin_a.tenant):
        assert not User.objects.get(pk=admin_a.world.user.pk).locked
    assert [e.action for e in trail(admin_a.tenant)[before:]] == []


@pytest.mark.parametrize(("changelist", "lookup"), [
    ("accounts/user/", "password__startswith=argon2"), ("accounts/user/", "password__regex=^a"),
    ("idp/application/", "client_secret__startswith=a"), ("audit/auditevent/", "mac__startswith=0"),
    ("idp/signingkey/", "encrypted_private_key__isnull=false"), ("accounts/user/", "is_active__gt=0"),
])
def test_a_changelist_filters_only_by_its_own_filters(admin_a, changelist, lookup):
    """Django admin allows a lookup on any field of the model: ?password__regex= would read every
    password hash a character at a time. Only the list's filters (exact, isnull) are taken."""
    reader = sign_in(admin_a.slug, "auditor")
    assert reader.get(f"{admin_url(admin_a.slug, changelist)}?{lookup}").status_code == 400, lookup
    assert reader.get(f"{admin_url(admin_a.slug, 'accounts/user/')}?is_active__exact=1").status_code == 200
    assert reader.get(f"{admin_url(admin_a.slug, 'audit/auditevent/')}?target_id=x").status_code == 200


def _act(browser: Client, slug: str, changelist: str, action: str, pks: list[int], **extra: str):
    return browser.post(admin_url(slug, changelist), {"action": action, "_selected_action": pks, **extra})


def test_user_actions_go_through_the_services_and_are_audited(admin_a):
    admin = sign_in(admin_a.slug, "root")
    alice = admin_a.world.user
    victim = sign_in(admin_a.slug, "alice")
    assert victim.get(f"/t/{admin_a.slug}/account/").status_code == 200

    response = _act(admin, admin_a.slug, "accounts/user/", "lock", [alice.pk])
    assert response.status_code == 302
    [locked] = trail(admin_a.tenant, Action.USER_LOCKED)
    assert locked.actor_id == str(admin_a.admin.uid) and locked.target_id == str(alice.uid)
    # Locked: the session is over and the password no longer signs in.
    assert victim.get(f"/t/{admin_a.slug}/account/").status_code == 302
    refused = Client().post(f"/t/{admin_a.slug}/login", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 200 and "not correct" in refused.content.decode()

    _act(admin, admin_a.slug, "accounts/user/", "unlock", [alice.pk])
    assert trail(admin_a.tenant, Action.USER_UNLOCKED)
    again = sign_in(admin_a.slug, "alice")

    _act(admin, admin_a.slug, "accounts/user/", "end_sessions", [alice.pk])
    assert trail(admin_a.tenant, Action.SESSIONS_REVOKED)
    assert again.get(f"/t/{admin_a.slug}/account/").status_code == 302

    _act(admin, admin_a.slug, "accounts/user/", "reset_second_factors", [alice.pk])
    assert trail(admin_a.tenant, Action.MFA_RESET)

    _act(admin, admin_a.slug, "accounts/user/", "deactivate", [alice.pk])
    assert trail(admin_a.tenant, Action.USER_DEACTIVATED)
    assert Client().post(f"/t/{admin_a.slug}/login", {"username": "alice", "password": PASSWORD}).status_code == 200
    _act(admin, admin_a.slug, "accounts/user/", "reactivate", [alice.pk])
    assert trail(admin_a.tenant, Action.USER_REACTIVATED)
    sign_in(admin_a.slug, "alice")

    # The services' own refusals are shown, not a 500: the last full admin cannot lock themselves out.
    page = _act(admin, admin_a.slug, "accounts/user/", "lock", [admin_a.admin.pk])
    assert page.status_code == 302
    assert "last active full admin" in admin.get(page["Location"]).content.decode()
    # Nothing went to Django's LogEntry, so no untyped admin.action event either.
    assert not trail(admin_a.tenant, Action.ADMIN_ACTION)
    with tenant_context(admin_a.tenant):
        assert not LogEntry.objects.exists()


def test_users_are_added_and_changed_through_the_services(admin_a):
    admin = sign_in(admin_a.slug, "root")
    added = admin.post(admin_url(admin_a.slug, "accounts/user/add/"), {
        "username": "bob", "email": "bob@acme.example", "first_name": "Bob", "last_name": "", "admin_role": "",
        "password": "another-long-password-7", "_save": "1"})
    assert added.status_code == 302, added.content.decode()[:3000]
    [created] = trail(admin_a.tenant, Action.USER_CREATED)[-1:]
    with tenant_context(admin_a.tenant):
        bob = User.objects.get(username="bob")
    assert created.target_id == str(bob.uid) and created.actor_id == str(admin_a.admin.uid)
    sign_in(admin_a.slug, "bob", "another-long-password-7")
    # A taken username is a form error.
    taken = admin.post(admin_url(admin_a.slug, "accounts/user/add/"), {
        "username": "ALICE", "email": "", "admin_role": "", "password": "", "_save": "1"})
    assert taken.status_code == 200 and "taken" in taken.content.decode()

    changed = admin.post(admin_url(admin_a.slug, f"accounts/user/{bob.pk}/change/"), {
        "username": "bob", "admin_role": "read_only", "first_name": "Robert", "last_name": "",
        "email": "bob@acme.example", "_save": "1"})
    assert changed.status_code == 302, changed.content.decode()[:3000]
    [updated] = trail(admin_a.tenant, Action.USER_UPDATED)
    assert updated.details["changes"].keys() >= {"admin_role", "first_name"}, updated.details
    # Users are deactivated, never deleted.
    assert admin.get(admin_url(admin_a.slug, f"accounts/user/{bob.pk}/delete/")).status_code == 403


def _client_form(**overrides: Any) -> dict[str, Any]:
    form = {"name": "Reports", "confidential": "on", "grant_types": ["client_credentials"], "redirect_uris": "",
            "post_logout_redirect_uris": "", "web_origins": "", "algorithm": "RS256",
            "access_token_format": "opaque", "application_type": "web", "_save": "1"}
    form.update(overrides)
    return form


def _shown_once(page) -> dict[str, str]:
    text = page.content.decode()
    labels = re.findall(r'<th scope="row">([^<]+)</th><td><code data-shown-once>([^<]+)</code>', text)
    return dict(labels)


def test_clients_are_managed_through_the_services_and_secrets_shown_once(admin_a):
    admin = sign_in(admin_a.slug, "root")
    page = admin.post(admin_url(admin_a.slug, "idp/application/add/"), _client_form())
    assert page.status_code == 200, page.content.decode()[:3000]
    shown = _shown_once(page)
    assert page["Cache-Control"].count("no-store") == 1
    with tenant_context(admin_a.tenant):
        application = Application.objects.get(name="Reports")
        assert shown["client_id"] == application.client_id
        assert shown["client_secret"] not in application.client_secret
    [created] = trail(admin_a.tenant, Action.CLIENT_CREATED)[-1:]
    assert created.target_id == application.client_id and created.actor_id == str(admin_a.admin.uid)

    class Issued:
        def __init__(self, secret: str) -> None:
            self.application, self.client_secret = application, secret

    assert client_credentials_token(admin_a.slug, Issued(shown["client_secret"]), scope="")
    # The change page never shows it again.
    change_page = admin.get(admin_url(admin_a.slug, f"idp/application/{application.pk}/change/"))
    assert shown["client_secret"] not in change_page.content.decode()

    rotated = _act(admin, admin_a.slug, "idp/application/", "rotate_secret", [application.pk])
    new_secret = _shown_once(rotated)[application.client_id]
    assert new_secret != shown["client_secret"]
    assert client_credentials_token(admin_a.slug, Issued(new_secret), scope="")
    with pytest.raises(AssertionError):
        client_credentials_token(admin_a.slug, Issued(shown["client_secret"]), scope="")
    [reissued] = trail(admin_a.tenant, Action.CLIENT_UPDATED)
    assert reissued.details == {"change": "new client secret issued"} and reissued.actor_id == str(admin_a.admin.uid)

    # An invalid combination is a form error, as ClientSettings says.
    invalid = admin.post(admin_url(admin_a.slug, "idp/application/add/"), _client_form(confidential=""))
    assert invalid.status_code == 200 and "confidential client" in invalid.content.decode()

    changed = admin.post(admin_url(admin_a.slug, f"idp/application/{application.pk}/change/"),
                         _client_form(name="Quarterly reports"))
    assert changed.status_code == 302, changed.content.decode()[:3000]
    assert trail(admin_a.tenant, Action.CLIENT_UPDATED)[-1].details

    deleted = admin.post(admin_url(admin_a.slug, f"idp/application/{application.pk}/delete/"), {"post": "yes"})
    assert deleted.status_code == 302
    assert trail(admin_a.tenant, Action.CLIENT_DELETED)
    with tenant_context(admin_a.tenant):
        assert not Application.objects.filter(pk=application.pk).exists()


def test_keys_rotate_and_are_revoked_through_idp_rotation(admin_a):
    admin = sign_in(admin_a.slug, "root")
    page = admin.get(admin_url(admin_a.slug, "idp/signingkey/")).content.decode()
    assert "data-rotate-keys" in page and "encrypted_private_key" not in page
    assert admin.get(admin_url(admin_a.slug, "idp/signingkey/rotate/")).status_code == 405
    with tenant_context(admin_a.tenant):
        before = set(SigningKey.objects.values_list("kid", flat=True))
    assert admin.post(admin_url(admin_a.slug, "idp/signingkey/rotate/")).status_code == 302
    with tenant_context(admin_a.tenant):
        published = SigningKey.objects.exclude(kid__in=before).get(alg="RS256")
        active = SigningKey.objects.active_for("RS256")
    assert published.state == "next"
    [event] = [e for e in trail(admin_a.tenant, Action.KEY_CREATED) if e.target_id == published.kid]
    assert event.actor_id == str(admin_a.admin.uid)

    confirm = _act(admin, admin_a.slug, "idp/signingkey/", "revoke_compromised", [active.pk])
    assert confirm.status_code == 200 and "data-confirm" in confirm.content.decode()
    with tenant_context(admin_a.tenant):
        assert SigningKey.objects.get(pk=active.pk).state == "active"
    _act(admin, admin_a.slug, "idp/signingkey/", "revoke_compromised", [active.pk], post="yes")
    with tenant_context(admin_a.tenant):
        assert SigningKey.objects.get(pk=active.pk).state == "revoked"
        assert SigningKey.objects.active_for("RS256").kid != active.kid
    assert any(e.target_id == active.kid and e.details.get("to") == "revoked"
               for e in trail(admin_a.tenant, Action.KEY_STATE_CHANGED)), [
        e.details for e in trail(admin_a.tenant, Action.KEY_STATE_CHANGED)]
    # Keys are never changed, added or deleted by hand.
    assert admin.get(admin_url(admin_a.slug, "idp/signingkey/add/")).status_code == 403
    assert admin.get(admin_url(admin_a.slug, f"idp/signingkey/{active.pk}/delete/")).status_code == 403


def test_the_policy_is_changed_through_update_policy(admin_a):
    admin = sign_in(admin_a.slug, "root")
    policy = policy_for(admin_a.tenant)
    url = admin_url(admin_a.slug, f"tenants/securitypolicy/{policy.pk}/change/")
    form = admin.get(url).context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields}
    data = {k: ("on" if v is True else "" if v in (False, None) else v) for k, v in data.items()}
    data["signing_algorithms"] = '["RS256", "ES256"]'
    data.update({"mfa": "required_for_admins", "password_min_length": "14", "_save": "1"})
    response = admin.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    [event] = trail(admin_a.tenant, Action.POLICY_UPDATED)[-1:]
    assert event.details["changes"]["mfa"] == {"from": "optional", "to": "required_for_admins"}
    assert event.actor_id == str(admin_a.admin.uid)
    assert policy_for(admin_a.tenant).mfa == "required_for_admins"
    assert admin.get(admin_url(admin_a.slug, "tenants/securitypolicy/add/")).status_code == 403
    assert admin.get(admin_url(admin_a.slug, f"tenants/securitypolicy/{policy.pk}/delete/")).status_code == 403


def test_history_is_the_objects_audit_trail(admin_a):
    admin = sign_in(admin_a.slug, "root")
    response = admin.get(admin_url(admin_a.slug, f"accounts/user/{admin_a.world.user.pk}/history/"))
    assert response.status_code == 302
    page = admin.get(response["Location"])
    assert page.status_code == 200 and "user.created" in page.content.decode()


def test_reverse_inside_an_admin_request(admin_a):
    set_urlconf(urlconf_for("acme"))
    try:
        assert reverse("admin:index", current_app="tenant-admin") == "/t/acme/admin/"
        assert reverse("admin:accounts_user_changelist") == "/t/acme/admin/accounts/user/"
        assert reverse("accounts:login", kwargs={"tenant": "acme"}) == "/t/acme/login"
        assert reverse("accounts:login", kwargs={"tenant": "globex"}) == "/t/globex/login"
        assert reverse("idp:token", kwargs={"tenant": "acme"}) == "/t/acme/token"
    finally:
        set_urlconf(None)
    assert urlconf_for("acme") == urlconf_for("acme") and urlconf_for("acme") != urlconf_for("globex")
    # Pages rendered inside the admin link the tenant's own routes.
    page = sign_in(admin_a.slug, "root").get(admin_url(admin_a.slug)).content.decode()
    assert 'href="/t/acme/"' in page and 'action="/t/acme/logout"' in page
