"""Per-tenant signing keys: creation on first use, the JWKS, and signing with the active key."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

from django.db import IntegrityError, transaction
from django.utils import timezone
from jwcrypto import jwk, jws

from idp.crypto import decrypt_private_key, encrypt_private_key
from idp.models import SigningAlgorithm, SigningKey
from tenants.context import require_tenant

_PRIVATE_CACHE_SIZE = 256
_private_cache: "OrderedDict[tuple[int, str], jwk.JWK]" = OrderedDict()
_cache_lock = threading.Lock()


def _generate(alg: str) -> jwk.JWK:
    if alg == SigningAlgorithm.RS256:
        return jwk.JWK.generate(kty="RSA", size=2048)
    if alg == SigningAlgorithm.ES256:
        return jwk.JWK.generate(kty="EC", crv="P-256")
    raise ValueError(f"Unsupported signing algorithm {alg!r}")


def _aad(tenant_id: int, kid: str) -> bytes:
    return f"tessera:{tenant_id}:{kid}".encode()


def create_signing_key(alg: str, state: str = SigningKey.State.NEXT) -> SigningKey:
    """Generate a key pair for the current tenant; the private half is stored encrypted."""
    tenant = require_tenant()
    key = _generate(alg)
    kid = key.thumbprint()  # RFC 7638, SHA-256
    public = json.loads(key.export_public())
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    pem = key.export_to_pem(private_key=True, password=None)
    now = timezone.now()
    return SigningKey.objects.create(
        tenant=tenant, kid=kid, alg=alg, state=state, public_jwk=public,
        encrypted_private_key=encrypt_private_key(pem, associated_data=_aad(tenant.pk, kid)),
        activated_at=now if state == SigningKey.State.ACTIVE else None,
    )


def active_key(alg: str) -> SigningKey:
    """The current tenant's active key for ``alg``, created on first use."""
    key = SigningKey.objects.active_for(alg)
    if key is not None:
        return key
    try:
        with transaction.atomic():
            return create_signing_key(alg, state=SigningKey.State.ACTIVE)
    except IntegrityError:
        # Another worker created it first (one active key per alg is a constraint).
        key = SigningKey.objects.active_for(alg)
        if key is None:
            raise
        return key


def private_jwk(key: SigningKey) -> jwk.JWK:
    """The decrypted private key, parsed once per process (keys are immutable once made)."""
    cache_key = (key.tenant_id, key.kid)
    with _cache_lock:
        cached = _private_cache.get(cache_key)
        if cached is not None:
            _private_cache.move_to_end(cache_key)
            return cached
    pem = decrypt_private_key(bytes(key.encrypted_private_key), associated_data=_aad(key.tenant_id, key.kid))
    parsed = jwk.JWK.from_pem(pem)
    with _cache_lock:
        _private_cache[cache_key] = parsed
        while len(_private_cache) > _PRIVATE_CACHE_SIZE:
            _private_cache.popitem(last=False)
    return parsed


def ensure_keys() -> None:
    """Make sure the current tenant has an active key for every configured algorithm."""
    from tenants.conf import tessera_settings

    for alg in tessera_settings.SIGNING_ALGORITHMS:
        active_key(alg)


def jwks() -> dict:
    """The current tenant's public JSON Web Key Set."""
    ensure_keys()
    return {"keys": [k.public_jwk for k in SigningKey.objects.published().order_by("alg", "created")]}


def jwk_set() -> jwk.JWKSet:
    """The published public keys as a jwcrypto JWKSet, for verifying our own tokens."""
    keyset = jwk.JWKSet()
    for key in SigningKey.objects.published():
        keyset.add(jwk.JWK(**key.public_jwk))
    return keyset


def sign_jwt(claims: dict, alg: str, *, typ: str = "JWT") -> str:
    """Compact JWS of ``claims`` with the tenant's active ``alg`` key; kid always set."""
    key = active_key(alg)
    token = jws.JWS(json.dumps(claims, separators=(",", ":")).encode())
    token.add_signature(
        private_jwk(key), alg=alg, protected=json.dumps({"alg": alg, "kid": key.kid, "typ": typ})
    )
    return token.serialize(compact=True)
