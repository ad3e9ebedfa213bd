"""Keeping the token tables bounded: what of a tenant may be deleted, and the job that does it.

Deleted, for the tenant in context, batch by batch (core.batches: one short transaction
each, ``SKIP LOCKED``, resumable):

- refresh tokens that can no longer be used: idle past their lifetime (their access
  token's expiry plus REFRESH_TOKEN_LIFETIME, as ``usable_refresh_token`` reads it), and
  used or revoked ones once reuse of them would no longer matter (they are what detects a
  stolen, rotated-out token: kept for an access token's lifetime plus the refresh lifetime
  after they were used, by which time the token itself would have expired unused; for ever
  when refresh tokens never expire, REFRESH_TOKEN_LIFETIME 0);
  live ones whose access token was deleted out of band (they could never refresh again);
- access tokens past their expiry that no live refresh token points at (a refresh token
  needs its access token row to be refreshed);
- ID tokens past their expiry that no access token points at;
- authorization codes past their expiry, used ones only after CODE_REPLAY_WINDOW (a
  replayed code revokes the tokens issued from it, RFC 6749 §4.1.2);
- then accounts' expired sessions and lockout counters past their cool-off.

The job runs tenant by tenant through the audited platform door (tenants.platform), from
Celery beat (idp.tasks) or ``manage.py cleanup_expired``; running it twice at once is safe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone
from oauth2_provider.models import refresh_token_expire_timedelta

from accounts import cleanup as accounts_cleanup
from core.actors import system_actor
from core.batches import BatchRun, delete_in_batches
from core.conf import tessera_settings
from idp.models import AccessToken, Grant, IDToken, RefreshToken
from tenants.models import Tenant
from tenants.platform import platform_access

log = logging.getLogger("tessera.jobs")

DEFAULT_BATCH_SIZE = 2000
# A token or code is deleted this long after it stopped being usable, never at the boundary:
# a request that checked it a moment before its expiry and claims it a moment after must not
# find it gone (a claim that updates nothing is read as a replay and revokes the family).
GRACE = timedelta(minutes=5)


def dead_refresh_tokens() -> QuerySet[RefreshToken]:
    now = timezone.now() - GRACE
    lifetime = refresh_token_expire_timedelta()  # DOT's reading: None when they never expire
    orphans = Q(revoked__isnull=True, access_token__isnull=True)
    if lifetime is None:
        return RefreshToken.objects.filter(orphans)  # used ones kept: their reuse always matters
    reuse_matters = timedelta(seconds=tessera_settings.ACCESS_TOKEN_LIFETIME) + lifetime
    return RefreshToken.objects.filter(
        Q(revoked__lte=now - reuse_matters) | orphans
        | Q(revoked__isnull=True, access_token__expires__lte=now - lifetime))


def expired_access_tokens() -> QuerySet[AccessToken]:
    return AccessToken.objects.filter(expires__lte=timezone.now() - GRACE, refresh_token__isnull=True)


def expired_id_tokens() -> QuerySet[IDToken]:
    return IDToken.objects.filter(expires__lte=timezone.now() - GRACE, access_token__isnull=True)


def spent_codes() -> QuerySet[Grant]:
    now = timezone.now() - GRACE
    window = timedelta(seconds=tessera_settings.CODE_REPLAY_WINDOW)
    return Grant.objects.filter(Q(used_at__isnull=True, expires__lte=now) | Q(used_at__lte=now - window))


# In this order: a refresh token deleted first frees its access token in the same run.
TOKEN_TABLES = (("refresh tokens", dead_refresh_tokens), ("access tokens", expired_access_tokens),
                ("id tokens", expired_id_tokens), ("authorization codes", spent_codes))


@dataclass
class CleanupReport:
    """One tenant's cleanup: rows deleted per kind and the longest batch (seconds)."""

    tenant: str
    deleted: dict[str, int] = field(default_factory=dict)
    longest: float = 0.0

    def add(self, label: str, run: BatchRun) -> None:
        self.deleted[label] = self.deleted.get(label, 0) + run.deleted
        self.longest = max(self.longest, run.longest)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def clean_current_tenant(tenant: Tenant, *, batch_size: int = DEFAULT_BATCH_SIZE) -> CleanupReport:
    """Delete what the tenant in context no longer needs (the caller set the context)."""
    report = CleanupReport(tenant.slug)
    kinds = (*TOKEN_TABLES, *accounts_cleanup.TABLES)
    for label, rows in kinds:
        report.add(label, delete_in_batches(f"cleanup {tenant.slug} {label}", rows, batch_size=batch_size))
    log.info("cleanup %s: %d rows deleted %s, longest batch %.3f s", tenant.slug, report.total, report.deleted,
             report.longest)
    return report


def clean_tenant(tenant_id: int, *, batch_size: int = DEFAULT_BATCH_SIZE) -> CleanupReport | None:
    """The job for one tenant, by id, through the platform door; None when there is no such
    tenant. A deactivated tenant is cleaned too: its expired rows are no one's to keep."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    with platform_access(tenant, reason="cleanup of expired tokens, codes, sessions and lockout counters",
                         actor=system_actor("cleanup job")):
        return clean_current_tenant(tenant, batch_size=batch_size)
