"""Signing-key rotation, per tenant and per algorithm, on a timeline that breaks no relying party.

The timeline (each step is taken by the first run of the rotation job after it is due;
``manage.py rotate_keys`` runs the same code):

1. ``next``: when the active key has signed for ``key_rotation_days`` (the tenant's security
   policy) less the lead time and one check interval, a new key is created and *published*
   in the JWKS; it does not sign yet.
2. ``active``: once the next key has been published for the **lead time**, it signs and the
   previous key becomes ``retired``. The lead time is two JWKS cache lifetimes
   (``TESSERA_JWKS_MAX_AGE``: one for the relying party's cache, one for a shared cache in
   front of it) plus ``TESSERA_LOOKUP_CACHE_SECONDS`` (how long another Tessera process may
   serve its own cached JWKS). A relying party that fetched the JWKS before the new key was
   published has had to fetch it again before the key signs; one that refreshes only on an
   unknown ``kid`` finds it on its first fetch.
3. ``removed``: a retired key stays published until every token it can have signed has
   expired: the longest of the ID token and access token lifetimes, after the last moment
   another process may still have signed with it (``LOOKUP_CACHE_SECONDS``), plus the lead
   time again for clocks and caches. Then it leaves the JWKS and its private half is
   destroyed (the column is emptied); the public half stays, so the audit checkpoints it
   signed remain verifiable (``CheckpointSigner.public_keys``).

Emergency (``revoke_key``): a compromised key is unpublished at once, its private half
destroyed, a key signs in its place at once (the published ``next`` key when there is one),
and every token it may have signed is revoked: the tokens of the clients using its
algorithm issued while it was active (refresh-token families, access-token rows, ID-token
rows). JWT access tokens without a row (client credentials) fail introspection and userinfo
the moment their key is unpublished; resource servers that validate them locally stop
trusting them when they next fetch the JWKS.

Algorithms: a tenant keeps keys for the algorithms of its policy and for any algorithm a
client of it still uses (dropping ES256 from the policy stops new clients choosing it; the
keys go through retirement once no client uses it). Concurrent runs (two beat processes, a
command during the job) serialise on the tenant's policy row, and every step checks the
state it moves from: running twice changes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from core.actors import Actor, system_actor
from core.conf import tessera_settings
from idp import events, keys
from idp import metrics as key_metrics
from idp.models import AccessToken, Application, IDToken, RefreshToken, SigningAlgorithm, SigningKey
from tenants.models import SecurityPolicy, Tenant
from tenants.platform import platform_access
from tenants.services import policy_for

log = logging.getLogger("tessera.jobs")

# Clock differences between the machines that sign and those that validate.
CLOCK_SKEW = dt.timedelta(minutes=5)


def lead_time() -> dt.timedelta:
    """How long a key is published before it signs."""
    return dt.timedelta(seconds=2 * tessera_settings.JWKS_MAX_AGE + tessera_settings.LOOKUP_CACHE_SECONDS)


def check_interval() -> dt.timedelta:
    return dt.timedelta(seconds=tessera_settings.KEY_ROTATION_CHECK_INTERVAL)


def retired_for() -> dt.timedelta:
    """How long a retired key stays published: until every token it signed has expired."""
    longest = max(tessera_settings.ID_TOKEN_LIFETIME, tessera_settings.ACCESS_TOKEN_LIFETIME)
    return (dt.timedelta(seconds=longest + tessera_settings.LOOKUP_CACHE_SECONDS) + lead_time()
            + CLOCK_SKEW)


@dataclass
class RotationReport:
    tenant: str
    changes: list[str] = field(default_factory=list)
    tokens_revoked: dict[str, int] = field(default_factory=dict)

    def note(self, key: SigningKey, change: str) -> None:
        self.changes.append(f"{key.alg} {key.kid[:12]}: {change}")


def algorithms_in_use(policy: SecurityPolicy) -> list[str]:
    """The policy's algorithms, then any other that a client of the tenant still uses."""
    used = set(Application.objects.values_list("algorithm", flat=True).distinct())
    extra = sorted(alg for alg in used if alg in SigningAlgorithm.values and alg not in policy.signing_algorithms)
    return [*policy.signing_algorithms, *extra]


def _forget(key: SigningKey) -> None:
    """This process's caches follow the change at once (others within LOOKUP_CACHE_SECONDS)."""
    keys.active_keys.evict((key.tenant_id, key.alg))
    keys.published_keys.evict(key.tenant_id)
    keys.forget_private_key(key)


def _move(key: SigningKey, state: str, *, now: dt.datetime, reason: str, actor: Actor,
          report: RotationReport, **details: object) -> None:
    previous = key.state
    key.state = state
    updated = ["state"]
    if state == SigningKey.State.ACTIVE:
        key.activated_at, updated = now, [*updated, "activated_at"]
    elif state == SigningKey.State.RETIRED:
        key.retired_at, updated = now, [*updated, "retired_at"]
    elif state in (SigningKey.State.REMOVED, SigningKey.State.REVOKED):
        # The private half is destroyed: nothing can sign with this key again.
        key.encrypted_private_key = b""
        stamp = "removed_at" if state == SigningKey.State.REMOVED else "revoked_at"
        setattr(key, stamp, now)
        updated = [*updated, "encrypted_private_key", stamp]
    key.save(update_fields=updated)
    events.signing_key_state_changed(key, previous=previous, reason=reason, actor=actor, **details)
    transaction.on_commit(lambda: _forget(key))
    report.note(key, f"{previous} -> {state} ({reason})")


def _locked_policy(tenant: Tenant) -> SecurityPolicy:
    """The tenant's policy row, locked: the mutex that serialises rotations of one tenant."""
    return SecurityPolicy.objects.select_for_update().get(pk=policy_for(tenant).pk)


def rotate_current_tenant(tenant: Tenant, *, begin: bool = False, actor: Actor | None = None,
                          now: dt.datetime | None = None) -> RotationReport:
    """Take every step of the timeline that is due for the tenant in context. ``begin``
    publishes a next key now for every algorithm that lacks one (a rotation by hand: the new
    key signs once the lead time has passed, at the first run after it)."""
    actor = actor or system_actor("key rotation job")
    report = RotationReport(tenant.slug)
    with transaction.atomic():
        policy = _locked_policy(tenant)
        now = now or timezone.now()
        wanted = algorithms_in_use(policy)
        for alg in SigningAlgorithm.values:
            _rotate_algorithm(alg, wanted=alg in wanted, policy=policy, begin=begin, now=now, actor=actor,
                              report=report)
        # issue 15: the keys' age for /metrics (idp.metrics: no scrape can read across tenants)
        signing_since = {alg: activated or created for alg, activated, created in SigningKey.objects.filter(
            state=SigningKey.State.ACTIVE).values_list("alg", "activated_at", "created")}
        transaction.on_commit(lambda: key_metrics.report_active_keys(tenant.pk, signing_since))
    for change in report.changes:
        log.info("key rotation %s: %s", tenant.slug, change)
    return report


def _rotate_algorithm(alg: str, *, wanted: bool, policy: SecurityPolicy, begin: bool, now: dt.datetime,
                      actor: Actor, report: RotationReport) -> None:
    states = SigningKey.State
    current = list(SigningKey.objects.with_private_half().filter(alg=alg).order_by("created"))
    active = next((k for k in current if k.state == states.ACTIVE), None)
    upcoming = next((k for k in current if k.state == states.NEXT), None)

    if not wanted:
        for key in current:
            if key.state == states.ACTIVE:
                _move(key, states.RETIRED, now=now, reason="algorithm no longer used", actor=actor, report=report)
            elif key.state == states.NEXT:
                _move(key, states.REMOVED, now=now, reason="algorithm no longer used", actor=actor, report=report)
    elif active is None:
        if upcoming is not None:  # nothing signs: the published next key must, at once
            _move(upcoming, states.ACTIVE, now=now, reason="no active key", actor=actor, report=report)
        else:
            created = keys.create_signing_key(alg, state=states.ACTIVE, actor=actor)
            report.note(created, "created active (no key signed)")
    else:
        if upcoming is None:
            signing_since = active.activated_at or active.created
            period = dt.timedelta(days=policy.key_rotation_days)
            due = policy.key_rotation_days and now >= signing_since + period - lead_time() - check_interval()
            if begin or due:
                upcoming = keys.create_signing_key(alg, state=states.NEXT, actor=actor)
                report.note(upcoming, "published as next")
        elif upcoming.created <= now - lead_time():
            _move(active, states.RETIRED, now=now, reason="rotation", actor=actor, report=report)
            _move(upcoming, states.ACTIVE, now=now, reason="rotation", actor=actor, report=report)

    for key in current:
        if key.state == states.RETIRED and key.retired_at is not None and key.retired_at <= now - retired_for():
            _move(key, states.REMOVED, now=now, reason="every token it signed has expired", actor=actor,
                  report=report)


def rotate_tenant(tenant_id: int, *, begin: bool = False, actor: Actor | None = None) -> RotationReport | None:
    """The job for one tenant, by id, through the platform door; None when there is no such
    tenant or it is deactivated (its keys are left as they are until it is active again)."""
    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
    if tenant is None:
        return None
    actor = actor or system_actor("key rotation job")
    with platform_access(tenant, reason="signing-key rotation", actor=actor):
        return rotate_current_tenant(tenant, begin=begin, actor=actor)


class UnknownKey(LookupError):
    """No key of the tenant has that kid."""


def revoke_key(tenant: Tenant, kid: str, *, actor: Actor, now: dt.datetime | None = None) -> RotationReport:
    """Emergency rotation of the tenant in context: ``kid`` is compromised."""
    report = RotationReport(tenant.slug)
    states = SigningKey.State
    with transaction.atomic():
        policy = _locked_policy(tenant)
        now = now or timezone.now()
        key = SigningKey.objects.filter(kid=kid).first()
        if key is None:
            raise UnknownKey(kid)
        if key.state == states.REVOKED:
            return report
        signed_from = key.activated_at
        signed_until = (key.retired_at or now) if key.state != states.REMOVED else key.retired_at
        was_active = key.state == states.ACTIVE
        _move(key, states.REVOKED, now=now, reason="compromised", actor=actor, report=report)
        if was_active and key.alg in algorithms_in_use(policy):
            replacement = SigningKey.objects.filter(alg=key.alg, state=states.NEXT).order_by("created").first()
            if replacement is not None:
                _move(replacement, states.ACTIVE, now=now, reason=f"replaces compromised {kid}", actor=actor,
                      report=report)
            else:
                created = keys.create_signing_key(key.alg, state=states.ACTIVE, actor=actor)
                report.note(created, f"created active (replaces compromised {kid[:12]})")
        if signed_from is not None and signed_until is not None:
            stale = dt.timedelta(seconds=tessera_settings.LOOKUP_CACHE_SECONDS)
            report.tokens_revoked = _revoke_tokens_signed(key, since=signed_from, until=signed_until + stale,
                                                          actor=actor)
    log.warning("signing key %s of %s revoked as compromised: %s; tokens revoked %s", kid, tenant.slug,
                report.changes, report.tokens_revoked)
    return report


def _revoke_tokens_signed(key: SigningKey, *, since: dt.datetime, until: dt.datetime,
                          actor: Actor) -> dict[str, int]:
    """Every token the key may have signed: those of the clients using its algorithm, issued
    while it was active (and as long after as another process may have kept signing with it)."""
    clients = Application.objects.filter(algorithm=key.alg)
    window = {"application__in": clients, "created__gte": since, "created__lte": until}
    families = {f for f in RefreshToken.objects.filter(revoked__isnull=True, **window)
                .values_list("token_family", flat=True) if f is not None}
    families |= {f for f in AccessToken.objects.filter(family__isnull=False, **window)
                 .values_list("family", flat=True) if f is not None}
    for family in families:
        RefreshToken.revoke_family(family)
        AccessToken.objects.filter(family=family).delete()
    access, _ = AccessToken.objects.filter(**window).delete()
    id_tokens, _ = IDToken.objects.filter(**window).delete()
    counts = {"refresh_families": len(families), "access_tokens": access, "id_tokens": id_tokens}
    events.signing_key_tokens_revoked(key, actor=actor, **counts)
    return counts
