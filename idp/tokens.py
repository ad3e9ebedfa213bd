"""Generators for bearer values: opaque 256-bit tokens, and RFC 9068 JWT access tokens."""

from __future__ import annotations

import secrets
import time
import uuid


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
    """RFC 9068 §2.2 claims, signed with the tenant's active key for the client's algorithm."""
    from idp import keys
    from tenants.context import current_issuer, require_tenant

    client = request.client
    now = int(time.time())
    user = getattr(request, "user", None)
    resources = getattr(request, "resource", None) or []
    claims = {
        "iss": current_issuer(),
        "sub": str(user.uid) if user is not None else client.client_id,
        "aud": resources if resources else client.client_id,
        "exp": now + int(request.expires_in),
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        "client_id": client.client_id,
        "scope": " ".join(request.scopes or []),
        "tenant": require_tenant().slug,
    }
    return keys.sign_jwt(claims, client.algorithm, typ="at+jwt")
