"""Claims, defined once: the ID token, userinfo, RFC 9068 JWT access tokens and discovery's
``claims_supported`` all read them from here."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

# OpenID Connect Core §5.4: the claims each scope releases (sub always, with openid).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "preferred_username", "updated_at"),
    "email": ("email", "email_verified"),
}
CLAIM_SCOPE: dict[str, str] = {claim: scope for scope, claims in SCOPE_CLAIMS.items() for claim in claims}
# Scopes that concern a person: never granted to a client acting for itself.
USER_SCOPES = frozenset({*SCOPE_CLAIMS, "offline_access"})

# What an ID token carries besides the user's claims (OpenID Connect Core §2, §3.1.3.6).
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "acr")
CLAIMS_SUPPORTED = list(dict.fromkeys([*ID_TOKEN_CLAIMS, *CLAIM_SCOPE]))


def epoch(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def subject(uid: Any) -> str:
    """The OpenID ``sub`` of the user with this ``uid``: a stable, opaque UUID, always in its
    hyphenated form (SQLite's raw rows give 32 hex digits)."""
    return str(uuid.UUID(str(uid)))


def user_claims(user: Any) -> dict[str, Any]:
    """Every claim Tessera can release about ``user``; callers filter by scope (CLAIM_SCOPE).

    A claim Tessera knows nothing about is left out, not sent empty (OpenID Connect Core
    §5.3.2: an empty string is a value, and relying parties would store it as the name).
    """
    claims = {
        "sub": subject(user.uid),
        "name": user.get_full_name() or user.get_username(),
        "given_name": user.first_name,
        "family_name": user.last_name,
        "preferred_username": user.get_username(),
        "updated_at": epoch(getattr(user, "updated", None) or user.date_joined),
        "email": user.email,
        "email_verified": user.email_verified if user.email else None,
    }
    return {k: v for k, v in claims.items() if v not in ("", None)}


def released(claims: dict[str, Any], scopes: list[str]) -> dict[str, Any]:
    """The claims the granted ``scopes`` release."""
    return {k: v for k, v in claims.items() if CLAIM_SCOPE.get(k) in scopes}


def authentication_claims(source: Any) -> dict[str, Any]:
    """auth_time, sid, amr and acr of the sign-in a code or refresh chain comes from."""
    if source is None:
        return {}
    context = {"auth_time": epoch(source.auth_time), "sid": source.sid, "amr": list(source.amr),
               "acr": source.acr}
    return {k: v for k, v in context.items() if v not in (None, "", [])}


def id_token_protocol_claims(*, issuer: str, lifetime: int) -> dict[str, Any]:
    """iss, exp, iat and jti of a new ID token (oauthlib adds aud, nonce and at_hash)."""
    now = int(time.time())
    return {"iss": issuer, "exp": now + lifetime, "iat": now, "jti": str(uuid.uuid4())}


def access_token_claims(*, issuer: str, tenant_slug: str, client: Any, user: Any, scopes: list[str],
                        resources: list[str], lifetime: int) -> dict[str, Any]:
    """RFC 9068 §2.2: a JWT access token's claims (sub is the client when no user is involved)."""
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": subject(user.uid) if user is not None else client.client_id,
        "aud": resources if resources else client.client_id,
        "exp": now + lifetime,
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        "client_id": client.client_id,
        "scope": " ".join(scopes),
        "tenant": tenant_slug,
    }
