"""Signing keys at rest and client-secret digests, each under its own KEK-derived sub-key."""

from __future__ import annotations

import hashlib
import hmac

from core.crypto import data_key, seal, unseal

_WRAP_INFO = b"tessera/signing-key-wrap/v1"
_CLIENT_SECRET_INFO = b"tessera/client-secret-digest/v1"
CLIENT_SECRET_PREFIX = "hmac-sha256$"  # noqa: S105 (the stored digest's scheme tag, not a secret)


def encrypt_private_key(plaintext: bytes, *, associated_data: bytes) -> bytes:
    """AES-256-GCM under the KEK-derived wrap key; the AAD binds the blob to its tenant and kid."""
    return seal(plaintext, purpose=_WRAP_INFO, associated_data=associated_data)


def decrypt_private_key(blob: bytes, *, associated_data: bytes) -> bytes:
    """Inverse of encrypt_private_key; raises cryptography's InvalidTag when tampered or misbound."""
    return unseal(blob, purpose=_WRAP_INFO, associated_data=associated_data)


def client_secret_digest(secret: str) -> str:
    """Fast keyed digest of a machine-generated client secret (HMAC-SHA256 under a KEK sub-key).

    A slow KDF buys nothing for a random 256-bit secret; the key means a leaked table
    cannot even be used to test guesses offline.
    """
    mac = hmac.new(data_key(_CLIENT_SECRET_INFO), secret.encode("utf-8"), hashlib.sha256)
    return CLIENT_SECRET_PREFIX + mac.hexdigest()


def verify_client_secret(provided: str, stored: str) -> bool:
    """Constant-time check of a presented secret against its stored digest."""
    if not provided or not stored or not stored.startswith(CLIENT_SECRET_PREFIX):
        return False
    return hmac.compare_digest(client_secret_digest(provided), stored)
