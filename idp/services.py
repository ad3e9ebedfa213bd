"""idp services: clients, consent, token families and session logout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

import audit
from idp.crypto import client_secret_digest
from idp.models import (
    AccessToken,
    AccessTokenFormat,
    Application,
    Consent,
    GrantType,
    RefreshToken,
    SigningAlgorithm,
)
from idp.redirects import validate_redirect_uri
from idp.tokens import generate_client_secret


@dataclass(frozen=True)
class NewClient:
    application: Application
    client_secret: str | None  # shown once, never stored


def create_client(
    *, name: str, confidential: bool, grant_types: list[str], redirect_uris: list[str],
    first_party: bool = False, post_logout_redirect_uris: list[str] | None = None,
    algorithm: str = SigningAlgorithm.RS256, access_token_format: str = AccessTokenFormat.OPAQUE,
    actor: "audit.Actor | None" = None, client_id: str | None = None,
) -> NewClient:
    """Register a client in the current tenant. Public clients get no secret."""
    grant_types = list(dict.fromkeys(grant_types))
    unknown = [g for g in grant_types if g not in GrantType.values]
    if unknown or not grant_types:
        raise ValidationError(
            f"Unknown grant type {', '.join(unknown) or '(none)'}; choose from {', '.join(GrantType.values)}."
        )
    if GrantType.CLIENT_CREDENTIALS in grant_types and not confidential:
        raise ValidationError("client_credentials needs a confidential client.")
    if GrantType.REFRESH_TOKEN in grant_types and GrantType.AUTHORIZATION_CODE not in grant_types:
        raise ValidationError("refresh_token is only issued with authorization_code.")
    if GrantType.AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise ValidationError("authorization_code needs at least one --redirect-uri.")
    for uri in [*redirect_uris, *(post_logout_redirect_uris or [])]:
        validate_redirect_uri(uri)
    if algorithm not in SigningAlgorithm.values:
        raise ValidationError(f"Unknown algorithm {algorithm!r}.")
    if access_token_format not in AccessTokenFormat.values:
        raise ValidationError(f"Unknown access token format {access_token_format!r}.")
    secret = generate_client_secret() if confidential else None
    application = Application(
        **({"client_id": client_id} if client_id else {}),
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        authorization_grant_type=(
            Application.GRANT_AUTHORIZATION_CODE if GrantType.AUTHORIZATION_CODE in grant_types
            else Application.GRANT_CLIENT_CREDENTIALS
        ),
        grant_types=grant_types,
        redirect_uris=" ".join(redirect_uris),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris or []),
        client_secret=client_secret_digest(secret) if secret else "",
        skip_authorization=first_party,
        algorithm=algorithm,
        access_token_format=access_token_format,
    )
    with transaction.atomic():
        application.save()
        audit.record(audit.Action.CLIENT_CREATED, actor=actor or audit.system_actor("tessera"),
                     target=("client", application.client_id), details=client_summary(application))
    return NewClient(application=application, client_secret=secret)


def reissue_client_secret(application: Application, *, actor: "audit.Actor") -> str:
    """Give a confidential client a new secret (returned once; only its digest is kept)."""
    secret = generate_client_secret()
    with transaction.atomic():
        application.client_secret = client_secret_digest(secret)
        application.save(update_fields=["client_secret"])
        audit.record(audit.Action.CLIENT_UPDATED, actor=actor, target=("client", application.client_id),
                     details={"change": "new client secret issued"})
    return secret


def client_summary(application: Application) -> dict:
    """What an audit event says about a client's configuration (never its secret)."""
    return {
        "name": application.name, "client_type": application.client_type,
        "grant_types": list(application.grant_types), "redirect_uris": application.redirect_uris.split(),
        "first_party": application.skip_authorization, "algorithm": application.algorithm,
        "access_token_format": application.access_token_format,
    }


def record_consent(user, application: Application, scopes: list[str]) -> None:
    """Remember that ``user`` allowed ``application`` these scopes (merged with earlier ones)."""
    with transaction.atomic():
        consent, created = Consent.objects.select_for_update().get_or_create(
            user=user, application=application, defaults={"scope": " ".join(sorted(set(scopes)))}
        )
        if not created and not consent.covers(scopes):
            consent.scope = " ".join(sorted(set(consent.scope.split()) | set(scopes)))
            consent.save(update_fields=["scope", "updated"])
        audit.record(audit.Action.CONSENT_GRANTED, actor=audit.user_actor(user), subject=user.username,
                     target=("client", application.client_id), details={"scope": sorted(set(scopes))})


def has_consent(user, application: Application, scopes: list[str]) -> bool:
    consent = Consent.objects.filter(user=user, application=application).first()
    return consent is not None and consent.covers(scopes)


def revoke_token_family(family: uuid.UUID | None, *, reason: str, client: Application | None = None) -> None:
    """Revoke every token descended from one authorization (a code and its refresh chain).

    ``reason`` says why ("code_replayed", "refresh_token_reused"); it is audited as
    token.reuse_detected, with the client that presented the used credential.
    """
    if family is None:
        return
    with transaction.atomic():
        RefreshToken.revoke_family(family)
        AccessToken.objects.filter(family=family).delete()
        audit.record(audit.Action.TOKEN_REUSE_DETECTED, outcome=audit.Outcome.FAILURE,
                     actor=audit.client_actor(client) if client else audit.ANONYMOUS,
                     target=("token_family", family), details={"reason": reason, "family": str(family)})


def revoke_session_tokens(user, sid: str) -> None:
    """Revoke the tokens issued through one browser session (RP-initiated logout)."""
    if not sid:
        return
    with transaction.atomic():
        families = set(
            RefreshToken.objects.filter(user=user, sid=sid).values_list("token_family", flat=True)
        )
        for family in families:
            RefreshToken.revoke_family(family)
        deleted, _ = AccessToken.objects.filter(user=user, sid=sid).delete()
        if families or deleted:
            audit.record(audit.Action.TOKEN_REVOKED, actor=audit.user_actor(user), subject=user.username,
                         target=("session", sid),
                         details={"reason": "logout", "families": sorted(str(f) for f in families)})
