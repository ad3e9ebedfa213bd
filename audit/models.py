"""Append-only, hash-chained audit events, one chain per tenant, with signed checkpoints."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.actors import ActorType
from tenants.models import TenantOwned


class Action(models.TextChoices):
    """Every auditable action. Adding one is one line here (and its record() call).

    The value is what the trail stores and hashes; the label is for people (the account
    page shows a person's own events in their language)."""

    LOGIN_SUCCEEDED = "auth.login.succeeded", _("Sign-in succeeded")
    LOGIN_FAILED = "auth.login.failed", _("Sign-in failed")
    LOGOUT = "auth.logout", _("Signed out")
    LOGOUT_REFUSED = "auth.logout.refused", _("Sign-out request refused")
    LOCKED_OUT = "auth.locked_out", _("Sign-in locked after repeated failures")
    UNLOCKED = "auth.unlocked", _("Sign-in lock cleared")
    SESSION_REVOKED = "auth.session_revoked", _("Session ended by its user")
    SIGNED_OUT_EVERYWHERE = "auth.signed_out_everywhere", _("Every session and token revoked by the user")
    AUTHORIZATION_REFUSED = "authorization.refused", _("Authorization request refused")
    CONSENT_GRANTED = "consent.granted", _("Consent granted")
    CONSENT_REVOKED = "consent.revoked", _("Consent revoked by the user")
    TOKEN_ISSUED = "token.issued", _("Token issued")
    TOKEN_REFRESHED = "token.refreshed", _("Token refreshed")
    TOKEN_REVOKED = "token.revoked", _("Token revoked")
    TOKEN_REUSE_DETECTED = "token.reuse_detected", _("Code or refresh token reused; family revoked")
    CLIENT_CREATED = "client.created", _("Client created")
    CLIENT_UPDATED = "client.updated", _("Client changed")
    CLIENT_DELETED = "client.deleted", _("Client deleted")
    CLIENT_AUTHENTICATION_FAILED = "client.authentication_failed", _("Client authentication failed")
    USER_CREATED = "user.created", _("User created")
    USER_UPDATED = "user.updated", _("User changed")
    PASSWORD_CHANGED = "user.password_changed", _("Password changed")
    PASSWORD_RESET_REQUESTED = "user.password_reset_requested", _("Password reset requested")
    EMAIL_VERIFICATION_SENT = "user.email_verification_sent", _("Email verification sent")
    EMAIL_VERIFIED = "user.email_verified", _("Email address verified")
    EMAIL_SENT = "user.email_sent", _("Email sent to the user")
    USER_REGISTERED = "user.registered", _("User registered")
    MFA_ENROLLED = "mfa.enrolled", _("Second factor enrolled")
    MFA_REMOVED = "mfa.removed", _("Second factor removed")
    MFA_RECOVERY_CODES_GENERATED = "mfa.recovery_codes_generated", _("Recovery codes generated")
    MFA_VERIFIED = "mfa.verified", _("Second factor verified")
    MFA_FAILED = "mfa.failed", _("Second factor refused")
    MFA_STEP_UP = "mfa.step_up", _("Step-up to multi-factor requested")
    RISK_STEP_UP = "auth.risk_step_up", _("Sign-in stepped up for its risk score")
    TENANT_CREATED = "tenant.created", _("Tenant created")
    KEY_CREATED = "key.created", _("Signing key created")
    KEY_STATE_CHANGED = "key.state_changed", _("Signing key state changed")
    KEK_RESEALED = "key.kek_resealed", _("Secrets re-sealed under a new key-encryption key")
    ADMIN_ACTION = "admin.action", _("Admin action")
    # The admin surfaces (the API and Django admin), through the same services.
    POLICY_UPDATED = "tenant.policy_updated", _("Security policy changed")
    TENANT_UPDATED = "tenant.updated", _("Tenant changed")
    USER_DEACTIVATED = "user.deactivated", _("User deactivated")
    USER_REACTIVATED = "user.reactivated", _("User reactivated")
    USER_LOCKED = "user.locked", _("User locked by an admin")
    USER_UNLOCKED = "user.unlocked", _("User unlocked by an admin")
    MFA_RESET = "mfa.reset", _("Second factors reset by an admin")
    SESSIONS_REVOKED = "auth.sessions_revoked", _("Sessions ended by an admin")
    AUDIT_EXPORTED = "audit.exported", _("Audit trail exported")
    PLATFORM_ACCESS = "platform.access", _("Platform-level access to a tenant")
    AUDIT_PURGED = "audit.purged", _("Audit events past retention purged")
    WEBHOOK_CREATED = "webhook.created", _("Webhook subscription created")
    WEBHOOK_UPDATED = "webhook.updated", _("Webhook subscription changed")
    WEBHOOK_DELETED = "webhook.deleted", _("Webhook subscription deleted")
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", _("Webhook signing secret replaced")
    WEBHOOK_REDELIVERED = "webhook.redelivered", _("Webhook delivery sent again")
    # issue 15: a request refused by a rate limit (core.ratelimit), sampled: the first per
    # budget and window.
    RATE_LIMITED = "ratelimit.exceeded", _("Request refused by a rate limit")


class Outcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    FAILURE = "failure", _("Failure")


GENESIS_HASH = "0" * 64
# The risk signals' query says exactly this list, so PostgreSQL can use the partial indexes.
SIGN_IN_ACTIONS = [Action.LOGIN_FAILED.value, Action.LOGIN_SUCCEEDED.value]


class ChainHead(TenantOwned):
    """The newest link of a tenant's chain; its row lock orders the tenant's events.

    The application role may read, insert and update it, never delete it (tenants.roles)."""

    seq = models.BigIntegerField(default=0)
    prev_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        base_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="audit_chainhead_one_per_tenant")]


class AuditEvent(TenantOwned):
    """One security-relevant action. Never updated or deleted (a PostgreSQL trigger refuses
    both, except the retention purge); ``hash`` chains it to the tenant's previous event."""

    seq = models.BigIntegerField(editable=False, help_text="Position in the tenant's chain, from 1.")
    occurred = models.DateTimeField(editable=False)
    action = models.CharField(max_length=64, choices=Action.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=255, blank=True, default="")
    actor = models.JSONField(default=dict, help_text="Snapshot of the actor; survives its deletion.")
    subject = models.CharField(max_length=255, blank=True, default="",
                               help_text="Lower-cased username an authentication event is about.")
    target_type = models.CharField(max_length=32, blank=True, default="")
    target_id = models.CharField(max_length=255, blank=True, default="")
    ip = models.CharField(max_length=45, blank=True, default="")
    user_agent = models.CharField(max_length=512, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    device = models.CharField(max_length=64, blank=True, default="",
                              help_text="SHA-256 of the browser's device cookie.")
    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_reasons = models.JSONField(default=list)
    details = models.JSONField(default=dict, help_text="Sanitised: no secret, token, code or password.")
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False,
                            help_text="sha256(prev_hash + content hash): the public link an export is checked by.")
    mac = models.CharField(max_length=64, editable=False, default="",
                           help_text="HMAC-SHA256 of seq and hash under a key derived from the key-encryption "
                                     "key, which the database never holds: nobody who can only write the "
                                     "tables can recompute it.")
    spool_id = models.CharField(max_length=32, null=True, blank=True, editable=False,
                                help_text="Redis stream entry id of a spooled event (audit.spool); "
                                          "makes a second delivery a no-op. Not hashed: a delivery detail.")

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["tenant", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="audit_event_seq_unique"),
            models.UniqueConstraint(fields=["tenant", "spool_id"], name="audit_event_spool_id_unique",
                                    condition=models.Q(spool_id__isnull=False)),
        ]
        # Few indexes: every token grant writes an event. The risk signals read sign-in
        # events only, so their indexes are partial; (tenant, seq) serves verification,
        # retention and time-ordered listing.
        indexes = [
            models.Index(fields=["tenant", "subject", "occurred"], name="audit_signin_subject",
                         condition=models.Q(action__in=SIGN_IN_ACTIONS)),
            models.Index(fields=["tenant", "ip", "occurred"], name="audit_signin_ip",
                         condition=models.Q(action__in=SIGN_IN_ACTIONS)),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.seq} {self.action} {self.outcome}"


class Checkpoint(TenantOwned):
    """A signed statement of a tenant's chain head: "event #seq has hash H" (audit.checkpoints).

    ``jws`` is a compact JWS by the tenant's signing key, so anyone holding the tenant's
    published JWKS can check it, and an export together with its checkpoints offline.
    Checkpoints also leave the database (the audit log line, exports): a copy taken earlier
    reveals a chain that was cut short since, which nothing in the database alone can.
    """

    seq = models.BigIntegerField(editable=False)
    hash = models.CharField(max_length=64, editable=False)
    jws = models.TextField(editable=False)
    created = models.DateTimeField(editable=False)

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["tenant", "seq"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="audit_checkpoint_seq_unique")]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.seq} checkpoint"


# Webhook subscriptions and their deliveries have a module of their own (services: audit.webhooks).
from audit.webhook_models import DeliveryStatus, WebhookDelivery, WebhookSubscription  # noqa: E402, F401
