"""Per-tenant signing keys: provisioning, the JWKS, signing with the active key, and
verifying the JWTs this tenant signed.

Keys are created only by an explicit service (``provision_keys``: at tenant creation, by
``manage.py demo``, and later by rotation), never as a side effect of signing or of a
``GET /jwks.json``. Signing is on every ID token and JWT access token, so the hot path is
kept short: the active key row is cached per process (core.lookup_cache; rotation publishes
the next key before it signs, so a few seconds of staleness never yields an unverifiable
token), the decrypted private key is parsed once per process, and the compact JWS is
assembled directly with ``cryptography`` (jwcrypto's JWS object deep-copies its headers per
token). Every JWT Tessera signs carries a ``typ`` saying what it is (``JWT`` for ID tokens,
``at+jwt`` for access tokens, ``tessera-audit-checkpoint+jwt``), and verification insists
on the one expected, so no kind of token can stand in for another.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.db import IntegrityError, transaction
from django.utils import timezone
from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from core.actors import Actor
from core.lookup_cache import LookupCache
from idp import events
from idp.crypto import decrypt_private_key, encrypt_private_key
from idp.models import SigningAlgorithm, SigningKey
from tenants.context import current_issuer, require_tenant
from tenants.services import policy_for

_PRIVATE_CACHE_SIZE = 256
_private_cache: OrderedDict[tuple[int, str], object] = OrderedDict()
_cache_lock = threading.Lock()
active_keys = LookupCache(max_entries=2048)
published_keys = LookupCache(max_entries=1024)

ID_TOKEN_TYPE = "JWT"  # noqa: S105 (JOSE "typ" header values, not secrets)
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105


class NoSigningKey(LookupError):
    """The tenant has no active key for an algorithm (``provision_keys`` was never run)."""


class InvalidJWT(ValueError):
    """A JWT this tenant did not sign, or not of the kind expected."""


def _generate(alg: str) -> jwk.JWK:
    if alg == SigningAlgorithm.RS256:
        return jwk.JWK.generate(kty="RSA", size=2048)
    if alg == SigningAlgorithm.ES256:
        return jwk.JWK.generate(kty="EC", crv="P-256")
    raise ValueError(f"Unsupported signing algorithm {alg!r}")


def _aad(tenant_id: int, kid: str) -> bytes:
    return f"tessera:{tenant_id}:{kid}".encode()


def create_signing_key(alg: str, state: str = SigningKey.State.NEXT, *, actor: Actor | None = None) -> SigningKey:
    """Generate a key pair for the current tenant; the private half is stored encrypted."""
    tenant = require_tenant()
    key = _generate(alg)
    kid = key.thumbprint()  # RFC 7638, SHA-256
    public = json.loads(key.export_public())
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    pem = key.export_to_pem(private_key=True, password=None)
    now = timezone.now()
    signing_key = SigningKey.objects.create(
        tenant=tenant, kid=kid, alg=alg, state=state, public_jwk=public,
        encrypted_private_key=encrypt_private_key(pem, associated_data=_aad(tenant.pk, kid)),
        activated_at=now if state == SigningKey.State.ACTIVE else None,
    )
    events.signing_key_created(signing_key, actor=actor)
    return signing_key


def provision_keys(*, actor: Actor | None = None) -> list[SigningKey]:
    """Give the current tenant an active key for every configured algorithm it lacks one
    for (tenant creation; idempotent). Returns the keys created."""
    created = []
    for alg in policy_for(require_tenant()).signing_algorithms:
        if SigningKey.objects.active_for(alg) is not None:
            continue
        try:
            with transaction.atomic():
                created.append(create_signing_key(alg, state=SigningKey.State.ACTIVE, actor=actor))
        except IntegrityError:
            pass  # another process provisioned it first (one active key per alg is a constraint)
    return created


def active_key(alg: str) -> SigningKey:
    """The current tenant's active key for ``alg``; NoSigningKey when it has none."""
    tenant = require_tenant()
    key = active_keys.get_or_load((tenant.pk, alg), lambda: SigningKey.objects.active_for(alg))
    if key is None:
        raise NoSigningKey(f"tenant {tenant.slug!r} has no active {alg} signing key "
                           "(run `manage.py demo` or create the tenant with create_tenant)")
    return key


def private_key(key: SigningKey):
    """The decrypted private key (a cryptography key object), parsed once per process."""
    cache_key = (key.tenant_id, key.kid)
    with _cache_lock:
        cached = _private_cache.get(cache_key)
        if cached is not None:
            _private_cache.move_to_end(cache_key)
            return cached
    pem = decrypt_private_key(bytes(key.encrypted_private_key), associated_data=_aad(key.tenant_id, key.kid))
    parsed = serialization.load_pem_private_key(pem, password=None)
    with _cache_lock:
        _private_cache[cache_key] = parsed
        while len(_private_cache) > _PRIVATE_CACHE_SIZE:
            _private_cache.popitem(last=False)
    return parsed


def forget_private_key(key: SigningKey) -> None:
    """Drop this process's parsed copy of a key's private half (it was removed or revoked)."""
    with _cache_lock:
        _private_cache.pop((key.tenant_id, key.kid), None)


def jwks() -> dict[str, Any]:
    """The current tenant's public JSON Web Key Set (next, active and retired keys)."""
    return {"keys": _published()}


def _published() -> list[dict[str, Any]]:
    tenant = require_tenant()
    return published_keys.get_or_load(
        tenant.pk,
        lambda: [k.public_jwk for k in SigningKey.objects.published().order_by("alg", "created")] or None,
    ) or []


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_jwt(claims: dict[str, Any], alg: str, *, typ: str = ID_TOKEN_TYPE) -> str:
    """Compact JWS (RFC 7515) of ``claims`` with the tenant's active ``alg`` key; kid always set."""
    key = active_key(alg)
    signing_input = f"{_b64(_json({'alg': alg, 'kid': key.kid, 'typ': typ}))}.{_b64(_json(claims))}"
    secret = private_key(key)
    if alg == SigningAlgorithm.RS256:
        signature = secret.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    elif alg == SigningAlgorithm.ES256:
        r, s = decode_dss_signature(secret.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # RFC 7518 §3.4: R || S
    else:
        raise ValueError(f"Unsupported signing algorithm {alg!r}")
    return f"{signing_input}.{_b64(signature)}"


def verify_jwt(token: str, *, typ: str) -> dict[str, Any]:
    """The claims of a JWT of kind ``typ`` that this tenant signed with a published key, for
    this issuer. Expiry is the caller's business (an expired ID token is still a fine
    id_token_hint). Raises InvalidJWT."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16384:
        raise InvalidJWT("not a compact JWS")
    try:
        parsed = jws.JWS()
        parsed.deserialize(token)
        header = parsed.jose_header
        if header.get("typ") != typ or header.get("alg") not in SigningAlgorithm.values:
            raise InvalidJWT(f"not a {typ} of this issuer")
        public = next((k for k in _published() if k["kid"] == header.get("kid")), None)
        if public is None:
            raise InvalidJWT("signed by a key this issuer does not publish")
        parsed.verify(jwk.JWK(**public), alg=header["alg"])
        claims = json.loads(parsed.payload)
    except (JWException, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, InvalidJWT):
            raise
        raise InvalidJWT("the signature does not verify") from exc
    if not isinstance(claims, dict) or claims.get("iss") != current_issuer():
        raise InvalidJWT("issued by another issuer")
    return claims


def access_token_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT access token (RFC 9068) this tenant signed, or None (not one of ours,
    tampered, or its key unpublished). Expiry is the caller's business, as in ``verify_jwt``."""
    try:
        return verify_jwt(token, typ=ACCESS_TOKEN_TYPE)
    except InvalidJWT:
        return None


class CheckpointSigner:
    """audit.checkpoints' signer: the tenant's keys sign its audit checkpoints."""

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        for alg in dict.fromkeys([*policy_for(require_tenant()).signing_algorithms, *SigningAlgorithm.values]):
            try:
                return sign_jwt(claims, alg, typ=typ)
            except NoSigningKey:
                continue
        raise NoSigningKey("the tenant has no active signing key")

    def public_keys(self) -> list[dict[str, Any]]:
        # Every key the tenant had, published or not: a removed key's public half is kept so
        # the checkpoints it signed stay verifiable. Not a revoked one: whoever holds a
        # compromised key could sign anything with it.
        return [k.public_jwk for k in SigningKey.objects.exclude(state=SigningKey.State.REVOKED).order_by("created")]
