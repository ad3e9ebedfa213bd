"""Generators for bearer values: opaque 256-bit tokens, and RFC 9068 JWT access tokens."""

from __future__ import annotations

import secrets


def generate_opaque_token(request=None) -> str:
    """A random 256-bit bearer value, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def generate_client_secret() -> str:
    """A random 256-bit client secret."""
    return secrets.token_urlsafe(32)


def generate_access_token(request) -> str:
    """Opaque by default; an RFC 9068 JWT (typ at+jwt) for clients that ask for one."""
    from idp.models import AccessTokenFormat

    client = getattr(request, "client", None)
    if client is None or client.access_token_format != AccessTokenFormat.JWT:
        return generate_opaque_token()
    return jwt_access_token(request)


def jwt_access_token(request) -> str:
    """RFC 9068 claims (idp.claims), signed with the tenant's active key for the client's algorithm."""
    from idp import claims, keys
    from tenants.context import current_issuer, require_tenant

    client = request.client
    body = claims.access_token_claims(
        issuer=current_issuer(), tenant_slug=require_tenant().slug, client=client,
        user=getattr(request, "user", None), scopes=list(request.scopes or []),
        resources=list(getattr(request, "resource", None) or []), lifetime=int(request.expires_in))
    return keys.sign_jwt(body, client.algorithm, typ="at+jwt")
