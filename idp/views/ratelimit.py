"""Rate limits at the token, revocation and introspection endpoints (core.ratelimit, issue 15).

Per client, per endpoint. A budget anyone could spend by naming a client would let anyone
shut that client out, and client ids are public; so a confidential client's budget is spent
only by requests that authenticated as it (checked before, spent once the response shows the
client authenticated), and a public client's, which authenticates by its id alone, per client
and address. Requests whose client authentication failed spend their address's budget for
failures instead: past it, that address's requests here are refused before any work (each
failure is also an audit event, which this bounds).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.lockout import client_ip
from core.ratelimit import Budget, count, oauth_refusal, over
from idp.models import Application
from idp.validators import clients
from tenants.context import require_tenant
from tenants.services import policy_for


def _client_id(request: HttpRequest, basic_client_id: str | None) -> str:
    client_id = basic_client_id if basic_client_id is not None else request.POST.get("client_id", "")
    return client_id if 0 < len(client_id) <= 255 and "\x00" not in client_id else ""


def _application(tenant_pk: int, client_id: str) -> Application | None:
    """The tenant's client by id, through the validator's lookup cache (no query when warm)."""
    return clients.get_or_load((tenant_pk, client_id),
                               lambda: Application.objects.filter(client_id=client_id).first())


def limited(request: HttpRequest, endpoint: str, basic_client_id: str | None,
            respond: Callable[[], HttpResponse]) -> HttpResponse:
    """``respond()`` unless a budget of this request is spent: then 429 with the OAuth error body.
    ``endpoint``: "token", "revocation" or "introspection"."""
    tenant = require_tenant()
    policy = policy_for(tenant)
    ip = client_ip(request)
    failures = Budget("client_auth.ip", policy.rate("client_failures_per_ip"), str(tenant.pk), ip)
    client_id = _client_id(request, basic_client_id)
    application = _application(tenant.pk, client_id) if client_id else None
    budget = None
    if application is not None:
        public = application.client_type == Application.CLIENT_PUBLIC
        budget = Budget(f"{endpoint}.client", policy.rate("client_requests"), str(tenant.pk),
                        f"{client_id}\x00{ip}" if public else client_id, shown=client_id)
    refusal = over(failures, budget)
    if refusal is not None:
        return oauth_refusal(refusal)
    response = respond()
    count(failures if response.status_code == 401 else budget)
    return response
