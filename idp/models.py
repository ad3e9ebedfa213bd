"""Tenant-aware django-oauth-toolkit models, consent records and per-tenant signing keys."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)

from idp.fields import DigestField
from idp.redirects import redirect_uri_matches
from tenants.managers import TenantScopedManager
from tenants.models import AdminRole, TenantOwned


class GrantType(models.TextChoices):
    """Grant types a client may use (RFC 6749 names); implicit and password do not exist here."""

    AUTHORIZATION_CODE = "authorization_code", "Authorization code (with PKCE)"
    REFRESH_TOKEN = "refresh_token", "Refresh token"
    CLIENT_CREDENTIALS = "client_credentials", "Client credentials"


class SigningAlgorithm(models.TextChoices):
    RS256 = "RS256", "RS256 (RSA 2048, SHA-256)"
    ES256 = "ES256", "ES256 (ECDSA P-256, SHA-256)"


class ApplicationType(models.TextChoices):
    """OpenID Connect Dynamic Client Registration's application_type."""

    WEB = "web", "Web (exact redirect URIs)"
    NATIVE = "native", "Native (loopback redirects on any port, RFC 8252 §7.3)"


class AccessTokenFormat(models.TextChoices):
    OPAQUE = "opaque", "Opaque (introspect to validate)"
    JWT = "jwt", "JWT (RFC 9068, validated locally by resource servers)"


ADMIN_READ, ADMIN_WRITE = "admin:read", "admin:write"
ADMIN_SCOPES = frozenset({ADMIN_READ, ADMIN_WRITE})


def admin_scopes_of(user: object) -> frozenset[str]:
    """The admin scopes a person's role covers: full both, read-only admin:read, else none."""
    role = getattr(user, "admin_role", "")
    if role == AdminRole.FULL:
        return ADMIN_SCOPES
    return frozenset({ADMIN_READ}) if role == AdminRole.READ_ONLY else frozenset()


def validate_admin_scopes(value: object) -> None:
    if not isinstance(value, list) or not set(value) <= ADMIN_SCOPES:
        raise ValidationError(f"A list of admin scopes among {', '.join(sorted(ADMIN_SCOPES))}.")


# DOT's single authorization_grant_type values, mapped to ours (validate_grant_type uses ours).
_DOT_GRANTS = {
    AbstractApplication.GRANT_AUTHORIZATION_CODE: GrantType.AUTHORIZATION_CODE,
    AbstractApplication.GRANT_CLIENT_CREDENTIALS: GrantType.CLIENT_CREDENTIALS,
}


class ApplicationManager(TenantScopedManager["Application"]):
    def get_by_natural_key(self, client_id: str) -> Application:
        return self.get(client_id=client_id)


class Application(TenantOwned, AbstractApplication):
    """An OAuth client (relying party) of one tenant, allowed one or more grant types."""

    client_secret = models.CharField(
        max_length=255, blank=True, default="",
        help_text="Keyed HMAC-SHA256 digest of the secret; the secret itself is shown once.",
    )
    hash_client_secret = models.BooleanField(default=False, editable=False)
    grant_types = models.JSONField(default=list, help_text="RFC 6749 grant type names.")
    algorithm = models.CharField(
        max_length=5, choices=SigningAlgorithm.choices, default=SigningAlgorithm.RS256,
        help_text="ID token signing algorithm (id_token_signed_response_alg).",
    )
    access_token_format = models.CharField(
        max_length=8, choices=AccessTokenFormat.choices, default=AccessTokenFormat.OPAQUE,
    )
    application_type = models.CharField(
        max_length=8, choices=ApplicationType.choices, default=ApplicationType.WEB,
        help_text="native: a loopback redirect URI matches on any port (RFC 8252 §7.3); web: exact match only.",
    )

    # The admin API's scopes are never requestable by default: a client must be given them.
    # Through the code flow they are granted only as far as the user's admin role goes.
    admin_scopes = models.JSONField(
        default=list, blank=True, validators=[validate_admin_scopes],
        help_text="Admin API scopes this client may request: admin:read, admin:write.",
    )

    objects: ClassVar[ApplicationManager] = ApplicationManager()

    class Meta:
        base_manager_name = "unscoped"

    def allows_grant_type(self, *grant_types: str) -> bool:
        """DOT's check, answered from ``grant_types`` (DOT's constants are mapped to RFC names)."""
        wanted = {_DOT_GRANTS.get(g, g) for g in grant_types}
        return bool(wanted & set(self.grant_types))

    def natural_key(self) -> tuple[str]:
        return (self.client_id,)

    def redirect_uri_allowed(self, uri: str) -> bool:
        """Exact match; loopback redirects of native apps may use any port (RFC 8252 §7.3)."""
        return redirect_uri_matches(self.redirect_uris.split(), uri,
                                    any_loopback_port=self.application_type == ApplicationType.NATIVE)

    def redirect_uri_registered(self, uri: str) -> bool:
        """The URI exactly as registered (not only through the any-port rule)."""
        return uri in self.redirect_uris.split()

    def post_logout_redirect_uri_allowed(self, uri: str) -> bool:
        return uri in self.post_logout_redirect_uris.split()

    def get_allowed_schemes(self) -> list[str]:
        """https plus the schemes this client registered (validated: http only for loopback)."""
        registered = {u.split(":", 1)[0] for u in self.redirect_uris.split() if ":" in u}
        return sorted({"https"} | registered)

    @property
    def is_first_party(self) -> bool:
        """First-party clients skip the consent page (DOT's skip_authorization)."""
        return self.skip_authorization


class AccessToken(TenantOwned, AbstractAccessToken):
    """An access token, stored only as its SHA-256 checksum (token column left blank)."""

    family = models.UUIDField(null=True, blank=True, db_index=True, editable=False,
                              help_text="The authorization (code or refresh chain) it came from.")
    sid = models.CharField(max_length=64, blank=True, default="", db_index=True)

    class Meta:
        base_manager_name = "unscoped"


class RefreshToken(TenantOwned, AbstractRefreshToken):
    """A rotating refresh token; carries the authentication context for ID tokens on refresh."""

    sid = models.CharField(max_length=64, blank=True, default="", db_index=True)
    auth_time = models.DateTimeField(null=True, blank=True)
    amr = models.JSONField(default=list, blank=True)
    acr = models.CharField(max_length=32, blank=True, default="")

    class Meta(AbstractRefreshToken.Meta):
        base_manager_name = "unscoped"


class IDToken(TenantOwned, AbstractIDToken):
    sid = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        base_manager_name = "unscoped"


class Grant(TenantOwned, AbstractGrant):
    """An authorization code: stored as its digest, single use, bound to client, URI and PKCE."""

    code = DigestField(unique=True)
    family = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    redirect_uri_provided = models.BooleanField(
        default=True, help_text="The authorization request named its redirect_uri (the token request must too).")
    replayed_at = models.DateTimeField(null=True, blank=True,
                                       help_text="Presented again after use: its tokens are revoked.")
    sid = models.CharField(max_length=64, blank=True, default="")
    auth_time = models.DateTimeField(null=True, blank=True)
    amr = models.JSONField(default=list, blank=True)
    acr = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        base_manager_name = "unscoped"


class Consent(TenantOwned):
    """Scopes a user has allowed a client; a later request within them skips the consent page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="+")
    scope = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        base_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["user", "application"], name="consent_unique")]

    def covers(self, scopes: list[str]) -> bool:
        return set(scopes) <= set(self.scope.split())


class SigningKeyManager(TenantScopedManager["SigningKey"]):
    def published(self) -> models.QuerySet[SigningKey]:
        """Keys in the tenant's JWKS: next, active and retired-but-still-needed."""
        return self.filter(state__in=[SigningKey.State.NEXT, SigningKey.State.ACTIVE,
                                      SigningKey.State.RETIRED])

    def with_private_half(self) -> models.QuerySet[SigningKey]:
        """Keys whose private half still exists (it is destroyed on removal and revocation)."""
        return self.filter(state__in=[SigningKey.State.NEXT, SigningKey.State.ACTIVE, SigningKey.State.RETIRED])

    def active_for(self, alg: str) -> SigningKey | None:
        return self.filter(alg=alg, state=SigningKey.State.ACTIVE).order_by("-activated_at").first()


class SigningKey(TenantOwned):
    """A tenant's signing key. Lifecycle (idp.rotation): next (published, not signing) ->
    active (signs) -> retired (published until every token it signed has expired) -> removed
    (unpublished, private half destroyed, public half kept for the audit checkpoints it
    signed); or revoked at any point (compromised: unpublished at once, private half destroyed,
    no longer trusted even for checkpoints).

    The private key is AES-GCM encrypted under the KEK, bound to its tenant and kid.
    kid is the RFC 7638 JWK thumbprint of the public key.
    """

    class State(models.TextChoices):
        NEXT = "next", "Next (published, not yet signing)"
        ACTIVE = "active", "Active (signing)"
        RETIRED = "retired", "Retired (published until its tokens expire)"
        REMOVED = "removed", "Removed (unpublished; private half destroyed)"
        REVOKED = "revoked", "Revoked (compromised; unpublished)"

    kid = models.CharField(max_length=64)
    alg = models.CharField(max_length=5, choices=SigningAlgorithm.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.NEXT)
    public_jwk = models.JSONField()
    encrypted_private_key = models.BinaryField()
    created = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[SigningKeyManager] = SigningKeyManager()

    class Meta:
        base_manager_name = "unscoped"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kid"], name="signingkey_kid_unique_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant", "alg"], condition=models.Q(state="active"),
                name="signingkey_one_active_per_alg",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alg} {self.kid} ({self.state})"
