"""Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the tenant's JWKS."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe
from oauth2_provider.settings import oauth2_settings

from accounts.authn import ACR_MULTI_FACTOR, ACR_SINGLE_FACTOR
from idp import keys
from idp.claims import CLAIMS_SUPPORTED
from idp.models import GrantType, SigningAlgorithm
from tenants.context import current_issuer


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
        "id_token_signing_alg_values_supported": list(SigningAlgorithm.values),
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


def _public_json(data: dict, max_age: int) -> JsonResponse:
    response = JsonResponse(data)
    response["Cache-Control"] = f"public, max-age={max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def openid_configuration(request: HttpRequest, tenant: str | None = None) -> JsonResponse:
    """/t/<tenant>/.well-known/openid-configuration and /.well-known/oauth-authorization-server/t/<tenant>"""
    return _public_json(provider_metadata(), max_age=300)


@require_safe
def jwks(request: HttpRequest, tenant: str) -> JsonResponse:
    """/t/<tenant>/jwks.json: next, active and retired public keys."""
    return _public_json(keys.jwks(), max_age=300)
