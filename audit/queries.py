"""Reading a person's own trail (the account page): their recent sign-ins and security events."""

from __future__ import annotations

from typing import Any

from audit.models import SIGN_IN_ACTIONS, AuditEvent


def recent_sign_ins(username: str, limit: int = 10) -> list[AuditEvent]:
    """Sign-in attempts naming ``username`` (successes and failures), newest first, with their
    risk score and reasons (the partial index audit_signin_subject serves it)."""
    return list(AuditEvent.objects.filter(action__in=SIGN_IN_ACTIONS, subject=username.lower())
                .only("occurred", "action", "outcome", "ip", "user_agent", "risk_score", "risk_reasons", "details")
                .order_by("-occurred")[:limit])


def recent_events_about(user: Any, limit: int = 20) -> list[AuditEvent]:
    """Events whose target is ``user`` (factors, password, sessions, email...), newest first."""
    return list(AuditEvent.objects.filter(target_type="user", target_id=str(user.uid))
                .only("occurred", "action", "outcome", "ip", "user_agent", "details")
                .order_by("-seq")[:limit])
