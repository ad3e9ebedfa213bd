"""CORS per tenant: a browser origin may call a tenant's protocol endpoints only when one of
that tenant's clients registered it as a web origin (``Application.allowed_origins``).

django-cors-headers does the HTTP side (preflight answers, ``Vary: Origin``, the headers); its
``check_request_enabled`` signal asks ``allow_tenant_origin`` whether the request's origin is
allowed. The signal is asked twice per request by corsheaders: whether CORS is enabled for the
path at all, and whether the origin is allowed. Answering yes only on ``CORS_URLS_REGEX``'s
paths keeps the first answer the regex's own, so no page ever gets a preflight answered.

The token endpoint: oauthlib adds ``Access-Control-Allow-Origin`` itself to a successful code
or refresh grant when the origin is one of *that client's* origins (https only). corsheaders,
outside it, then sets the same header to the same origin (Django keeps one value per header),
and also on the error responses oauthlib leaves bare, so a single-page app can read its
``invalid_grant`` instead of a network error. Nothing here carries credentials
(``CORS_ALLOW_CREDENTIALS`` is False): a cross-origin caller presents its own token or code.

Discovery and the JWKS are not here: they are public documents that carry no credentials and
answer ``Access-Control-Allow-Origin: *`` themselves (idp.views.discovery), as other providers do.

The origins are cached per process (core.lookup_cache), by tenant: a change in this process
evicts the entry at once (idp.apps), other processes follow within LOOKUP_CACHE_SECONDS.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from core.lookup_cache import LookupCache
from idp.models import Application
from tenants.context import tenant_context
from tenants.middleware import TENANT_PATH, active_tenant
from tenants.models import SLUG_RE, Tenant

web_origins = LookupCache(max_entries=1024)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(origin: str) -> str:
    """The origin as a browser sends it: lower-case scheme and host, no default port."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    suffix = "" if port is None or port == _DEFAULT_PORTS.get(scheme) else f":{port}"
    return f"{scheme}://{host}{suffix}"


def _load_origins(tenant: Tenant) -> frozenset[str]:
    with tenant_context(tenant):
        registered = Application.objects.exclude(allowed_origins="").values_list("allowed_origins", flat=True)
        return frozenset(filter(None, (normalise_origin(o) for value in registered for o in value.split())))


def tenant_web_origins(tenant: Tenant) -> frozenset[str]:
    """Every web origin a client of ``tenant`` registered (cached per process)."""
    origins: frozenset[str] = web_origins.get_or_load(tenant.pk, lambda: _load_origins(tenant))
    return origins


def allow_tenant_origin(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    """corsheaders' ``check_request_enabled``: True when the request is for one of the CORS
    paths of a tenant and its Origin is a web origin of one of that tenant's clients."""
    path = request.path_info
    if not re.match(settings.CORS_URLS_REGEX, path):
        return False
    origin = request.headers.get("origin")
    match = TENANT_PATH.match(path)
    if not origin or match is None or not re.fullmatch(SLUG_RE, match.group("slug")):
        return False
    tenant = active_tenant(match.group("slug"))
    return tenant is not None and normalise_origin(origin) in tenant_web_origins(tenant)


def forget_client_origins(sender: Any, instance: Application, **kwargs: Any) -> None:
    """A client changed: this process reloads its tenant's origins, now and after the commit
    (a request of this process could reload the old list before the change commits)."""
    tenant_id = instance.tenant_id
    web_origins.evict(tenant_id)
    transaction.on_commit(lambda: web_origins.evict(tenant_id))
