"""The admin API's rate limit: one budget per access token, counted by core.ratelimit (Redis in
production, shared by every web process) like the sign-in and token endpoints' limits."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import BaseThrottle

from core.client_ip import client_ip
from core.ratelimit import Budget, Refusal, spend


class PerClientThrottle(BaseThrottle):
    """One budget per access token (its database id: never the token), else per signed-in user
    (the browsable API), else per address; each counted within its tenant.

    The rate is the view's ``rate_limit()`` (the tenant's security policy: tenants.api.views).
    Past it, DRF's ``Throttled``: a 429 problem document with Retry-After (core.api.problems)."""

    scope = "api.token"

    def __init__(self) -> None:
        self.refusal: Refusal | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        tenant = getattr(request, "tenant", None)
        token = request.auth
        if getattr(token, "pk", None) is not None:
            who = f"token:{token.pk}"
        elif getattr(request.user, "is_authenticated", False):
            who = f"user:{request.user.pk}"
        else:
            who = f"ip:{client_ip(request.META)}"  # the trusted-proxy rule, not DRF's get_ident
        budget = Budget(self.scope, view.rate_limit(), str(getattr(tenant, "pk", "-")), who)
        self.refusal = spend(budget)
        return self.refusal is None

    def wait(self) -> float | None:
        return float(self.refusal.retry_after) if self.refusal is not None else None
