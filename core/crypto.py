"""The key-encryption key (KEK) and the sub-keys derived from it.

The KEK is 32 random bytes from TESSERA_KEY_ENCRYPTION_KEY, urlsafe base64. Each purpose
(wrapping signing keys, keying client-secret digests, keying the audit chain) gets its own
sub-key, derived with HKDF-SHA256, so one secret never serves two purposes. The database
never holds the KEK or a sub-key: that is what makes a keyed digest or link worth having.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured

from core.conf import tessera_settings

GENERATE_HINT = "Run `python manage.py generate_secrets` for a good value."
# 32 bytes are 43 base64url characters, optionally padded with one "=".
_KEK_TEXT = re.compile(r"[A-Za-z0-9_-]{43}=?")


def decode_kek(raw: object) -> bytes:
    """The 32 key bytes of ``raw``; ValueError unless it is exactly one canonical base64url
    encoding of 32 bytes (no junk around it: ``urlsafe_b64decode`` alone skips junk)."""
    if not isinstance(raw, str) or not _KEK_TEXT.fullmatch(raw):
        raise ValueError("TESSERA_KEY_ENCRYPTION_KEY must be 32 bytes, urlsafe base64 (44 characters).")
    try:
        key = base64.urlsafe_b64decode(raw.rstrip("=") + "=")
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the pattern admits only valid text
        raise ValueError("TESSERA_KEY_ENCRYPTION_KEY is not valid base64.") from exc
    if base64.urlsafe_b64encode(key).decode().rstrip("=") != raw.rstrip("="):
        raise ValueError("TESSERA_KEY_ENCRYPTION_KEY is not a canonical base64 encoding.")
    return key


def kek_weakness(key: bytes) -> str | None:
    """Why ``key`` cannot be a random key (None if it could be).

    A random 32-byte key has about 30 distinct byte values and is all printable ASCII with
    a probability of about 1e-14: fewer than 16 distinct values (all zeros, a repeated
    pattern) or printable text (a typed passphrase) mean someone chose it by hand.
    """
    if len(set(key)) < 16:
        return "it repeats too few byte values to be random"
    if all(0x20 <= b < 0x7F for b in key):
        return "it is printable text, not random bytes"
    return None


def _kek() -> bytes:
    try:
        return _decoded(tessera_settings.KEY_ENCRYPTION_KEY)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{exc} {GENERATE_HINT}") from exc


@functools.lru_cache(maxsize=8)
def _decoded(raw: str) -> bytes:
    # Every client-secret check and every audit link asks: decode each setting value once.
    return decode_kek(raw)


@functools.lru_cache(maxsize=64)
def _derive(kek: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(kek)


def derived_key(info: bytes) -> bytes:
    """The 32-byte sub-key for one purpose (``info`` names it, e.g. b"tessera/audit-chain/v1")."""
    return _derive(_kek(), info)


def seal(plaintext: bytes, *, purpose: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM under the KEK sub-key for ``purpose``: nonce || ciphertext+tag. The AAD
    binds the blob to where it belongs (tenant, row), so a blob copied elsewhere fails."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(derived_key(purpose)).encrypt(nonce, plaintext, associated_data)


def unseal(blob: bytes, *, purpose: bytes, associated_data: bytes) -> bytes:
    """Inverse of seal; raises cryptography's InvalidTag when tampered with or misbound."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = bytes(blob)
    return AESGCM(derived_key(purpose)).decrypt(blob[:12], blob[12:], associated_data)
