"""Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the tenant's JWKS."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_safe
from oauth2_provider.settings import oauth2_settings

from accounts.authn import ACR_MULTI_FACTOR, ACR_SINGLE_FACTOR
from core.conf import tessera_settings
from idp import keys
from idp.claims import CLAIMS_SUPPORTED
from idp.models import GrantType
from tenants.context import current_issuer, require_tenant
from tenants.services import policy_for


def provider_metadata() -> dict:
    """The tenant's metadata; identical for the OIDC and RFC 8414 documents."""
    issuer = current_issuer()
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": list(oauth2_settings.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GrantType.values),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(policy_for(require_tenant()).signing_algorithms),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS_SUPPORTED,
        "acr_values_supported": [ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    }


def _public_json(request: HttpRequest, body: bytes, etag: str) -> HttpResponse:
    """A public, cacheable JSON document: ``Cache-Control: max-age`` (JWKS_MAX_AGE; a key must
    be published at least that long before it signs), a strong ETag of the body, and 304 Not
    Modified for a client whose ``If-None-Match`` names it (RFC 9110 §13.1.2). ``body`` and
    ``etag``: ``_render``'s."""
    response = HttpResponse(body, content_type="application/json")
    response["Cache-Control"] = f"public, max-age={tessera_settings.JWKS_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    response["ETag"] = etag
    answer = get_conditional_response(request, etag=response["ETag"], response=response) or response
    answer["Access-Control-Allow-Origin"] = "*"  # Django's 304 keeps the caching headers only
    return answer


@require_safe
def openid_configuration(request: HttpRequest, tenant: str | None = None) -> HttpResponse:
    """/t/<tenant>/.well-known/openid-configuration and /.well-known/oauth-authorization-server/t/<tenant>"""
    return _public_json(request, *_render(provider_metadata()))


def _render(data: dict) -> tuple[bytes, str]:
    body = JsonResponse(data).content
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


# The JWKS body and ETag per tenant, with the key list they were made from: the key cache
# (idp.keys, LookupCache) hands out the same list until the keys change, so a body made from
# that very list is current. The floor row of `make bench` is this document.
_rendered_jwks: dict[int, tuple[object, bytes, str]] = {}


@require_safe
def jwks(request: HttpRequest, tenant: str) -> HttpResponse:
    """/t/<tenant>/jwks.json: next, active and retired public keys."""
    data = keys.jwks()
    tenant_pk = require_tenant().pk
    made = _rendered_jwks.get(tenant_pk)
    if made is None or made[0] is not data["keys"]:
        if len(_rendered_jwks) >= 4096:  # tenants come and go: bounded, like the key cache
            _rendered_jwks.clear()
        made = _rendered_jwks[tenant_pk] = (data["keys"], *_render(data))
    return _public_json(request, made[1], made[2])
