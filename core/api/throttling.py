"""Per-client throttling of the admin API (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["admin_api"])."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle


class PerClientThrottle(SimpleRateThrottle):
    """One budget per OAuth client (a token's client, whoever the person), else per signed-in
    user (the browsable API), else per address; each counted within its tenant."""

    scope = "admin_api"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        tenant = getattr(request, "tenant", None)
        token = request.auth
        application = getattr(token, "application", None)
        if application is not None:
            who = f"client:{application.client_id}"
        elif getattr(request.user, "is_authenticated", False):
            who = f"user:{request.user.pk}"
        else:
            who = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": f"{getattr(tenant, 'pk', '-')}:{who}"}
