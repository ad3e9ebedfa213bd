"""Signing-key rotation (idp.rotation) seen by relying parties: a key is published before it
signs, a retired key stays published while its tokens live, then leaves with its private half
destroyed; an emergency rotation unpublishes a compromised key at once and revokes what it
signed. Time is moved by handing the rotation a later "now"; the relying parties are real
HTTP clients of the live server."""

from __future__ import annotations

import base64
import io
import json
import threading
from datetime import timedelta

import pytest
import requests
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import close_old_connections
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from audit.models import Action, AuditEvent
from core.conf import tessera_settings
from idp import keys, rotation
from idp.models import IDToken, SigningKey
from idp.services.clients import create_client
from idp.tasks import rotate_keys_all_tenants
from settings.celery import app as celery_app
from tenants.context import tenant_context
from tenants.services import update_policy
from tests.oidc import Browser
from tests.security.flows import assert_oauth_error, full_flow, introspect, refresh, token_request

pytestmark = pytest.mark.django_db(transaction=True)


class CachingRelyingParty:
    """A relying party as most libraries are: it caches the JWKS and fetches it again only
    when a token names a kid it does not know."""

    def __init__(self, issuer: str, client_id: str) -> None:
        self.issuer, self.client_id = issuer, client_id
        self.fetches = 0
        self.keyset = self._fetch()

    def _fetch(self) -> KeySet:
        self.fetches += 1
        return KeySet.import_key_set(requests.get(f"{self.issuer}/jwks.json").json())

    def verify(self, id_token: str) -> dict:
        if _kid(id_token) not in {k.kid for k in self.keyset}:
            self.keyset = self._fetch()
        token = jwt.decode(id_token, self.keyset, algorithms=["RS256", "ES256"])
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer},
                              aud={"essential": True, "value": self.client_id}).validate(token.claims)
        return dict(token.claims)


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def published_kids(issuer: str) -> set[str]:
    return {k["kid"] for k in requests.get(f"{issuer}/jwks.json").json()["keys"]}


def key_states(tenant, alg: str = "RS256") -> list[tuple[str, str]]:
    with tenant_context(tenant):
        return list(SigningKey.objects.filter(alg=alg).order_by("created").values_list("kid", "state"))


def rotate(tenant, *, at, begin: bool = False) -> rotation.RotationReport:
    with tenant_context(tenant):
        return rotation.rotate_current_tenant(tenant, begin=begin, now=at)


def signing_for(tenant, days: int, alg: str = "RS256") -> None:
    """Make the tenant's active key look as if it had signed for ``days``."""
    with tenant_context(tenant):
        SigningKey.objects.filter(alg=alg, state=SigningKey.State.ACTIVE).update(
            activated_at=timezone.now() - timedelta(days=days))


def test_a_relying_party_that_caches_the_jwks_never_fails_across_a_rotation(live_server, issuer_a, world_a):
    client_id = world_a.web.application.client_id
    cached = CachingRelyingParty(issuer_a, client_id)
    (old_kid, _), = key_states(world_a.tenant)
    before = full_flow(Browser(live_server.url), issuer_a, world_a)
    assert _kid(before["id_token"]) == old_kid and cached.verify(before["id_token"])
    assert rotate(world_a.tenant, at=timezone.now()).changes == []  # 0 of 90 days: nothing due

    # Day 90 less the lead time: a next key is published, and does not sign yet.
    signing_for(world_a.tenant, 90)
    rotate(world_a.tenant, at=timezone.now())
    (_, old_state), (new_kid, new_state) = key_states(world_a.tenant)
    with tenant_context(world_a.tenant):
        now = SigningKey.objects.get(kid=new_kid).created  # when it was published
    assert (old_state, new_state) == ("active", "next")
    assert published_kids(issuer_a) >= {old_kid, new_kid}
    during = full_flow(Browser(live_server.url), issuer_a, world_a)
    assert _kid(during["id_token"]) == old_kid and cached.verify(during["id_token"])
    # Not before it has been published for the lead time (two JWKS cache lifetimes and more).
    rotate(world_a.tenant, at=now + rotation.lead_time() - timedelta(seconds=1))
    assert [s for _, s in key_states(world_a.tenant)] == ["active", "next"]

    # Then it signs; the old key is retired and still published.
    rotate(world_a.tenant, at=now + rotation.lead_time())
    assert key_states(world_a.tenant) == [(old_kid, "retired"), (new_kid, "active")]
    after = full_flow(Browser(live_server.url), issuer_a, world_a)
    assert _kid(after["id_token"]) == new_kid
    fetches = cached.fetches
    assert cached.verify(after["id_token"]) and cached.fetches == fetches + 1  # one fetch: an unknown kid
    assert cached.verify(before["id_token"]) and cached.verify(during["id_token"])  # the retired key validates
    fresh = CachingRelyingParty(issuer_a, client_id)  # a relying party starting now knows both
    assert fresh.verify(before["id_token"]) and fresh.verify(after["id_token"]) and fresh.fetches == 1

    # It stays published until every token it signed has expired, then leaves with its private half.
    lifetime = timedelta(seconds=max(tessera_settings.ID_TOKEN_LIFETIME, tessera_settings.ACCESS_TOKEN_LIFETIME))
    assert rotation.retired_for() > lifetime + rotation.lead_time()
    rotate(world_a.tenant, at=now + rotation.lead_time() + rotation.retired_for() - timedelta(seconds=1))
    assert old_kid in published_kids(issuer_a)
    rotate(world_a.tenant, at=now + 2 * rotation.lead_time() + rotation.retired_for())
    assert key_states(world_a.tenant) == [(old_kid, "removed"), (new_kid, "active")]
    assert old_kid not in published_kids(issuer_a) and new_kid in published_kids(issuer_a)
    with tenant_context(world_a.tenant):
        removed = SigningKey.objects.get(kid=old_kid)
        assert bytes(removed.encrypted_private_key) == b"" and removed.removed_at is not None
        assert removed.public_jwk["kid"] in {k["kid"] for k in keys.CheckpointSigner().public_keys()}
    assert cached.verify(full_flow(Browser(live_server.url), issuer_a, world_a)["id_token"])

    # Every step is in the tenant's trail.
    with tenant_context(world_a.tenant):
        steps = [(e.details["from"], e.details["to"]) for e in
                 AuditEvent.objects.filter(action=Action.KEY_STATE_CHANGED, target_id=old_kid).order_by("seq")]
        assert steps == [("active", "retired"), ("retired", "removed")]
        assert AuditEvent.objects.filter(action=Action.KEY_CREATED, target_id=new_kid,
                                         details__state="next").exists()


def test_the_jwks_changes_its_etag_when_a_key_is_published(live_server, issuer_a, world_a):
    first = requests.get(f"{issuer_a}/jwks.json")
    assert requests.get(f"{issuer_a}/jwks.json", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    rotate(world_a.tenant, at=timezone.now(), begin=True)  # by hand: a next key for each algorithm
    second = requests.get(f"{issuer_a}/jwks.json", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert len(second.json()["keys"]) == 4  # RS256 and ES256, each active and next


def test_a_compromised_key_is_unpublished_and_what_it_signed_is_revoked(live_server, issuer_a, issuer_b, world_a,
                                                                         world_b):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    others = full_flow(Browser(live_server.url), issuer_b, world_b)
    with tenant_context(world_a.tenant):
        machine = create_client(name="Gateway", confidential=True, grant_types=["client_credentials"],
                                redirect_uris=[], access_token_format="jwt")
    granted = token_request(issuer_a, {"grant_type": "client_credentials"}, machine.application.client_id,
                            machine.client_secret)
    jwt_access_token = granted.json()["access_token"]
    assert introspect(issuer_a, jwt_access_token, client_id, secret)["active"] is True
    kid = _kid(tokens["id_token"])
    b_keys = key_states(world_b.tenant)

    out = io.StringIO()
    call_command("rotate_keys", tenant="acme", compromised=kid, stdout=out)
    assert "revoked" in out.getvalue() and "1 refresh families" in out.getvalue()

    assert kid not in published_kids(issuer_a)
    (_, state), (new_kid, new_state) = key_states(world_a.tenant)
    assert (state, new_state) == ("revoked", "active")
    assert_oauth_error(refresh(issuer_a, tokens["refresh_token"], client_id, secret), "invalid_grant")
    assert introspect(issuer_a, tokens["access_token"], client_id, secret) == {"active": False}
    assert introspect(issuer_a, jwt_access_token, client_id, secret) == {"active": False}  # unpublished
    userinfo = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401 and "invalid_token" in userinfo.headers["WWW-Authenticate"]
    with pytest.raises(InvalidKeyIdError):  # a relying party fetching the JWKS now refuses it
        CachingRelyingParty(issuer_a, client_id).verify(tokens["id_token"])
    with tenant_context(world_a.tenant):
        assert not IDToken.objects.exists()
        revoked = SigningKey.objects.get(kid=kid)
        assert bytes(revoked.encrypted_private_key) == b"" and revoked.revoked_at is not None
        assert kid not in {k["kid"] for k in keys.CheckpointSigner().public_keys()}
        event = AuditEvent.objects.get(action=Action.TOKEN_REVOKED, target_id=kid)
        assert int(event.details["refresh_families"]) == 1
    # A new key signs at once, and the relying party takes it.
    fresh = full_flow(Browser(live_server.url), issuer_a, world_a)
    assert _kid(fresh["id_token"]) == new_kid
    assert CachingRelyingParty(issuer_a, client_id).verify(fresh["id_token"])
    # Tenant B saw nothing of it.
    assert key_states(world_b.tenant) == b_keys
    assert refresh(issuer_b, others["refresh_token"], world_b.web.application.client_id,
                   world_b.web.client_secret).status_code == 200
    # Saying it again changes nothing.
    out = io.StringIO()
    call_command("rotate_keys", tenant="acme", compromised=kid, stdout=out)
    assert "already revoked" in out.getvalue()


def test_a_compromised_key_that_was_published_as_next_is_replaced_by_none(live_server, issuer_a, world_a):
    rotate(world_a.tenant, at=timezone.now(), begin=True)
    (active, _), (upcoming, _) = key_states(world_a.tenant)
    call_command("rotate_keys", tenant="acme", compromised=upcoming, stdout=io.StringIO())
    assert key_states(world_a.tenant) == [(active, "active"), (upcoming, "revoked")]
    assert upcoming not in published_kids(issuer_a)


def test_the_command_refuses_what_it_cannot_do(world_a):
    for argv, message in [
        (["--now"], "give --tenant"),
        (["--tenant", "acme", "--compromised", "no-such-kid"], "has no signing key"),
        (["--tenant", "nowhere"], "unknown tenant"),
    ]:
        with pytest.raises(CommandError, match=message) as refused:
            call_command("rotate_keys", *argv)
        assert refused.value.returncode == 2


def test_algorithms_follow_the_tenant_policy_and_the_clients_that_use_them(world_a):
    tenant = world_a.tenant
    update_policy(tenant, signing_algorithms=["RS256"])
    with tenant_context(tenant), pytest.raises(ValidationError, match="signs with RS256, not ES256"):
        create_client(name="New", confidential=True, grant_types=["client_credentials"], redirect_uris=[],
                      algorithm="ES256")
    # The native client still uses ES256: its keys stay.
    rotate(tenant, at=timezone.now())
    assert [s for _, s in key_states(tenant, "ES256")] == ["active"]
    with tenant_context(tenant):
        world_a.spa.application.delete()
    rotate(tenant, at=timezone.now())
    assert [s for _, s in key_states(tenant, "ES256")] == ["retired"]
    with pytest.raises(ValidationError):
        update_policy(tenant, signing_algorithms=["HS256"])
    with pytest.raises(ValidationError):
        update_policy(tenant, signing_algorithms=[])
    # Back on: a client choosing ES256 gets a key at once.
    update_policy(tenant, signing_algorithms=["RS256", "ES256"])
    with tenant_context(tenant):
        create_client(name="New", confidential=True, grant_types=["client_credentials"], redirect_uris=[],
                      algorithm="ES256")
    assert [s for _, s in key_states(tenant, "ES256")] == ["retired", "active"]


def test_a_period_of_zero_rotates_only_by_hand(world_a):
    update_policy(world_a.tenant, key_rotation_days=0)
    signing_for(world_a.tenant, 3650)
    assert rotate(world_a.tenant, at=timezone.now()).changes == []
    assert rotate(world_a.tenant, at=timezone.now(), begin=True).changes  # by hand it still goes


@pytest.mark.postgres
def test_two_rotation_runs_at_once_take_each_step_once(world_a):
    signing_for(world_a.tenant, 90)
    signing_for(world_a.tenant, 90, alg="ES256")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(at) -> None:
        try:
            barrier.wait()
            rotate(world_a.tenant, at=at)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(timezone.now(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [s for _, s in key_states(world_a.tenant)] == ["active", "next"]  # one next key, not four
    later = timezone.now() + rotation.lead_time() + timedelta(seconds=1)
    barrier = threading.Barrier(4)
    threads = [threading.Thread(target=run, args=(later,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [s for _, s in key_states(world_a.tenant)] == ["retired", "active"]


def test_the_rotation_job_is_scheduled_and_runs_for_every_tenant(world_a, world_b):
    schedule = celery_app.conf.beat_schedule
    assert schedule["rotate-signing-keys"]["task"] == "idp.tasks.rotate_keys_all_tenants"
    signing_for(world_b.tenant, 90)
    assert rotate_keys_all_tenants.delay().get() == 2  # eager in tests, as in `make run`
    assert [s for _, s in key_states(world_b.tenant)] == ["active", "next"]
    assert [s for _, s in key_states(world_a.tenant)] == ["active"]
    with tenant_context(world_b.tenant):
        assert AuditEvent.objects.filter(action=Action.PLATFORM_ACCESS, details__reason="signing-key rotation").exists()
