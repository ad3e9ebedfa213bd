"""Token introspection (RFC 7662) for the tenant's confidential clients."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from datetime import timezone as dt_timezone

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import refresh_token_expire_timedelta
from jwcrypto import jwt
from jwcrypto.common import JWException
from oauth2_provider.views.mixins import OAuthLibMixin

from idp import keys
from idp.models import AccessToken, Application, RefreshToken
from idp.views.token import malformed, oauth_error
from tenants.context import current_issuer, require_tenant

INACTIVE = {"active": False}


def _checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _subject(user) -> dict:
    return {"sub": str(user.uid), "username": user.get_username()} if user else {}


# The hottest read of a resource server's life, so one explicit statement instead of an ORM
# query (whose SQL compilation alone costs several times the round trip, README
# "Performance"). The tenant filter is explicit here, as the scoped manager would add it.
_ACCESS_TOKEN_SQL = f"""
    SELECT t.expires, t.created, t.scope, t.resource, a.client_id, u.uid, u.username, u.is_active
      FROM {AccessToken._meta.db_table} t
      LEFT JOIN {AccessToken._meta.get_field("application").related_model._meta.db_table} a
             ON a.id = t.application_id
      LEFT JOIN {AccessToken._meta.get_field("user").related_model._meta.db_table} u ON u.id = t.user_id
     WHERE t.tenant_id = %s AND t.token_checksum = %s
"""


def describe_access_token(token: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(_ACCESS_TOKEN_SQL, [require_tenant().pk, _checksum(token)])
        row = cursor.fetchone()
    if row is None:
        return INACTIVE
    expires, created, scope, resource, client_id, uid, username, user_active = row
    expires, created = _aware(expires), _aware(created)
    if expires <= timezone.now() or user_active is False:
        return INACTIVE
    if isinstance(resource, str):  # SQLite returns JSON as text
        resource = json.loads(resource)
    return {
        "active": True, "token_type": "Bearer", "scope": scope, "client_id": client_id,
        "exp": int(expires.timestamp()), "iat": int(created.timestamp()), "iss": current_issuer(),
        **({"sub": str(uid), "username": username} if username is not None else {}),
        **({"aud": resource} if resource else {}),
    }


def _aware(value):
    """Raw rows from SQLite carry naive UTC datetimes (or ISO strings); PostgreSQL's are aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=dt_timezone.utc)


def describe_jwt_access_token(token: str) -> dict:
    """A JWT access token (RFC 9068) we signed: signature, typ, iss and expiry checked.

    Client-credentials JWTs have no row; those from user flows do, and must still exist
    (a logout or revocation deletes the row, so introspection reports them inactive).
    """
    if token.count(".") != 2:
        return INACTIVE
    try:
        parsed = jwt.JWT(key=keys.jwk_set(), jwt=token, expected_type="JWS")
        header, claims = parsed.token.jose_header, json.loads(parsed.claims)
    except (JWException, ValueError, TypeError):
        return INACTIVE
    if header.get("typ") != "at+jwt" or claims.get("iss") != current_issuer():
        return INACTIVE
    application = Application.objects.filter(client_id=claims.get("client_id")).first()
    if application is None:
        return INACTIVE
    if claims.get("sub") != application.client_id and not AccessToken.objects.filter(
            token_checksum=_checksum(token)).exists():
        return INACTIVE
    return {"active": True, "token_type": "Bearer", **{
        k: claims[k] for k in ("scope", "client_id", "exp", "iat", "nbf", "sub", "aud", "iss", "jti")
        if k in claims}}


def describe_refresh_token(token: str) -> dict:
    rt = (
        RefreshToken.objects.select_related("application", "user", "access_token")
        .filter(token_checksum=_checksum(token), revoked__isnull=True).first()
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
        "iss": current_issuer(), **_subject(rt.user),
    }


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectView(OAuthLibMixin, View):
    """POST /t/<tenant>/introspect: any confidential client of the tenant may ask."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, tenant: str) -> HttpResponse:
        error = malformed(request)
        if error:
            return error
        if not self.authenticate_client(request):
            response = oauth_error("invalid_client", "Client authentication failed.", status=401)
            response["WWW-Authenticate"] = 'Basic realm="tessera"'
            return response
        token = request.POST.get("token")
        if not token:
            return oauth_error("invalid_request", "The token parameter is missing.")
        hint = request.POST.get("token_type_hint")
        order = [describe_refresh_token, describe_access_token] if hint == "refresh_token" else [
            describe_access_token, describe_refresh_token]
        order.append(describe_jwt_access_token)
        for describe in order:
            result = describe(token)
            if result["active"]:
                break
        response = JsonResponse(result)
        response["Cache-Control"] = "no-store"
        return response

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        return oauth_error("invalid_request", "Use POST.", status=405)

