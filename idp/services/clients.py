"""Registering OAuth clients (relying parties) and re-issuing their secrets."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import Actor
from idp import events
from idp.crypto import client_secret_digest
from idp.models import AccessTokenFormat, Application, ApplicationType, GrantType, SigningAlgorithm
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
    application_type: str = ApplicationType.WEB, actor: Actor | None = None, client_id: str | None = None,
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
    if application_type not in ApplicationType.values:
        raise ValidationError(f"Unknown application type {application_type!r}.")
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
        application_type=application_type,
    )
    with transaction.atomic():
        application.save()
        events.client_created(application, actor=actor)
    return NewClient(application=application, client_secret=secret)


def reissue_client_secret(application: Application, *, actor: Actor) -> str:
    """Give a confidential client a new secret (returned once; only its digest is kept)."""
    secret = generate_client_secret()
    with transaction.atomic():
        application.client_secret = client_secret_digest(secret)
        application.save(update_fields=["client_secret"])
        events.client_secret_reissued(application, actor=actor)
    return secret
