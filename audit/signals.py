"""Audit events from signals: Django's (sign-in, sign-out, failed sign-in, admin actions) and
those tenants defines because it may not import audit (tenant created, platform access)."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save

from audit.models import Action, Outcome
from audit.recording import record
from core.actors import ANONYMOUS, Actor, system_actor, user_actor
from core.ratelimit import Refusal, rate_limited
from tenants.context import get_current_tenant
from tenants.signals import platform_accessed, policy_changed, tenant_created, tenant_updated


def logged_in(sender, request, user, **kwargs) -> None:
    record(Action.LOGIN_SUCCEEDED, actor=user_actor(user), subject=user.username,
           target=("user", user.uid), assess_risk=True,
           details={"amr": list(getattr(request, "tessera_amr", []) or [])})


def login_failed(sender, credentials, request=None, **kwargs) -> None:
    if get_current_tenant() is None:
        return  # no tenant, no chain: authentication is only offered inside a tenant
    username = str(credentials.get("username") or "")
    details: dict[str, Any] = {"username": username[:150]}
    if request is not None and getattr(request, "axes_locked_out", False):
        details["refused"] = "locked out: the password was not checked"
    record(Action.LOGIN_FAILED, actor=ANONYMOUS, outcome=Outcome.FAILURE, subject=username,
           assess_risk=True, details=details)


def logged_out(sender, request, user, **kwargs) -> None:
    if user is None or get_current_tenant() is None:
        return
    record(Action.LOGOUT, actor=user_actor(user), subject=user.username, target=("user", user.uid))


def admin_action(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created or get_current_tenant() is None:
        return
    record(Action.ADMIN_ACTION, actor=user_actor(instance.user),
           target=(str(instance.content_type or ""), instance.object_id or ""),
           details={"flag": instance.get_action_flag_display(), "object": instance.object_repr,
                    "change": instance.get_change_message()})


def tenant_was_created(sender, tenant, actor: Actor | None = None, **kwargs: Any) -> None:
    """The tenant's chain starts with its creation (sent inside its tenant context)."""
    record(Action.TENANT_CREATED, actor=actor or system_actor("tessera"), target=("tenant", tenant.slug),
           details={"name": tenant.name})


def platform_was_accessed(sender, tenant, actor: Actor, reason: str, **kwargs: Any) -> None:
    """Every entry of the platform into a tenant, in that tenant's own trail."""
    record(Action.PLATFORM_ACCESS, actor=actor, target=("tenant", tenant.slug), details={"reason": reason})


def policy_was_changed(sender, tenant, actor: Actor | None, changes: dict[str, Any], **kwargs: Any) -> None:
    record(Action.POLICY_UPDATED, actor=actor or system_actor("tessera"), target=("tenant", tenant.slug),
           details={"changes": changes})


def tenant_was_updated(sender, tenant, actor: Actor | None, changes: dict[str, Any], reason: str = "",
                       **kwargs: Any) -> None:
    """A tenant deactivated or reactivated by the platform, in that tenant's own trail."""
    record(Action.TENANT_UPDATED, actor=actor or system_actor("tessera"), target=("tenant", tenant.slug),
           details={"changes": changes, **({"reason": reason} if reason else {})})


def request_was_rate_limited(sender, refusal: Refusal, **kwargs: Any) -> None:
    """issue 15: the first refusal of a budget in its window (core.ratelimit samples them). The
    event names the limit and, for an account or client budget, whose it is; an address is the
    event's own IP field; a token budget is named by nothing (its key is the token's row id)."""
    if get_current_tenant() is None:
        return
    budget = refusal.budget
    counted = budget.scope.rsplit(".", 1)[-1]
    record(Action.RATE_LIMITED, actor=ANONYMOUS, outcome=Outcome.FAILURE,
           subject=budget.shown if counted == "account" else "",
           target=("client", budget.shown) if counted == "client" and budget.shown else None,
           details={"scope": budget.scope, "limit": budget.rate.limit, "window": budget.rate.window,
                    "retry_after": refusal.retry_after})


def connect() -> None:
    rate_limited.connect(request_was_rate_limited, dispatch_uid="audit.rate_limited")
    user_logged_in.connect(logged_in, dispatch_uid="audit.logged_in")
    user_login_failed.connect(login_failed, dispatch_uid="audit.login_failed")
    user_logged_out.connect(logged_out, dispatch_uid="audit.logged_out")
    post_save.connect(admin_action, sender=LogEntry, dispatch_uid="audit.admin_action")
    tenant_created.connect(tenant_was_created, dispatch_uid="audit.tenant_created")
    platform_accessed.connect(platform_was_accessed, dispatch_uid="audit.platform_accessed")
    policy_changed.connect(policy_was_changed, dispatch_uid="audit.policy_changed")
    tenant_updated.connect(tenant_was_updated, dispatch_uid="audit.tenant_updated")
