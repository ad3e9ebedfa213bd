"""Who may call the admin API: a token's scopes, and a person's admin role, both checked.

A token is found only in the tenant whose URL it is presented at (the token lookup is
tenant-scoped, under row-level security), so tenant A's token never authenticates at B.
Reading needs ``admin:read``, changing needs ``admin:write``, in the token and still among
its client's ``admin_scopes``; a token issued to a person works only as far as that person's
admin role goes *now* (a demoted admin's old token loses
what the role no longer allows). A browser session (the browsable API) needs the role alone:
it was signed in through the tenant's MFA policy.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from tenants.models import AdminRole

ADMIN_READ, ADMIN_WRITE = "admin:read", "admin:write"


def _role_allows(user: Any, write: bool) -> bool:
    role = getattr(user, "admin_role", "")
    return role == AdminRole.FULL or (role == AdminRole.READ_ONLY and not write)


def _token_scopes(token: Any) -> set[str] | None:
    scope = getattr(token, "scope", None)
    return set(scope.split()) if isinstance(scope, str) else None


class TenantAdmin(BasePermission):
    """The tenant's admin API: admin:read / admin:write, and the person's role."""

    message = "This needs admin:read to read or admin:write to change, and a user with that admin role."

    def has_permission(self, request: Any, view: Any) -> bool:
        write = request.method not in SAFE_METHODS
        user = request.user if getattr(request.user, "is_authenticated", False) else None
        tenant = getattr(request, "tenant", None)
        if tenant is None or (user is not None and user.tenant_id != tenant.pk):
            return False
        scopes = _token_scopes(request.auth)
        if scopes is not None:  # an access token
            needed = ADMIN_WRITE if write else ADMIN_READ
            # The client must still hold the scope: taking it from a client takes it from its
            # tokens (and from the tokens its refresh tokens go on minting) at once.
            client_scopes = getattr(getattr(request.auth, "application", None), "admin_scopes", None) or ()
            if needed not in scopes or needed not in client_scopes:
                return False
            return user is None or _role_allows(user, write)
        return user is not None and _role_allows(user, write)


class PlatformStaff(TenantAdmin):
    """The platform API (/api/v1/tenants/): the same rules, at the platform tenant only."""

    message = "Platform staff only: an admin of the platform tenant with admin:read or admin:write."

    def has_permission(self, request: Any, view: Any) -> bool:
        tenant = getattr(request, "tenant", None)
        return tenant is not None and tenant.is_platform and super().has_permission(request, view)
