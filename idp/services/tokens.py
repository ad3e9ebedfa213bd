"""The token lifecycle: authorization codes claimed once, refresh tokens rotated on every use,
token families revoked when a used code or refresh token comes back.

Claims are conditional UPDATEs (``... WHERE used_at IS NULL`` / ``revoked IS NULL``) made
once every check of the token request has passed (PKCE, redirect URI, scope), and before any
token is saved: of two concurrent requests presenting the same code or refresh token,
exactly one wins; the loser's UPDATE waits for the winner's row lock, finds the value used,
and revokes the whole family, the winner's new tokens included. The loser's revocation and
its audit event commit with its own (400) response: nothing here raises inside a block that
would doom the request's transaction (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any, TypeGuard

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import refresh_token_expire_timedelta, set_token_value

from core.actors import Actor
from idp import denylist, events, keys, sql
from idp.fields import sha256_hex
from idp.models import AccessToken, Application, Grant, RefreshToken
from tenants.context import require_tenant

log = logging.getLogger(__name__)

CODE_REPLAYED = "code_replayed"
REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105 (a reason code, not a secret)


# --- authorization codes ------------------------------------------------------------------


def find_code(code: object) -> Grant | None:
    """The grant row of a presented code (looked up by digest), with its user."""
    if not isinstance(code, str) or not code:
        return None
    return Grant.objects.filter(code=code).select_related("user").first()


def code_usable(grant: Grant | None, client: Application) -> TypeGuard[Grant]:
    """Whether ``client`` may exchange this code now. A code that was already exchanged is a
    replay: the tokens issued from it are revoked."""
    if grant is None or grant.application_id != client.pk:
        return False  # another client's code: not a replay of ours, and not consumed
    if grant.used_at is not None:
        code_replayed(grant, client)
        return False
    return not grant.is_expired()


def claim_code(grant: Grant, client: Application) -> bool:
    """Mark the code used (once every check passed); False when another request won it, in
    which case this one is a replay and the winner's tokens are revoked."""
    claimed = Grant.objects.filter(pk=grant.pk, used_at__isnull=True).update(used_at=timezone.now())
    if not claimed:
        code_replayed(grant, client)
    return bool(claimed)


def code_replayed(grant: Grant, client: Application | None) -> None:
    """RFC 6749 §4.1.2: a code presented after its exchange revokes every token issued from it."""
    log.warning("authorization code replayed; revoking its tokens (grant %s)", grant.pk)
    with transaction.atomic():
        Grant.objects.filter(pk=grant.pk).update(replayed_at=timezone.now())
        revoke_token_family(grant.family, reason=CODE_REPLAYED, client=client)


# --- refresh tokens -----------------------------------------------------------------------


def usable_refresh_token(value: object, client: Application) -> RefreshToken | None:
    """The presented refresh token, if ``client`` may use it now (one query: the token, its
    access token and user). A used or revoked one is reuse: its whole family is revoked,
    whichever client presents it (RFC 9700 §4.14.2)."""
    if not isinstance(value, str) or not value:
        return None
    rt = (
        RefreshToken.objects.filter(token_checksum=sha256_hex(value))
        .select_related("access_token", "user")
        .order_by(F("revoked").desc(nulls_first=True))
        .first()
    )
    if rt is None:
        return None
    if rt.revoked is not None:
        log.warning("refresh token reused; revoking its family (refresh token %s)", rt.pk)
        revoke_token_family(rt.token_family, reason=REFRESH_TOKEN_REUSED, client=client)
        return None
    if rt.application_id != client.pk or rt.access_token is None or not rt.user.is_active:
        return None
    expire_delta = refresh_token_expire_timedelta()
    if expire_delta and rt.access_token.expires + expire_delta <= timezone.now():
        return None
    return rt


def claim_refresh_token(rt: RefreshToken, client: Application) -> bool:
    """Mark the refresh token used (once every check passed); False when a concurrent request
    used it first, in which case this one is reuse and the family, the winner's new tokens
    included, is revoked."""
    claimed = _claim_refresh_token(rt, timezone.now())
    if not claimed:
        log.warning("refresh token used concurrently; revoking its family (refresh token %s)", rt.pk)
        revoke_token_family(rt.token_family, reason=REFRESH_TOKEN_REUSED, client=client)
    return bool(claimed)


def _claim_refresh_token(rt: RefreshToken, now: dt.datetime) -> bool:
    """Mark ``rt`` used unless it already is, and delete the access token issued with it (the
    only row pointing at that one, rt itself, is cleared in the same claim)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql.CLAIM_REFRESH_TOKEN, {"now": now, "tenant": require_tenant().pk, "id": rt.pk,
                                                     "access_token": rt.access_token_id})
            return bool(cursor.fetchone()[0])
    claimed = RefreshToken.objects.filter(pk=rt.pk, revoked__isnull=True).update(
        revoked=now, updated=now, access_token=None)
    if claimed and rt.access_token_id:
        AccessToken.objects.filter(pk=rt.access_token_id)._raw_delete(AccessToken.objects.db)
    return bool(claimed)


def rotate_refresh_token(old: RefreshToken, *, client: Application, scope: str, access_token: str,
                         refresh_token: str | None, expires: dt.datetime, resource: list[str]) -> None:
    """The claimed ``old`` token's successors (its access token went with the claim): a new
    access token and (if issued) a new refresh token in the same family, carrying its sign-in
    context."""
    new_access = new_access_token(value=access_token, user=old.user, client=client, scope=scope,
                                  expires=expires, resource=resource, family=old.token_family, sid=old.sid,
                                  source_refresh_token=old)
    if refresh_token:
        new_refresh_token(value=refresh_token, user=old.user, client=client, access_token=new_access,
                          family=old.token_family, resource=resource, source=old)


# --- token rows ---------------------------------------------------------------------------


def new_access_token(*, value: str, user: Any, client: Application, scope: str, expires: dt.datetime,
                     resource: list[str], family: uuid.UUID | None, sid: str,
                     source_refresh_token: RefreshToken | None = None) -> AccessToken:
    """Store an access token (its SHA-256 checksum only)."""
    token = AccessToken(user=user, scope=scope, expires=expires, application=client,
                        source_refresh_token=source_refresh_token, resource=resource, family=family, sid=sid)
    set_token_value(token, value)
    token.save()
    return token


def new_refresh_token(*, value: str, user: Any, client: Application, access_token: AccessToken,
                      family: uuid.UUID, resource: list[str], source: Grant | RefreshToken | None) -> RefreshToken:
    """Store a refresh token (checksum only) with the sign-in context of the code or refresh
    token it descends from, so a refreshed ID token keeps the original auth_time."""
    token = RefreshToken(
        user=user, application=client, access_token=access_token, token_family=family, resource=resource,
        sid=source.sid if source else "", auth_time=source.auth_time if source else None,
        amr=list(source.amr) if source else [], acr=source.acr if source else "",
    )
    set_token_value(token, value)
    token.save()
    return token


# --- revocation ---------------------------------------------------------------------------


def revoke_token_family(family: uuid.UUID | None, *, reason: str, client: Application | None = None) -> None:
    """Revoke every token descended from one authorization (a code and its refresh chain).

    ``reason`` says why (CODE_REPLAYED, REFRESH_TOKEN_REUSED); it is audited as
    token.reuse_detected, with the client that presented the used credential.
    """
    if family is None:
        return
    with transaction.atomic():
        RefreshToken.revoke_family(family)
        AccessToken.objects.filter(family=family).delete()
        events.token_reuse_detected(family, client=client, reason=reason)


def _revoke_where(user: Any, **where: Any) -> tuple[set[uuid.UUID], int]:
    """Revoke the refresh-token families and delete the access tokens of ``user`` matching
    ``where``; (the families revoked, the access tokens deleted)."""
    families = {
        family for family in
        RefreshToken.objects.filter(user=user, revoked__isnull=True, **where).values_list("token_family", flat=True)
        if family is not None
    }
    for family in families:
        RefreshToken.revoke_family(family)
    deleted, _ = AccessToken.objects.filter(user=user, **where).delete()
    return families, deleted


def deny_jwt_access_token(token: str, client: Application, *, has_row: bool) -> str | None:
    """RFC 7009 for a JWT access token: when this tenant signed it for ``client`` (the one
    revoking it), its jti goes on the deny list until it expires (idp.denylist). Returns the jti
    when this request denied it; None for anything else (already denied, expired, another
    client's or tenant's token, not a JWT access token), which RFC 7009 §2.2 answers with 200
    all the same.

    ``has_row``: the caller also found and deletes the token's row (user flows), which revokes
    it at introspection and userinfo on its own; then an unreachable deny list is logged and
    not fatal. Without a row (client credentials) the deny list is the only way: raises
    DenyListUnavailable, and the client is told to retry.
    """
    if not denylist.is_jwt(token):
        return None
    claims = keys.access_token_claims(token)
    if claims is None:
        return None
    jti, exp = claims.get("jti"), claims.get("exp")
    if claims.get("client_id") != client.client_id or not isinstance(jti, str) or not isinstance(exp, int):
        return None
    try:
        denied = denylist.deny(require_tenant().pk, jti, exp)
    except denylist.DenyListUnavailable as exc:
        log.warning("revocation: deny list unreachable for JWT access token (jti %s, client %s; %s): %s",
                    jti, client.client_id, "its row deleted" if has_row else "not revoked, answered 503", exc)
        if has_row:
            return None
        raise
    return jti if denied else None


def revoke_session_tokens(user: Any, sid: str, *, reason: str = "logout", actor: Actor | None = None) -> None:
    """Revoke the tokens issued through one browser session (RP-initiated logout, or the
    session ended by its user or by ``actor``, an admin)."""
    if not sid:
        return
    with transaction.atomic():
        families, deleted = _revoke_where(user, sid=sid)
        if families or deleted:
            events.session_tokens_revoked(user, sid=sid, families=list(families), reason=reason, actor=actor)


def revoke_client_tokens(user: Any, application: Any) -> int:
    """Revoke the tokens ``application`` holds for ``user`` (a consent withdrawn); the number
    of refresh-token families revoked. The caller records the event."""
    families, _ = _revoke_where(user, application=application)
    return len(families)


def revoke_user_tokens(user: Any, *, reason: str, actor: Actor | None = None,
                       application: Application | None = None) -> RevokedTokens:
    """Revoke every token ``user`` holds, at every client or at ``application`` only (a password
    change or reset, signing out everywhere, an admin's lock, deactivation or revocation);
    audited when anything was revoked, as done by ``actor`` (default: the user)."""
    where = {"application": application} if application is not None else {}
    with transaction.atomic():
        deleted = AccessToken.objects.filter(user=user, **where).count()  # revoking a family deletes some
        families, _ = _revoke_where(user, **where)
        if families or deleted:
            events.user_tokens_revoked(user, reason=reason, families=sorted(families), access_tokens=deleted,
                                       client_id=application.client_id if application is not None else None,
                                       actor=actor)
    return RevokedTokens(families=len(families), access_tokens=deleted)


# --- what a user holds (the admin API) ------------------------------------------------------


@dataclass(frozen=True)
class RevokedTokens:
    """How much a revocation revoked: refresh-token families and access tokens."""

    families: int
    access_tokens: int


@dataclass(frozen=True)
class UserAuthorization:
    """One live authorization of a user at a client, as an admin sees it: a refresh-token family
    (its live refresh token and access token) or an access token issued without a refresh
    token. Identifiers and times only: never a token or its digest."""

    family: uuid.UUID | None
    client_id: str
    client_name: str
    scope: str
    created: dt.datetime
    expires: dt.datetime | None  # the refresh token's end (None: until revoked), else the access token's
    refresh: bool


def live_tokens_of(user: Any) -> list[UserAuthorization]:
    """The user's live refresh-token families and the live access tokens outside them, newest first."""
    now = timezone.now()
    refresh_life = refresh_token_expire_timedelta()
    grants: list[UserAuthorization] = []
    seen: set[uuid.UUID] = set()
    live = (RefreshToken.objects.filter(user=user, revoked__isnull=True).select_related("application", "access_token")
            .order_by("-created"))
    for rt in live:
        access = rt.access_token
        expires = access.expires + refresh_life if access is not None and refresh_life else None
        if expires is not None and expires <= now:
            continue
        if rt.token_family is not None:
            seen.add(rt.token_family)
        grants.append(UserAuthorization(family=rt.token_family, client_id=rt.application.client_id,
                                        client_name=rt.application.name,
                                        scope=access.scope if access is not None else "",
                                        created=rt.created, expires=expires, refresh=True))
    for at in (AccessToken.objects.filter(user=user, expires__gt=now).select_related("application")
               .order_by("-created")):
        if at.family is not None and at.family in seen:
            continue
        grants.append(UserAuthorization(family=at.family, client_id=at.application.client_id,
                                        client_name=at.application.name, scope=at.scope, created=at.created,
                                        expires=at.expires, refresh=False))
    return sorted(grants, key=lambda g: g.created, reverse=True)


def revoke_user_token_family(user: Any, family: uuid.UUID, *, actor: Actor) -> RevokedTokens | None:
    """Revoke one of the user's authorizations (a refresh-token family and its access tokens);
    None when the user holds no live token of that family."""
    with transaction.atomic():
        if not (RefreshToken.objects.filter(user=user, token_family=family, revoked__isnull=True).exists()
                or AccessToken.objects.filter(user=user, family=family).exists()):
            return None
        deleted = AccessToken.objects.filter(user=user, family=family).count()  # revoke_family deletes some
        RefreshToken.revoke_family(family)
        AccessToken.objects.filter(user=user, family=family).delete()
        events.user_tokens_revoked(user, reason="revoked by an admin", families=[family], access_tokens=deleted,
                                   actor=actor)
    return RevokedTokens(families=1, access_tokens=deleted)
