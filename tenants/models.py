"""The Tenant model and the abstract base every tenant-owned model inherits."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from core.ratelimit import Rate
from tenants.context import require_tenant
from tenants.managers import TenantScopedManager
from tenants.validators import (
    default_signing_algorithms,
    validate_audit_retention,
    validate_logo,
    validate_signing_algorithms,
)

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


class Tenant(models.Model):
    """An organisation served by this deployment: its own users, clients, keys and audit trail."""

    slug = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(SLUG_RE, "Lower-case letters, digits and inner hyphens only.")],
        help_text="Appears in every URL of the tenant: /t/<slug>/.",
    )
    name = models.CharField(max_length=200)
    # Branding of the tenant's pages (tenants.branding): no inline style, the CSP unchanged.
    display_name = models.CharField(max_length=200, blank=True, default="",
                                    help_text="Shown on the sign-in and account pages. Empty: the name.")
    logo = models.TextField(blank=True, default="", validators=[validate_logo],
                            help_text="A data: URI of a PNG, JPEG, WebP or SVG image, at most 64 KiB.")
    primary_color = models.CharField(
        max_length=7, blank=True, default="",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #rrggbb.")],
        help_text="Buttons and links, as #rrggbb. Empty: Tessera's blue.")
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_platform(self) -> bool:
        """The reserved tenant whose admins are platform staff (TESSERA_PLATFORM_TENANT)."""
        from core.conf import tessera_settings

        return self.slug == tessera_settings.PLATFORM_TENANT


class TenantOwned(models.Model):
    """Abstract base: a non-null tenant, a scoped default manager and an explicit unscoped one.

    ``objects`` filters by the current tenant and raises ``TenantNotSet`` when there is none;
    ``unscoped`` is the one, greppable door for platform-level code.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, editable=False, related_name="+")

    objects = TenantScopedManager()
    unscoped = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "unscoped"

    def save(self, *args, **kwargs) -> None:
        if self.tenant_id is None:
            self.tenant = require_tenant()
        super().save(*args, **kwargs)


class AdminRole(models.TextChoices):
    """What a user may do in their tenant's admin surfaces (the API and Django admin).

    Platform staff are the admins of the platform tenant (``Tenant.is_platform``).
    """

    NONE = "", "None"
    READ_ONLY = "read_only", "Read-only admin"
    FULL = "full", "Full admin"


class MFAPolicy(models.TextChoices):
    OFF = "off", "Off: passwords only"
    OPTIONAL = "optional", "Optional: asked of users who enrolled a factor"
    REQUIRED = "required", "Required for everyone"
    REQUIRED_FOR_ADMINS = "required_for_admins", "Required for tenant admins"


class SecurityPolicy(TenantOwned):
    """How a tenant's people authenticate: the one place the admin and the API edit.

    Read at each sign-in (``policy_for``), so a change applies from the next sign-in on.
    """

    mfa = models.CharField(max_length=32, choices=MFAPolicy.choices, default=MFAPolicy.OPTIONAL)
    allow_totp = models.BooleanField(default=True, help_text="Authenticator apps (TOTP).")
    allow_passkeys = models.BooleanField(default=True, help_text="Passkeys and security keys (WebAuthn).")
    allow_recovery_codes = models.BooleanField(default=True, help_text="One-time recovery codes.")
    allow_passwordless = models.BooleanField(
        default=True, help_text="Sign-in with a passkey alone (with user verification), no password.")
    # Keycloak's defaults: an SSO session idles out after 30 minutes, ends after 10 hours.
    session_idle_timeout = models.PositiveIntegerField(default=30 * 60, help_text="Seconds without activity.")
    session_absolute_timeout = models.PositiveIntegerField(default=10 * 3600, help_text="Seconds after sign-in.")
    password_min_length = models.PositiveSmallIntegerField(default=12)
    passkey_rp_id = models.CharField(
        max_length=253, blank=True, default="",
        help_text="WebAuthn relying-party id (a domain). Empty: the host of TESSERA_PUBLIC_URL.")
    # Brute force (accounts.lockout): the limits are counted per username + browser or IP, the
    # cool-off is always finite.
    lockout_failure_limit = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Failed checks of a username from one IP (or one known browser) before it locks.")
    lockout_cooloff = models.PositiveIntegerField(
        default=15 * 60, validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 3600)],
        help_text="Seconds a lock lasts after the last counted failure (never permanent).")
    ip_failure_limit = models.PositiveIntegerField(
        default=50, validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Failed sign-ins from one IP, any username, before the IP is locked (spraying).")
    # The account lifecycle (accounts.registration): off by default.
    allow_self_registration = models.BooleanField(
        default=False, help_text="Anyone may create an account on the sign-in page (email verified first).")
    require_verified_email = models.BooleanField(
        default=False, help_text="Users must verify their email address before they can sign in "
                                 "(self-registered users always must).")
    # Risk-based sign-in (accounts.risk): a score above this sends a password-only sign-in
    # through the MFA step (a one-time code by email for users with no factor).
    risk_step_up_threshold = models.PositiveSmallIntegerField(
        default=25, validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Risk score (0-100) above which a sign-in must pass a second factor. 100: never.")
    # Signing keys (idp.rotation): which algorithms the tenant keeps keys for, and how often
    # each key is replaced.
    signing_algorithms = models.JSONField(
        default=default_signing_algorithms, validators=[validate_signing_algorithms],
        help_text="Algorithms the tenant keeps signing keys for (RS256, ES256); clients choose among them.")
    key_rotation_days = models.PositiveSmallIntegerField(
        default=90, validators=[MaxValueValidator(3650)],
        help_text="Days a signing key signs before the rotation job replaces it. 0: only by hand.")
    # The audit trail (audit.retention): events older than this are purged by the scheduled
    # job, as a prefix of the chain; never any younger than 30 days.
    audit_retention_days = models.PositiveIntegerField(
        default=365, validators=[validate_audit_retention, MaxValueValidator(36500)],
        help_text="Days audit events are kept (at least 30). 0: kept for ever.")
    # Rate limits (core.ratelimit, issue 15): requests per window, counted before any work is
    # done; past a limit, 429 with Retry-After. Sign-in counts the password and MFA steps;
    # recovery counts password reset (request and link) and registration. An account's budget
    # is not spent by browsers that signed in as it before, so nobody can shut a person out by
    # knowing their username. A client's budget is spent only by requests that authenticated as
    # it (a public client's: per address), so nobody can exhaust it by knowing its id.
    ratelimit_window = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text="Seconds over which every rate limit below is counted.")
    ratelimit_signin_per_ip = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(1)],
        help_text="Sign-in attempts (password and MFA steps) from one IP per window, any account.")
    ratelimit_signin_per_account = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)],
        help_text="Sign-in attempts at one account per window, from browsers it never signed in from.")
    ratelimit_recovery_per_ip = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)],
        help_text="Password-reset requests, reset links opened and registrations from one IP per window.")
    ratelimit_recovery_per_account = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)],
        help_text="The same for one email address or account per window.")
    ratelimit_client_requests = models.PositiveIntegerField(
        default=6000, validators=[MinValueValidator(1)],
        help_text="Requests per window of one client at each of the token, revocation and introspection "
                  "endpoints (a public client's: per IP).")
    ratelimit_client_failures_per_ip = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)],
        help_text="Requests from one IP per window whose client authentication failed; past it, that IP's "
                  "requests to those endpoints are refused.")
    ratelimit_api_per_token = models.PositiveIntegerField(
        default=1200, validators=[MinValueValidator(1)],
        help_text="Admin API requests per window with one access token (or one signed-in admin).")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        base_manager_name = "unscoped"
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="tenants_securitypolicy_one_per_tenant"),
            models.CheckConstraint(condition=models.Q(audit_retention_days=0) | models.Q(audit_retention_days__gte=30),
                                   name="tenants_securitypolicy_audit_retention_floor"),
            models.CheckConstraint(condition=models.Q(risk_step_up_threshold__lte=100),
                                   name="tenants_securitypolicy_risk_bounded"),
            models.CheckConstraint(condition=models.Q(lockout_failure_limit__gte=1, lockout_cooloff__gte=1,
                                                      ip_failure_limit__gte=1),
                                   name="tenants_securitypolicy_lockout_bounded"),
            models.CheckConstraint(condition=models.Q(
                ratelimit_window__gte=1, ratelimit_window__lte=3600, ratelimit_signin_per_ip__gte=1,
                ratelimit_signin_per_account__gte=1, ratelimit_recovery_per_ip__gte=1,
                ratelimit_recovery_per_account__gte=1, ratelimit_client_requests__gte=1,
                ratelimit_client_failures_per_ip__gte=1, ratelimit_api_per_token__gte=1),
                name="tenants_securitypolicy_ratelimits_bounded"),
        ]

    def __str__(self) -> str:
        return f"security policy of {self.tenant_id}"

    def rate(self, name: str) -> Rate:
        """The rate limit ``name`` ("signin_per_ip", "api_per_token", ...) over the policy's window."""
        return Rate(int(getattr(self, f"ratelimit_{name}")), self.ratelimit_window)

    @property
    def allowed_factors(self) -> frozenset[str]:
        """The second factors this tenant accepts: "totp", "passkey", "recovery"."""
        if self.mfa == MFAPolicy.OFF:
            return frozenset()
        return frozenset(kind for kind, allowed in (
            ("totp", self.allow_totp), ("passkey", self.allow_passkeys), ("recovery", self.allow_recovery_codes),
        ) if allowed)
