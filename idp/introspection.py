"""Token introspection (RFC 7662): what a resource server learns about a token of this tenant."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone
from oauth2_provider.models import refresh_token_expire_timedelta

from idp import denylist, keys, sql
from idp.claims import subject
from idp.fields import sha256_hex
from idp.models import Application, RefreshToken
from tenants.context import current_issuer, require_tenant

INACTIVE: dict[str, Any] = {"active": False}


def _aware(value):
    """Raw rows from SQLite carry naive UTC datetimes (or ISO strings); PostgreSQL's are aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _user(user) -> dict[str, Any]:
    return {"sub": subject(user.uid), "username": user.get_username()} if user else {}


def describe_access_token(token: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(sql.ACCESS_TOKEN, [require_tenant().pk, sha256_hex(token)])
        row = cursor.fetchone()
    if row is None:
        return INACTIVE
    expires, created, scope, resource, client_id, uid, username, user_active = row
    expires, created = _aware(expires), _aware(created)
    if expires <= timezone.now() or user_active in (False, 0):
        return INACTIVE
    if isinstance(resource, str):  # SQLite returns JSON as text
        resource = json.loads(resource)
    return {
        "active": True, "token_type": "Bearer", "scope": scope, "client_id": client_id,
        "exp": int(expires.timestamp()), "iat": int(created.timestamp()), "iss": current_issuer(),
        # SQLite hands the UUID column back as 32 hex digits: subject() gives it its hyphens.
        **({"sub": subject(uid), "username": username} if username is not None else {}),
        **({"aud": resource} if resource else {}),
    }


def describe_jwt_access_token(token: str) -> dict[str, Any]:
    """A JWT access token (RFC 9068) we signed: signature, typ, iss and expiry checked.

    Client-credentials JWTs have no row; those from user flows do, and must still exist
    (a logout or revocation deletes the row) with their user active. The deny list (revoked
    jti) is checked by ``introspect`` for every JWT access token, with or without a row.
    """
    claims = keys.access_token_claims(token)
    if claims is None:
        return INACTIVE
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= timezone.now().timestamp():
        return INACTIVE
    application = Application.objects.filter(client_id=str(claims.get("client_id"))).first()
    if application is None:
        return INACTIVE
    if claims.get("sub") != application.client_id:
        with connection.cursor() as cursor:
            cursor.execute(sql.JWT_ACCESS_TOKEN_LIVE, [require_tenant().pk, sha256_hex(token)])
            row = cursor.fetchone()
        if row is None or row[0] in (False, 0):
            return INACTIVE
    return {"active": True, "token_type": "Bearer", **{
        k: claims[k] for k in ("scope", "client_id", "exp", "iat", "nbf", "sub", "aud", "iss", "jti")
        if k in claims}}


def describe_refresh_token(token: str) -> dict[str, Any]:
    rt = (
        RefreshToken.objects.select_related("application", "user", "access_token")
        .filter(token_checksum=sha256_hex(token), revoked__isnull=True).first()
    )
    if rt is None or rt.access_token is None or not rt.user.is_active:
        return INACTIVE
    lifetime = refresh_token_expire_timedelta()
    expires = rt.access_token.expires + lifetime if lifetime else None
    if expires is not None and expires <= timezone.now():
        return INACTIVE
    return {
        "active": True, "token_type": "refresh_token", "scope": rt.access_token.scope,
        "client_id": rt.application.client_id, "iat": int(rt.created.timestamp()),
        **({"exp": int(expires.timestamp())} if expires else {}),
        "iss": current_issuer(), **_user(rt.user),
    }


def revoked_jwt(token: str, description: dict[str, Any]) -> bool:
    """Whether an active ``description`` is of a JWT access token on the deny list (issue 13),
    or of one whose revocation cannot be checked (deny list unreachable: fail closed, logged).
    An opaque token (no dots) is never looked up."""
    if not denylist.is_jwt(token):
        return False
    # A row-less JWT was verified (its jti is in the description); one with a row matched its
    # stored digest, so its payload is ours to read.
    jti = description["jti"] if "jti" in description else denylist.stored_token_jti(token)
    return denylist.revoked(require_tenant().pk, jti, where="introspection")


def introspect(token: str, hint: str | None) -> dict[str, Any]:
    """The first active description of ``token`` (the hint decides which kind is tried first),
    unless it is a revoked JWT access token."""
    order = ([describe_refresh_token, describe_access_token] if hint == "refresh_token"
             else [describe_access_token, describe_refresh_token])
    order.append(describe_jwt_access_token)
    for describe in order:
        result = describe(token)
        if result["active"]:
            return INACTIVE if revoked_jwt(token, result) else result
    return INACTIVE
