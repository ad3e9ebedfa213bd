"""The key-encryption key (KEK), the sub-keys derived from it, and the data keys it wraps.

The KEK is 32 random bytes from TESSERA_KEY_ENCRYPTION_KEY, urlsafe base64. Each purpose gets
its own key, so one secret never serves two purposes:

- Sealing (signing keys' private halves, TOTP seeds): AES-256-GCM under a sub-key derived
  from the KEK with HKDF-SHA256 (``seal``/``unseal``). These blobs are re-sealed when the
  KEK changes (``manage.py rotate_kek``).
- Keyed digests (client-secret digests, recovery codes, the audit chain's links): HMAC under
  a *data key* (``data_key``) stored in ``core_datakey`` sealed under the KEK. A digest cannot
  be recomputed without what it digests, so these keys must outlive any one KEK: a KEK
  rotation re-seals the data keys, and every digest and audit link made before it still
  verifies. A deployment's data keys were first derived from its KEK (migration
  core.0001), so digests made before data keys existed verify too.

KEK rotation: the new KEK becomes TESSERA_KEY_ENCRYPTION_KEY, the old one moves to
TESSERA_PREVIOUS_KEY_ENCRYPTION_KEYS; ``unseal`` accepts either while ``rotate_kek`` re-seals
everything under the new one, after which the old one can go. The database never holds the
KEK or a plaintext key: that is what makes a keyed digest or link worth having.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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


def _previous_keks() -> list[bytes]:
    previous = tessera_settings.PREVIOUS_KEY_ENCRYPTION_KEYS
    try:
        return [_decoded(raw) for raw in previous]
    except ValueError as exc:
        raise ImproperlyConfigured(f"TESSERA_PREVIOUS_KEY_ENCRYPTION_KEYS: {exc}") from exc


@functools.lru_cache(maxsize=8)
def _decoded(raw: str) -> bytes:
    # Every client-secret check and every audit link asks: decode each setting value once.
    return decode_kek(raw)


@functools.lru_cache(maxsize=64)
def _derive(kek: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(kek)


def derived_key(info: bytes, kek: bytes | None = None) -> bytes:
    """The 32-byte sub-key of the KEK (the current one unless given) for one purpose."""
    return _derive(kek if kek is not None else _kek(), info)


def seal(plaintext: bytes, *, purpose: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM under the current KEK's sub-key for ``purpose``: nonce || ciphertext+tag.
    The AAD binds the blob to where it belongs (tenant, row), so a blob copied elsewhere fails."""
    nonce = os.urandom(12)
    return nonce + AESGCM(derived_key(purpose)).encrypt(nonce, plaintext, associated_data)


def _open(blob: bytes, kek: bytes, purpose: bytes, associated_data: bytes) -> bytes:
    return AESGCM(derived_key(purpose, kek)).decrypt(blob[:12], blob[12:], associated_data)


def unseal(blob: bytes, *, purpose: bytes, associated_data: bytes) -> bytes:
    """Inverse of seal, under the current KEK or a previous one (during a KEK rotation);
    raises cryptography's InvalidTag when tampered with, misbound, or sealed under no KEK
    this deployment knows."""
    blob = bytes(blob)
    try:
        return _open(blob, _kek(), purpose, associated_data)
    except InvalidTag:
        for kek in _previous_keks():
            try:
                return _open(blob, kek, purpose, associated_data)
            except InvalidTag:
                continue
        raise


def sealed_under_current_kek(blob: bytes, *, purpose: bytes, associated_data: bytes) -> bool:
    try:
        _open(bytes(blob), _kek(), purpose, associated_data)
    except InvalidTag:
        return False
    return True


def reseal(blob: bytes, *, purpose: bytes, associated_data: bytes) -> bytes | None:
    """``blob`` sealed anew under the current KEK; None when it already is."""
    if sealed_under_current_kek(blob, purpose=purpose, associated_data=associated_data):
        return None
    return seal(unseal(blob, purpose=purpose, associated_data=associated_data), purpose=purpose,
                associated_data=associated_data)


# Data keys (core.models.DataKey), by the KEK they were read under and their purpose. The
# plaintext of a data key never changes (a KEK rotation re-seals it), so the cache is never
# stale; keying by the KEK makes a changed TESSERA_KEY_ENCRYPTION_KEY read the row again.
_data_keys: dict[tuple[bytes, bytes], bytes] = {}
DATA_KEY_PURPOSE = b"tessera/data-key/v1"


def data_key(info: bytes) -> bytes:
    """The 32-byte data key for a keyed digest (``info`` names it, e.g. b"tessera/audit-chain/v1"),
    read once per process from ``core_datakey`` and unsealed under the KEK."""
    kek = _kek()
    cached = _data_keys.get((kek, info))
    if cached is not None:
        return cached
    from core.models import DataKey  # the model layer imports this module

    row = DataKey.objects.filter(purpose=info.decode()).first()
    if row is None:
        row = DataKey.create_for(info, derived_key(info, _first_kek_for_new_data_key()))
    key = unseal(row.sealed, purpose=DATA_KEY_PURPOSE, associated_data=info)
    _data_keys[(kek, info)] = key
    return key


def _first_kek_for_new_data_key() -> bytes:
    """A data key first used now is derived from the current KEK, as one made by the migration
    was: digests made before data keys existed verify. During a KEK rotation nothing can say
    which KEK such digests were made under, so a missing data key is refused then."""
    if _previous_keks():
        raise ImproperlyConfigured(
            "A data key is missing while a KEK rotation is under way (TESSERA_PREVIOUS_KEY_ENCRYPTION_KEYS "
            "is set): run `manage.py migrate` with the previous KEY_ENCRYPTION_KEY first.")
    return _kek()
