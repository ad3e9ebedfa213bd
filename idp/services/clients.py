"""OAuth clients (relying parties): registering, listing, changing and deleting them, and
re-issuing their secrets. The commands, and later the admin and the API, all come here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import Actor
from idp import events, keys
from idp.crypto import client_secret_digest
from idp.models import (
    AccessToken,
    AccessTokenFormat,
    Application,
    ApplicationType,
    GrantType,
    RefreshToken,
    SigningAlgorithm,
    validate_admin_scopes,
)
from idp.redirects import validate_redirect_uri, validate_web_origin
from idp.tokens import generate_client_secret
from tenants.context import require_tenant
from tenants.services import policy_for


@dataclass(frozen=True)
class NewClient:
    application: Application
    client_secret: str | None  # shown once, never stored


@dataclass(frozen=True)
class ClientSettings:
    """What an operator chooses about a client (everything but its id and secret)."""

    name: str
    confidential: bool
    grant_types: list[str]
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    web_origins: list[str]
    first_party: bool
    algorithm: str
    access_token_format: str
    application_type: str
    admin_scopes: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, application: Application) -> ClientSettings:
        return cls(
            name=application.name, confidential=application.client_type == Application.CLIENT_CONFIDENTIAL,
            grant_types=list(application.grant_types), redirect_uris=application.redirect_uris.split(),
            post_logout_redirect_uris=application.post_logout_redirect_uris.split(),
            web_origins=application.allowed_origins.split(), first_party=application.skip_authorization,
            algorithm=application.algorithm, access_token_format=application.access_token_format,
            application_type=application.application_type, admin_scopes=list(application.admin_scopes),
        )

    def validate(self) -> None:
        """Raise ValidationError naming what is wrong with this combination."""
        if not self.name.strip():
            raise ValidationError("A client needs a name (shown on the consent page).")
        unknown = [g for g in self.grant_types if g not in GrantType.values]
        if unknown or not self.grant_types:
            raise ValidationError(
                f"Unknown grant type {', '.join(unknown) or '(none)'}; choose from {', '.join(GrantType.values)}.")
        if GrantType.CLIENT_CREDENTIALS in self.grant_types and not self.confidential:
            raise ValidationError("client_credentials needs a confidential client.")
        if GrantType.REFRESH_TOKEN in self.grant_types and GrantType.AUTHORIZATION_CODE not in self.grant_types:
            raise ValidationError("refresh_token is only issued with authorization_code.")
        if GrantType.AUTHORIZATION_CODE in self.grant_types and not self.redirect_uris:
            raise ValidationError("authorization_code needs at least one --redirect-uri.")
        for uri in [*self.redirect_uris, *self.post_logout_redirect_uris]:
            validate_redirect_uri(uri)
        for origin in self.web_origins:
            validate_web_origin(origin)
        if self.algorithm not in SigningAlgorithm.values:
            raise ValidationError(f"Unknown algorithm {self.algorithm!r}.")
        if self.access_token_format not in AccessTokenFormat.values:
            raise ValidationError(f"Unknown access token format {self.access_token_format!r}.")
        if self.application_type not in ApplicationType.values:
            raise ValidationError(f"Unknown application type {self.application_type!r}.")
        validate_admin_scopes(self.admin_scopes)

    def apply(self, application: Application) -> None:
        application.name = self.name.strip()
        application.grant_types = list(dict.fromkeys(self.grant_types))
        application.authorization_grant_type = (
            Application.GRANT_AUTHORIZATION_CODE if GrantType.AUTHORIZATION_CODE in self.grant_types
            else Application.GRANT_CLIENT_CREDENTIALS)
        application.redirect_uris = " ".join(dict.fromkeys(self.redirect_uris))
        application.post_logout_redirect_uris = " ".join(dict.fromkeys(self.post_logout_redirect_uris))
        application.allowed_origins = " ".join(dict.fromkeys(self.web_origins))
        application.skip_authorization = self.first_party
        application.algorithm = self.algorithm
        application.access_token_format = self.access_token_format
        application.application_type = self.application_type
        application.admin_scopes = sorted(set(self.admin_scopes))


def create_client(
    *, name: str, confidential: bool, grant_types: list[str], redirect_uris: list[str],
    first_party: bool = False, post_logout_redirect_uris: list[str] | None = None,
    web_origins: list[str] | None = None, algorithm: str = SigningAlgorithm.RS256,
    access_token_format: str = AccessTokenFormat.OPAQUE, application_type: str = ApplicationType.WEB,
    admin_scopes: list[str] | None = None, actor: Actor | None = None, client_id: str | None = None,
) -> NewClient:
    """Register a client in the current tenant. Public clients get no secret."""
    wanted = ClientSettings(
        name=name, confidential=confidential, grant_types=list(dict.fromkeys(grant_types)),
        redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout_redirect_uris or [],
        web_origins=web_origins or [], first_party=first_party, algorithm=algorithm,
        access_token_format=access_token_format, application_type=application_type,
        admin_scopes=list(admin_scopes or []))
    wanted.validate()
    _offer_algorithm(algorithm)
    secret = generate_client_secret() if confidential else None
    application = Application(
        **({"client_id": client_id} if client_id else {}),
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        client_secret=client_secret_digest(secret) if secret else "",
    )
    wanted.apply(application)
    with transaction.atomic():
        application.save()
        events.client_created(application, actor=actor)
    return NewClient(application=application, client_secret=secret)


def _offer_algorithm(algorithm: str) -> None:
    """A client may choose only among its tenant's signing algorithms (the security policy);
    the tenant gets a key for it now if the rotation job has not yet made one."""
    offered = policy_for(require_tenant()).signing_algorithms
    if algorithm not in offered:
        raise ValidationError(f"This tenant signs with {', '.join(offered)}, not {algorithm} "
                              "(its security policy lists the algorithms it keeps keys for).")
    keys.provision_keys()


def find_client(client_id: str) -> Application:
    """The current tenant's client; ValidationError if there is none (another tenant's counts as none)."""
    application = Application.objects.filter(client_id=client_id).first() if client_id else None
    if application is None:
        raise ValidationError(f"No client {client_id!r} in this tenant.")
    return application


def list_clients() -> list[Application]:
    return list(Application.objects.order_by("name", "client_id"))


def update_client(application: Application, *, actor: Actor | None, **changes: Any) -> dict[str, Any]:
    """Change what an operator may change (any ClientSettings field but ``confidential``),
    keeping the client id, the secret and the users' consent. Returns the changes made
    (old and new value per field); nothing is saved when the result would be invalid."""
    if "confidential" in changes:
        raise ValidationError("A client cannot change between public and confidential: register a new one.")
    current = ClientSettings.of(application)
    names = [f.name for f in dataclasses.fields(ClientSettings)]
    unknown = set(changes) - set(names)
    if unknown:
        raise ValueError(f"not a client setting: {', '.join(sorted(unknown))}")
    wanted = dataclasses.replace(current, **{k: v for k, v in changes.items() if v is not None})
    wanted.validate()
    made = {name: {"from": getattr(current, name), "to": getattr(wanted, name)}
            for name in names if getattr(current, name) != getattr(wanted, name)}
    if not made:
        return {}
    if "algorithm" in made:
        _offer_algorithm(wanted.algorithm)
    with transaction.atomic():
        wanted.apply(application)
        application.save()
        events.client_updated(application, actor=actor, changes=made)
    return made


def delete_client(application: Application, *, actor: Actor | None) -> int:
    """Delete a client, its codes, tokens and consents (its audit events stay). Returns the
    number of access and refresh tokens that died with it."""
    with transaction.atomic():
        tokens = (AccessToken.objects.filter(application=application).count()
                  + RefreshToken.objects.filter(application=application, revoked__isnull=True).count())
        client_id, name = application.client_id, application.name
        application.delete()
        events.client_deleted(client_id, name, actor=actor, tokens_revoked=tokens)
    return tokens


def reissue_client_secret(application: Application, *, actor: Actor) -> str:
    """Give a confidential client a new secret (returned once; only its digest is kept)."""
    secret = generate_client_secret()
    with transaction.atomic():
        application.client_secret = client_secret_digest(secret)
        application.save(update_fields=["client_secret"])
        events.client_secret_reissued(application, actor=actor)
    return secret
