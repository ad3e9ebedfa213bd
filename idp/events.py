"""The idp app's audit events: one typed function per event, so their schema lives here.

Each calls ``audit.recording.record`` in the caller's transaction; none takes a secret,
token or code (only identifiers: client_id, token family, kid).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from audit.models import Action, Outcome
from audit.recording import record
from core.actors import ANONYMOUS, Actor, client_actor, system_actor, user_actor

if TYPE_CHECKING:
    from idp.models import Application, SigningKey


def client_summary(application: Application) -> dict[str, Any]:
    """What an event says about a client's configuration (never its secret)."""
    return {
        "name": application.name, "client_type": application.client_type,
        "application_type": application.application_type,
        "grant_types": list(application.grant_types), "redirect_uris": application.redirect_uris.split(),
        "post_logout_redirect_uris": application.post_logout_redirect_uris.split(),
        "web_origins": application.allowed_origins.split(),
        "first_party": application.skip_authorization, "algorithm": application.algorithm,
        "access_token_format": application.access_token_format,
    }


def client_created(application: Application, *, actor: Actor | None) -> None:
    record(Action.CLIENT_CREATED, actor=actor or system_actor("tessera"),
           target=("client", application.client_id), details=client_summary(application))


def client_secret_reissued(application: Application, *, actor: Actor) -> None:
    record(Action.CLIENT_UPDATED, actor=actor, target=("client", application.client_id),
           details={"change": "new client secret issued"})


def consent_granted(user: Any, application: Application, scopes: list[str]) -> None:
    record(Action.CONSENT_GRANTED, actor=user_actor(user), subject=user.username,
           target=("client", application.client_id), details={"scope": sorted(set(scopes))})


def consent_revoked(user: Any, application: Application, *, scopes: list[str], families: int) -> None:
    """The user withdrew a consent on the account page; the client's tokens went with it."""
    record(Action.CONSENT_REVOKED, actor=user_actor(user), subject=user.username, target=("user", user.uid),
           details={"client_id": application.client_id, "client": application.name[:200], "scope": sorted(scopes),
                    "token_families_revoked": families})


def token_issued(*, client: Application, user: Any, grant_type: str, scope: str, refresh: bool,
                 oidc: bool, family: uuid.UUID | None, expires_in: int | None, spool: bool = False) -> None:
    """token.issued (any grant) or token.refreshed (the refresh grant)."""
    record(
        Action.TOKEN_REFRESHED if grant_type == "refresh_token" else Action.TOKEN_ISSUED,
        actor=client_actor(client),
        subject=user.username if user is not None else "",
        target=("user", user.uid) if user is not None else ("client", client.client_id),
        details={"grant_type": grant_type, "scope": scope, "format": client.access_token_format,
                 "refresh": refresh, "oidc": oidc, "family": str(family) if family else None,
                 "expires_in": expires_in},
        spool=spool,
    )


def token_revoked_by_client(client: Application, *, kind: str, token_id: int | str, hint: str | None,
                            jti: str | None = None) -> None:
    """RFC 7009: a client revoked one of its tokens. A JWT access token without a row (client
    credentials) is the target ``("jwt_access_token", jti)``; ``jti`` says a JWT access token
    went on the deny list (idp.denylist)."""
    record(Action.TOKEN_REVOKED, actor=client_actor(client), target=(kind, token_id),
           details={"reason": "client_request", "hint": hint, **({"jti": jti} if jti else {})})


def session_tokens_revoked(user: Any, *, sid: str, families: list[uuid.UUID], reason: str = "logout",
                           actor: Actor | None = None) -> None:
    """What one browser session had been issued was revoked: RP-initiated logout, or the
    session ended (by its user, or by ``actor``, an admin)."""
    record(Action.TOKEN_REVOKED, actor=actor or user_actor(user), subject=user.username, target=("session", sid),
           details={"reason": reason, "families": sorted(str(f) for f in families)})


def user_tokens_revoked(user: Any, *, reason: str, families: list[uuid.UUID], access_tokens: int = 0,
                        client_id: str | None = None, actor: Actor | None = None) -> None:
    """Everything the user had been issued (at ``client_id`` only, when given) was revoked: their
    password changed, they signed out everywhere, or ``actor`` (an admin) locked, deactivated or
    revoked them."""
    record(Action.TOKEN_REVOKED, actor=actor or user_actor(user), subject=user.username, target=("user", user.uid),
           details={"reason": reason, "families": sorted(str(f) for f in families),
                    "access_tokens_revoked": access_tokens, **({"client_id": client_id} if client_id else {})})


def token_reuse_detected(family: uuid.UUID, *, client: Application | None, reason: str) -> None:
    """A used code or refresh token came back (RFC 6749 §4.1.2, RFC 9700 §4.14.2): its
    family is revoked. ``client`` presented it."""
    record(Action.TOKEN_REUSE_DETECTED, outcome=Outcome.FAILURE,
           actor=client_actor(client) if client else ANONYMOUS,
           target=("token_family", family), details={"reason": reason, "family": str(family)})


def signing_key_created(key: SigningKey, *, actor: Actor | None = None) -> None:
    record(Action.KEY_CREATED, actor=actor or system_actor("tessera"), target=("signing_key", key.kid),
           details={"alg": key.alg, "state": key.state})


def signing_key_state_changed(key: SigningKey, *, previous: str, reason: str, actor: Actor,
                              **details: object) -> None:
    """A key published, signing, retired, removed from the JWKS (private half destroyed) or
    revoked as compromised (idp.rotation)."""
    record(Action.KEY_STATE_CHANGED, actor=actor, target=("signing_key", key.kid),
           details={"alg": key.alg, "from": previous, "to": key.state, "reason": reason, **details})


def signing_key_tokens_revoked(key: SigningKey, *, actor: Actor, refresh_families: int, access_tokens: int,
                               id_tokens: int) -> None:
    """The tokens a compromised key may have signed were revoked."""
    record(Action.TOKEN_REVOKED, actor=actor, target=("signing_key", key.kid),
           details={"reason": "signing key compromised", "alg": key.alg, "refresh_families": refresh_families,
                    "access_tokens_revoked": access_tokens, "id_tokens": id_tokens})


def authorization_refused(*, client: Application | None, client_id: str, error: str, description: str,
                          redirect_uri: str, redirected: bool) -> None:
    """An authorization request answered with an error (at the client's redirect URI, or on a
    page when the client or redirect URI cannot be trusted), so the operator sees why an app's
    sign-in fails: the relying party often swallows the error."""
    record(Action.AUTHORIZATION_REFUSED, outcome=Outcome.FAILURE,
           actor=client_actor(client) if client else ANONYMOUS, target=("client", client_id),
           details={"error": error, "description": description, "redirect_uri": redirect_uri,
                    "redirected": redirected, "client_known": client is not None})


def logout_refused(*, client_id: str, reason: str, post_logout_redirect_uri: str) -> None:
    record(Action.LOGOUT_REFUSED, outcome=Outcome.FAILURE, actor=ANONYMOUS, target=("client", client_id),
           details={"reason": reason, "post_logout_redirect_uri": post_logout_redirect_uri})


def client_authentication_failed(*, client: Application | None, client_id: str, method: str) -> None:
    """A client presented credentials that did not authenticate it (unknown id, wrong or no
    secret). The secret itself never enters the event."""
    record(Action.CLIENT_AUTHENTICATION_FAILED, outcome=Outcome.FAILURE,
           actor=client_actor(client) if client else ANONYMOUS, target=("client", client_id),
           details={"method": method, "client_known": client is not None})


def client_updated(application: Application, *, actor: Actor | None, changes: dict[str, Any]) -> None:
    record(Action.CLIENT_UPDATED, actor=actor or system_actor("tessera"), target=("client", application.client_id),
           details={"changes": changes})


def client_deleted(client_id: str, name: str, *, actor: Actor | None, tokens_revoked: int) -> None:
    record(Action.CLIENT_DELETED, actor=actor or system_actor("tessera"), target=("client", client_id),
           details={"name": name, "tokens_revoked": tokens_revoked})
