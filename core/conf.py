"""Tessera's namespaced settings (``settings.TESSERA``) with defaults, read lazily.

Modelled on oauth2_provider.settings: ``tessera_settings.PUBLIC_URL`` reads the user's value
or the default, and a ``setting_changed`` signal (override_settings in tests) reloads it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Base URL relying parties reach; the issuer of tenant acme is {PUBLIC_URL}/t/acme.
    # Empty: derive it from the request (development and tests only).
    "PUBLIC_URL": "",
    # 32 bytes, urlsafe base64: encrypts signing keys at rest and keys client-secret digests.
    "KEY_ENCRYPTION_KEY": "",
    # Keys that were the KEK before, still accepted for unsealing while `manage.py rotate_kek`
    # re-seals everything under the current one; remove them once it reports nothing left.
    "PREVIOUS_KEY_ENCRYPTION_KEYS": [],
    "ACCESS_TOKEN_LIFETIME": 3600,
    "ID_TOKEN_LIFETIME": 3600,
    "REFRESH_TOKEN_LIFETIME": 30 * 24 * 3600,
    # How long another process may keep serving a cached tenant or client after it changed.
    "LOOKUP_CACHE_SECONDS": 5,
    # PostgreSQL role the application serves as; `migrate` (run as the owner) grants it
    # its privileges. Empty: no grants (single-role development set-ups).
    "DATABASE_APP_ROLE": "",
    # Redis URL of the audit spool (audit.spool): the durable, batched path for the audit
    # events of stateless grants. Empty: those events are written synchronously too.
    "AUDIT_SPOOL_URL": "",
    # Algorithms a new tenant keeps signing keys for (its security policy can change them).
    "SIGNING_ALGORITHMS": ["RS256", "ES256"],
    # A signed checkpoint of the tenant's audit chain head every this many events (0: only
    # on export and `manage.py checkpoint_audit`).
    "AUDIT_CHECKPOINT_INTERVAL": 1000,
    # How long relying parties may cache the JWKS and the discovery document (Cache-Control
    # max-age, seconds). Key rotation publishes a key this long, at least, before it signs.
    "JWKS_MAX_AGE": 300,
    # How long a used authorization code is kept so that presenting it again still revokes
    # what was issued from it (RFC 6749 §4.1.2), seconds.
    "CODE_REPLAY_WINDOW": 24 * 3600,
    # How often beat runs the signing-key rotation job (idp.rotation); each step of a rotation
    # is taken by the first run after it is due.
    "KEY_ROTATION_CHECK_INTERVAL": 3600,
    # How often beat runs the audit job: a signed checkpoint of every chain, and each tenant's
    # retention (audit.retention).
    "AUDIT_MAINTENANCE_INTERVAL": 3600,
    # Database alias (a DATABASES entry) of a role allowed to purge audit events; the
    # application role is not. Empty: the audit job purges nothing.
    "AUDIT_PURGE_DATABASE": "",
    # How often beat runs the cleanup of expired tokens, codes, sessions and lockout counters.
    "CLEANUP_INTERVAL": 3600,
    # Slug of the reserved tenant whose admins are platform staff: they manage tenants at
    # /admin/ and /api/v1/tenants/, and act inside a tenant only through the audited door.
    "PLATFORM_TENANT": "platform",
    # Audit webhooks (audit.webhooks): seconds before each retry of a failed delivery (after
    # the last, the delivery is failed), how often beat sweeps up due deliveries whose task
    # was lost, whether endpoints may be private, loopback or link-local addresses (never in
    # production: that is how a tenant would reach the deployment's own network), and the
    # CA bundle endpoints' certificates are checked against (empty: certifi's).
    "WEBHOOK_RETRY_DELAYS": [30, 120, 600, 3600, 6 * 3600],
    "WEBHOOK_SWEEP_INTERVAL": 60,
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": False,
    "WEBHOOK_CA_FILE": "",
    # issue 15: how many reverse proxies in front append to X-Forwarded-For (core.client_ip).
    # 0: the client is REMOTE_ADDR and X-Forwarded-For is ignored (anyone can write it).
    "TRUSTED_PROXY_COUNT": 0,
    # issue 15: who may read /metrics (core.metrics): a bearer token, and/or client addresses
    # (CIDRs). Neither: loopback only in development, nobody in production.
    "METRICS_TOKEN": "",
    "METRICS_ALLOWED_IPS": [],
    # issue 15: rate limits (core.ratelimit). Redis URL of the shared counters (every web
    # process counts in one place); empty: each process counts in its own memory (development).
    "RATELIMIT_URL": "",
    # "development", "test" or "production" (set by the settings overlay): production
    # refuses what only makes sense on a developer's machine (`manage.py demo`).
    "ENVIRONMENT": "development",
}


class TesseraSettings:
    """Attribute access to settings.TESSERA with DEFAULTS filled in."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown Tessera setting {name!r}")
        if name not in self._cache:
            user = getattr(settings, "TESSERA", {}) or {}
            self._cache[name] = user.get(name, DEFAULTS[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()


tessera_settings = TesseraSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "TESSERA":
        tessera_settings.reload()


setting_changed.connect(_reload)
