"""The tenant context: which tenant the current request or task acts for.

Set by ``TenantMiddleware`` from the URL, by ``tenant_context()`` in commands and jobs.
Held in a ContextVar, so threads and async tasks never see each other's tenant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenants.models import Tenant


class TenantNotSet(RuntimeError):
    """Raised when tenant-owned data is touched with no tenant in context (fail closed)."""


@dataclass(frozen=True)
class TenantState:
    tenant: Tenant
    issuer: str


_state: ContextVar[TenantState | None] = ContextVar("tessera_tenant", default=None)


def get_current_tenant() -> Tenant | None:
    """The tenant in context, or None."""
    state = _state.get()
    return state.tenant if state else None


def require_tenant() -> Tenant:
    """The tenant in context; raises TenantNotSet when there is none."""
    state = _state.get()
    if state is None:
        raise TenantNotSet("No tenant in context: use tenant_context() or a /t/<slug>/ URL.")
    return state.tenant


def current_issuer() -> str:
    """The OpenID issuer of the tenant in context: {PUBLIC_URL}/t/<slug>."""
    state = _state.get()
    if state is None:
        raise TenantNotSet("No tenant in context, so no issuer.")
    return state.issuer


def issuer_for(tenant: Tenant, base_url: str | None = None) -> str:
    """Issuer URL of ``tenant``: TESSERA PUBLIC_URL, else the given base URL (request's own)."""
    from core.conf import tessera_settings

    base = tessera_settings.PUBLIC_URL or (base_url or "").rstrip("/")
    return f"{base}/t/{tenant.slug}"


@contextlib.contextmanager
def tenant_context(tenant: Tenant, *, base_url: str | None = None) -> Iterator[Tenant]:
    """Run a block as ``tenant``; restores the previous context on exit, even on error."""
    token = _state.set(TenantState(tenant=tenant, issuer=issuer_for(tenant, base_url)))
    try:
        yield tenant
    finally:
        _state.reset(token)
