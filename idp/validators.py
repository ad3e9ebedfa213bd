"""The one django-oauth-toolkit extension point: every OAuth/OIDC customisation lives here.

Tenant binding comes from the models: their default managers only see the tenant in
context, so every lookup DOT makes (clients, codes, tokens) is already tenant-scoped.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import refresh_token_expire_timedelta
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

import audit
from idp import keys
from idp.crypto import verify_client_secret
from idp.fields import sha256_hex
from idp.redirects import valid_resource_indicator
from idp.models import (
    AccessToken,
    AccessTokenFormat,
    Application,
    Grant,
    GrantType,
    RefreshToken,
)
from idp.services import revoke_token_family
from tenants.context import current_issuer, require_tenant
from tenants.lookup_cache import LookupCache

log = logging.getLogger(__name__)
clients = LookupCache()

SUPPORTED_GRANTS = frozenset(GrantType.values)


def _resource_list(value) -> list[str]:
    """oauthlib hands a single resource over as a string; the grant stores a list."""
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def _epoch(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


class TesseraOAuth2Validator(OAuth2Validator):
    """DOT's validator, made tenant-aware, PKCE-strict and digest-only."""

    # --- clients -------------------------------------------------------------------------

    def _load_application(self, client_id, request):
        """The tenant's client by id, from the lookup cache (one query saved per request)."""
        if not isinstance(client_id, str) or not client_id or "\x00" in client_id or len(client_id) > 255:
            return None
        if isinstance(request.client, Application) and request.client.client_id == client_id:
            return request.client
        tenant = require_tenant()
        cached = clients.get_or_load(
            (tenant.pk, client_id), lambda: Application.objects.filter(client_id=client_id).first()
        )
        # A copy per request: nothing one request does to the instance reaches another.
        request.client = copy.copy(cached) if cached is not None else None
        return request.client

    def _authenticate_basic_auth(self, request) -> bool:
        try:
            return super()._authenticate_basic_auth(request)
        except ValueError:  # non-ASCII or otherwise undecodable credentials: not authenticated
            return False

    def _validate_resource_uris(self, request, resources) -> None:
        # RFC 8707 §2: invalid_target for anything that is not a usable absolute URI.
        for resource in resources:
            if not valid_resource_indicator(resource):
                raise errors.CustomOAuth2Error(
                    error="invalid_target", description="A resource indicator is not a valid absolute URI.",
                    request=request,
                )

    def _check_secret(self, provided_secret: str, stored_secret: str) -> bool:
        # Keyed HMAC digest, compared in constant time (not DOT's PBKDF2: ~0.4 s a request).
        return verify_client_secret(provided_secret or "", stored_secret or "")

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs) -> bool:
        # One client may hold several grant types; implicit and password exist nowhere.
        return grant_type in SUPPORTED_GRANTS and grant_type in request.client.grant_types

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs) -> bool:
        # Authorization code only (RFC 9700 §2.1.2: no implicit, no hybrid).
        return response_type == "code" and GrantType.AUTHORIZATION_CODE in client.grant_types

    # --- authorization codes -------------------------------------------------------------

    def _create_authorization_code(self, request, code, expires=None):
        if request.code_challenge_method != "S256":
            # The server only accepts S256; this guards any other path in.
            raise errors.InvalidRequestError(
                description="code_challenge_method must be S256.", request=request
            )
        authn = getattr(request, "tessera_authn", None)
        return Grant.objects.create(
            application=request.client,
            user=request.user,
            code=code["code"],
            expires=expires or timezone.now()
            + timedelta(seconds=oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS),
            redirect_uri=request.redirect_uri,
            scope=" ".join(request.scopes),
            code_challenge=request.code_challenge or "",
            code_challenge_method=request.code_challenge_method or "",
            nonce=request.nonce or "",
            claims="{}",
            resource=_resource_list(getattr(request, "resource", None)),
            redirect_uri_provided=getattr(request, "tessera_redirect_uri_provided", True),
            sid=authn.sid if authn else "",
            auth_time=dt.datetime.fromtimestamp(authn.auth_time, dt.timezone.utc) if authn else None,
            amr=list(authn.amr) if authn else [],
            acr=authn.acr if authn else "",
        )

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        """Claim the code atomically; a second presentation revokes what the first one got."""
        grant = self._grant_for(code, request)
        if grant is None or grant.application_id != client.pk:
            return False
        if grant.used_at is not None:
            self._code_replayed(grant)
            return False
        if grant.is_expired():
            return False
        claimed = Grant.objects.filter(pk=grant.pk, used_at__isnull=True).update(used_at=timezone.now())
        if not claimed:  # lost a race with a concurrent exchange of the same code
            self._code_replayed(grant)
            return False
        request.scopes = grant.scope.split()
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        request.claims = {}
        request.tessera_grant = grant
        return True

    def _grant_for(self, code: str, request) -> Grant | None:
        """The code's grant row, read once per token request (oauthlib asks for it up to
        five times: scopes, validation, PKCE challenge and method, nonce)."""
        cached = getattr(request, "_tessera_grant_row", None)
        if cached is not None and cached[0] == code:
            return cached[1]
        grant = Grant.objects.filter(code=code).select_related("user").first() if isinstance(code, str) else None
        request._tessera_grant_row = (code, grant)
        return grant

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request) -> list[str]:
        grant = self._grant_for(code, request)
        return grant.scope.split() if grant is not None else []

    def get_code_challenge(self, code, request) -> str | None:
        grant = getattr(request, "tessera_grant", None)
        return (grant.code_challenge or None) if grant is not None else None

    def get_code_challenge_method(self, code, request) -> str | None:
        grant = getattr(request, "tessera_grant", None)
        return (grant.code_challenge_method or None) if grant is not None else None

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request) -> str | None:
        grant = getattr(request, "tessera_grant", None)
        return (grant.nonce or None) if grant is not None else None

    def _code_replayed(self, grant: Grant) -> None:
        """RFC 6749 §4.1.2: a code presented twice revokes every token issued from it.

        The flag covers the race where the first exchange has not saved its tokens yet:
        save_bearer_token re-checks it under a row lock and refuses to commit them.
        """
        log.warning("authorization code replayed; revoking its tokens (grant %s)", grant.pk)
        with transaction.atomic():
            Grant.objects.filter(pk=grant.pk).update(replayed_at=timezone.now())
            revoke_token_family(grant.family, reason="code_replayed", client=grant.application)

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        # Already claimed in validate_code, before any token existed; nothing to do.
        return None

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request=None, *args, **kwargs) -> bool:
        # RFC 6749 §4.1.3: identical to the redirect_uri of the authorization request.
        grant = getattr(request, "tessera_grant", None)
        if grant is None:
            grant = Grant.objects.filter(code=code, application=client).first()
        if grant is None:
            return False
        if getattr(request, "using_default_redirect_uri", False) and grant.redirect_uri_provided:
            raise errors.InvalidRequestError(
                description="redirect_uri is required: the authorization request had one.", request=request)
        if grant.redirect_uri != redirect_uri:
            # RFC 6749 §5.2: a redirect_uri that does not match the authorization request's.
            raise errors.InvalidGrantError(description="redirect_uri does not match.", request=request)
        return True

    # --- tokens --------------------------------------------------------------------------

    def save_bearer_token(self, token, request, *args, **kwargs):
        client = request.client
        if "refresh_token" in token and GrantType.REFRESH_TOKEN not in client.grant_types:
            del token["refresh_token"]
        if request.grant_type == "client_credentials" and client.access_token_format == AccessTokenFormat.JWT:
            # Stateless by design (docs/decisions.md 13): a self-contained, short-lived JWT
            # with no refresh token and no user needs no token row; resource servers validate
            # it locally. Its issue is still audited: through the audit spool when one is
            # configured (durable, batched: decision 25), else synchronously (decision 21).
            self._audit_issue(token, request, spool=True)
            return None
        grant = getattr(request, "tessera_grant", None)
        # No savepoint: the token request is one transaction (TenantMiddleware), and an error
        # here must roll all of it back, not just this block.
        with transaction.atomic(savepoint=False):
            saved = self._save_bearer_token(token, request, *args, **kwargs)
            if grant is not None and Grant.objects.select_for_update().filter(
                pk=grant.pk, replayed_at__isnull=False
            ).exists():
                raise errors.InvalidGrantError(description="The authorization code was used twice.",
                                               request=request)
            self._audit_issue(token, request)
            return saved

    def _audit_issue(self, token, request, *, spool: bool = False) -> None:
        """token.issued / token.refreshed, in the transaction that saved the tokens (or, for a
        stateless grant, through the audit spool)."""
        client, user = request.client, request.user
        family = self._family_and_authn(request, getattr(request, "refresh_token_instance", None))["family"]
        audit.record(
            audit.Action.TOKEN_REFRESHED if request.grant_type == "refresh_token" else audit.Action.TOKEN_ISSUED,
            actor=audit.client_actor(client),
            subject=user.username if user is not None else "",
            target=("user", user.uid) if user is not None else ("client", client.client_id),
            details={
                "grant_type": request.grant_type, "scope": token.get("scope", ""),
                "format": client.access_token_format, "refresh": "refresh_token" in token,
                "oidc": "id_token" in token, "family": str(family) if family else None,
                "expires_in": token.get("expires_in"),
            },
            spool=spool,
        )

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        """RFC 7009 revocation (DOT's, scoped to the calling client), audited when it revoked something."""
        checksum = sha256_hex(token)
        found = [
            (kind, pk)
            for kind, model in (("access_token", AccessToken), ("refresh_token", RefreshToken))
            for pk in model.objects.filter(token_checksum=checksum, application=request.client)
            .values_list("pk", flat=True)[:1]
        ] if getattr(request.client, "pk", None) else []
        with transaction.atomic():
            super().revoke_token(token, token_type_hint, request, *args, **kwargs)
            if found:
                audit.record(audit.Action.TOKEN_REVOKED, actor=audit.client_actor(request.client),
                             target=found[0], details={"reason": "client_request", "hint": token_type_hint})

    def _family_and_authn(self, request, source_refresh_token=None) -> dict:
        grant = getattr(request, "tessera_grant", None)
        if source_refresh_token is not None:
            return {"family": source_refresh_token.token_family, "sid": source_refresh_token.sid}
        if grant is not None:
            return {"family": grant.family, "sid": grant.sid}
        return {"family": None, "sid": ""}

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []) or [],
            **self._family_and_authn(request, source_refresh_token),
        )
        self._set_token_value(access_token, token["access_token"])
        access_token.save()
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        grant = getattr(request, "tessera_grant", None)
        source = previous_refresh_token or grant
        refresh_token = RefreshToken(
            user=request.user,
            application=request.client,
            access_token=access_token,
            token_family=(
                previous_refresh_token.token_family if previous_refresh_token
                else (grant.family if grant else uuid.uuid4())
            ),
            resource=getattr(request, "resource", []) or [],
            sid=source.sid if source else "",
            auth_time=source.auth_time if source else None,
            amr=list(source.amr) if source else [],
            acr=source.acr if source else "",
        )
        self._set_token_value(refresh_token, refresh_token_code)
        refresh_token.save()
        return refresh_token

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        """One query (token, its access token and user). A used or revoked refresh token
        revokes its whole family (RFC 9700 §4.14.2), whichever client presents it."""
        rt = (
            RefreshToken.objects.filter(token_checksum=sha256_hex(refresh_token))
            .select_related("access_token", "user")
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
        if rt is None:
            return False
        if rt.revoked is not None:
            log.warning("refresh token reused; revoking its family (refresh token %s)", rt.pk)
            revoke_token_family(rt.token_family, reason="refresh_token_reused", client=client)
            return False
        if rt.application_id != client.pk or rt.access_token is None or not rt.user.is_active:
            return False
        expire_delta = refresh_token_expire_timedelta()
        if expire_delta and rt.access_token.expires + expire_delta <= timezone.now():
            return False
        request.user = rt.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = rt
        return True

    def _save_bearer_token(self, token, request, *args, **kwargs):
        if request.grant_type != "refresh_token":
            return super()._save_bearer_token(token, request, *args, **kwargs)
        return self._rotate_refresh_token(token, request)

    def _rotate_refresh_token(self, token, request) -> None:
        """Rotation in four statements inside save_bearer_token's transaction.

        The conditional UPDATE claims the presented token: of two concurrent refreshes
        exactly one wins; the loser sees a used token, which is reuse, and revokes the family.
        """
        if "scope" not in token:
            raise errors.FatalClientError("Failed to renew access token: missing scope")
        self._check_and_set_request_resource(request)
        old = request.refresh_token_instance
        now = timezone.now()
        claimed = RefreshToken.objects.filter(pk=old.pk, revoked__isnull=True).update(
            revoked=now, updated=now, access_token=None)
        if not claimed:
            revoke_token_family(old.token_family, reason="refresh_token_reused", client=request.client)
            raise errors.InvalidGrantError(description="The refresh token was already used.", request=request)
        if old.access_token_id:
            # The only row pointing at it (old.access_token) was cleared just above.
            AccessToken.objects.filter(pk=old.access_token_id)._raw_delete(AccessToken.objects.db)
        expires = now + timedelta(seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS))
        access_token = self._create_access_token(expires, request, token, source_refresh_token=old)
        if "refresh_token" in token:
            self._create_refresh_token(request, token["refresh_token"], access_token, old)

    # --- ID tokens -----------------------------------------------------------------------

    def get_oidc_issuer_endpoint(self, request) -> str:
        return current_issuer()

    def get_claim_dict(self, request) -> dict:
        user = request.user
        claims = {"sub": str(user.uid)}
        claims.update(self.get_additional_claims(request))
        return claims

    def get_additional_claims(self, request) -> dict:
        user = request.user
        return {
            "name": user.get_full_name() or user.get_username(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "preferred_username": user.get_username(),
            "updated_at": _epoch(user.date_joined),
            "email": user.email,
            "email_verified": user.email_verified,
        }

    def _authn_context(self, request) -> dict:
        """auth_time, sid, amr, acr from the code's grant or the refresh token's chain."""
        source = getattr(request, "tessera_grant", None) or getattr(request, "refresh_token_instance", None)
        if source is None:
            return {}
        context = {"auth_time": _epoch(source.auth_time), "sid": source.sid,
                   "amr": list(source.amr), "acr": source.acr}
        return {k: v for k, v in context.items() if v not in (None, "", [])}

    def get_id_token_dictionary(self, token, token_handler, request):
        claims = self.get_oidc_claims(token, token_handler, request)
        expiration_time = timezone.now() + timedelta(seconds=oauth2_settings.ID_TOKEN_EXPIRE_SECONDS)
        claims.update(self._authn_context(request))
        claims.update({
            "iss": self.get_oidc_issuer_endpoint(request),
            "exp": int(expiration_time.timestamp()),
            "iat": int(time.time()),
            "jti": str(uuid.uuid4()),
        })
        claims.setdefault("auth_time", _epoch(request.user.last_login) or int(time.time()))
        return claims, expiration_time

    def finalize_id_token(self, id_token, token, token_handler, request) -> str:
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        # ID tokens are not stored (docs/decisions.md): nothing looks them up by jti (an
        # id_token_hint is verified by signature), and a row would cost a commit per grant.
        return keys.sign_jwt(id_token, request.client.algorithm)

    def _save_id_token(self, jti, request, expires, *args, **kwargs):  # pragma: no cover - unused
        raise NotImplementedError("ID tokens are not persisted")

    def _get_key_for_token(self, token):
        # Our own ID tokens (id_token_hint): any key this tenant publishes, chosen by kid.
        return keys.jwk_set()

    # The authorization view decides login_required / consent_required with the session in
    # hand (idp.views.authorize); oauthlib's request has no session to look at.
    def validate_silent_login(self, request) -> bool:
        return True

    def validate_silent_authorization(self, request) -> bool:
        return True

    def validate_user_match(self, id_token_hint, scopes, claims, request) -> bool:
        return True
