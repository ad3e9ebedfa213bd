"""Key-encryption key (KEK) handling: private keys at rest, keyed digests of client secrets.

The KEK is 32 random bytes from TESSERA_KEY_ENCRYPTION_KEY (urlsafe base64). Sub-keys for
each purpose are derived with HKDF-SHA256, so one secret never serves two purposes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured

from tenants.conf import tessera_settings

_WRAP_INFO = b"tessera/signing-key-wrap/v1"
_CLIENT_SECRET_INFO = b"tessera/client-secret-digest/v1"
CLIENT_SECRET_PREFIX = "hmac-sha256$"


def _kek() -> bytes:
    raw = tessera_settings.KEY_ENCRYPTION_KEY
    try:
        key = base64.urlsafe_b64decode(raw.encode())
    except (binascii.Error, ValueError, AttributeError):
        key = b""
    if len(key) != 32:
        raise ImproperlyConfigured(
            "TESSERA_KEY_ENCRYPTION_KEY must be 32 bytes, urlsafe base64. "
            "Run `python manage.py generate_secrets`."
        )
    return key


@functools.lru_cache(maxsize=8)
def _derive(kek: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(kek)


def derived_key(info: bytes) -> bytes:
    """The sub-key for one purpose."""
    return _derive(_kek(), info)


def encrypt_private_key(plaintext: bytes, *, associated_data: bytes) -> bytes:
    """AES-256-GCM under the KEK-derived wrap key; the AAD binds the blob to its tenant and kid."""
    nonce = os.urandom(12)
    return nonce + AESGCM(derived_key(_WRAP_INFO)).encrypt(nonce, plaintext, associated_data)


def decrypt_private_key(blob: bytes, *, associated_data: bytes) -> bytes:
    """Inverse of encrypt_private_key; raises cryptography's InvalidTag when tampered or misbound."""
    return AESGCM(derived_key(_WRAP_INFO)).decrypt(bytes(blob[:12]), bytes(blob[12:]), associated_data)


def client_secret_digest(secret: str) -> str:
    """Fast keyed digest of a machine-generated client secret (HMAC-SHA256 under a KEK sub-key).

    A slow KDF buys nothing for a random 256-bit secret; the key means a leaked table
    cannot even be used to test guesses offline.
    """
    mac = hmac.new(derived_key(_CLIENT_SECRET_INFO), secret.encode("utf-8"), hashlib.sha256)
    return CLIENT_SECRET_PREFIX + mac.hexdigest()


def verify_client_secret(provided: str, stored: str) -> bool:
    """Constant-time check of a presented secret against its stored digest."""
    if not provided or not stored or not stored.startswith(CLIENT_SECRET_PREFIX):
        return False
    return hmac.compare_digest(client_secret_digest(provided), stored)
