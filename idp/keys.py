"""Per-tenant signing keys: creation on first use, the JWKS, and signing with the active key.

Signing is on every ID token and JWT access token, so the hot path is kept short: the
active key row is cached per process (tenants.lookup_cache; rotation publishes the next
key before it signs, so a few seconds of staleness never yields an unverifiable token),
the decrypted private key is parsed once per process, and the compact JWS is assembled
directly with ``cryptography`` (jwcrypto's JWS object deep-copies its headers per token).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.db import IntegrityError, transaction
from django.utils import timezone
from jwcrypto import jwk

import audit
from idp.crypto import decrypt_private_key, encrypt_private_key
from idp.models import SigningAlgorithm, SigningKey
from tenants.context import require_tenant
from tenants.lookup_cache import LookupCache

_PRIVATE_CACHE_SIZE = 256
_private_cache: "OrderedDict[tuple[int, str], object]" = OrderedDict()
_cache_lock = threading.Lock()
active_keys = LookupCache(max_entries=2048)
published_keys = LookupCache(max_entries=1024)


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
    signing_key = SigningKey.objects.create(
        tenant=tenant, kid=kid, alg=alg, state=state, public_jwk=public,
        encrypted_private_key=encrypt_private_key(pem, associated_data=_aad(tenant.pk, kid)),
        activated_at=now if state == SigningKey.State.ACTIVE else None,
    )
    audit.record(audit.Action.KEY_CREATED, actor=audit.system_actor("tessera"),
                 target=("signing_key", kid), details={"alg": alg, "state": state})
    return signing_key


def active_key(alg: str) -> SigningKey:
    """The current tenant's active key for ``alg``, created on first use."""
    tenant = require_tenant()
    key = active_keys.get_or_load((tenant.pk, alg), lambda: SigningKey.objects.active_for(alg))
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


def ensure_keys() -> None:
    """Make sure the current tenant has an active key for every configured algorithm."""
    from tenants.conf import tessera_settings

    for alg in tessera_settings.SIGNING_ALGORITHMS:
        active_key(alg)


def jwks() -> dict:
    """The current tenant's public JSON Web Key Set."""
    ensure_keys()
    return {"keys": _published()}


def _published() -> list[dict]:
    tenant = require_tenant()
    return published_keys.get_or_load(
        tenant.pk,
        lambda: [k.public_jwk for k in SigningKey.objects.published().order_by("alg", "created")] or None,
    ) or []


def jwk_set() -> jwk.JWKSet:
    """The published public keys as a jwcrypto JWKSet, for verifying our own tokens."""
    keyset = jwk.JWKSet()
    for public in _published():
        keyset.add(jwk.JWK(**public))
    return keyset


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_jwt(claims: dict, alg: str, *, typ: str = "JWT") -> str:
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
