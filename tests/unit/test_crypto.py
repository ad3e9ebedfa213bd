"""core.crypto and idp.crypto: the KEK decoded strictly, private keys at rest (AES-GCM under a
KEK sub-key) and keyed client-secret digests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string

import pytest
from cryptography.exceptions import InvalidTag
from django.core.exceptions import ImproperlyConfigured

from core.conf import tessera_settings
from core.crypto import data_key, decode_kek, derived_key, kek_weakness
from idp import crypto
from idp.crypto import (
    client_secret_digest,
    decrypt_private_key,
    encrypt_private_key,
    verify_client_secret,
)

PLAINTEXT = b"-----BEGIN PRIVATE KEY-----\nnot really a key\n-----END PRIVATE KEY-----\n"
AAD = b"tessera:1:kid-abc"
OTHER_KEK = base64.urlsafe_b64encode(bytes(range(32))).decode()


def test_round_trip():
    blob = encrypt_private_key(PLAINTEXT, associated_data=AAD)
    assert decrypt_private_key(blob, associated_data=AAD) == PLAINTEXT
    assert PLAINTEXT not in blob and b"not really a key" not in blob
    assert len(blob) == 12 + len(PLAINTEXT) + 16  # nonce, ciphertext, GCM tag
    # A fresh nonce each time: the same key encrypts to different blobs.
    assert encrypt_private_key(PLAINTEXT, associated_data=AAD) != blob
    # memoryview/bytearray (what a BinaryField may hand back) decrypt too.
    assert decrypt_private_key(memoryview(blob), associated_data=AAD) == PLAINTEXT


@pytest.mark.parametrize("index", [0, 11, 12, 20, -17, -1])  # nonce, ciphertext, tag
def test_tampered_blob_raises(index):
    blob = bytearray(encrypt_private_key(PLAINTEXT, associated_data=AAD))
    blob[index] ^= 0x01
    with pytest.raises(InvalidTag):
        decrypt_private_key(bytes(blob), associated_data=AAD)


def test_truncated_blob_raises():
    blob = encrypt_private_key(PLAINTEXT, associated_data=AAD)
    with pytest.raises(InvalidTag):
        decrypt_private_key(blob[:-1], associated_data=AAD)


@pytest.mark.parametrize("aad", [b"tessera:2:kid-abc", b"tessera:1:kid-abd", b""])
def test_wrong_associated_data_raises(aad):
    blob = encrypt_private_key(PLAINTEXT, associated_data=AAD)
    with pytest.raises(InvalidTag):
        decrypt_private_key(blob, associated_data=aad)


def test_another_kek_cannot_decrypt(settings):
    blob = encrypt_private_key(PLAINTEXT, associated_data=AAD)
    settings.TESSERA = {**settings.TESSERA, "KEY_ENCRYPTION_KEY": OTHER_KEK}
    with pytest.raises(InvalidTag):
        decrypt_private_key(blob, associated_data=AAD)


GOOD_KEK = base64.urlsafe_b64encode(bytes(range(100, 132))).decode()


@pytest.mark.parametrize("kek", [
    "", "c2hvcnQ=", base64.urlsafe_b64encode(b"x" * 33).decode(), "not base64!",
    # urlsafe_b64decode alone skips characters outside the alphabet: junk around a good key
    # decoded to 32 bytes and was accepted.
    "!!" + GOOD_KEK, GOOD_KEK + "junk", " " + GOOD_KEK, GOOD_KEK.replace("=", "") + "==",
    base64.b64encode(bytes(range(100, 132))).decode().replace("-", "+") + "\n",
])
def test_bad_kek_is_refused(settings, kek):
    settings.TESSERA = {**settings.TESSERA, "KEY_ENCRYPTION_KEY": kek}
    with pytest.raises(ImproperlyConfigured, match="TESSERA_KEY_ENCRYPTION_KEY"):
        encrypt_private_key(PLAINTEXT, associated_data=AAD)
    with pytest.raises(ImproperlyConfigured):
        client_secret_digest("secret")


def test_kek_decoding_is_strict_and_canonical():
    assert decode_kek(GOOD_KEK) == bytes(range(100, 132))
    assert decode_kek(GOOD_KEK.rstrip("=")) == bytes(range(100, 132))  # unpadded is the same text
    # The 43rd character carries two unused bits: flipping one gives a second text that
    # base64 decodes to the same bytes. Only the canonical one is a key.
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    twin = GOOD_KEK[:42] + alphabet[alphabet.index(GOOD_KEK[42]) ^ 1] + "="
    assert base64.urlsafe_b64decode(twin) == bytes(range(100, 132))
    with pytest.raises(ValueError, match="canonical"):
        decode_kek(twin)


def test_trivial_keys_are_named():
    assert kek_weakness(bytes(32)) and "repeats" in kek_weakness(bytes(32))
    assert kek_weakness(b"ab" * 16)
    assert kek_weakness(b"test-key-encryption-key-32-bytes")
    assert "printable" in kek_weakness(b"Tr0ub4dor&3-correct-HORSE-battry!"[:32])
    assert kek_weakness(bytes(range(100, 132))) is None
    import secrets

    assert all(kek_weakness(secrets.token_bytes(32)) is None for _ in range(200))


def test_purposes_use_different_subkeys():
    assert derived_key(crypto._WRAP_INFO) != derived_key(crypto._CLIENT_SECRET_INFO)
    kek = base64.urlsafe_b64decode(tessera_settings.KEY_ENCRYPTION_KEY)
    assert kek not in (derived_key(crypto._WRAP_INFO), derived_key(crypto._CLIENT_SECRET_INFO))


def test_client_secret_digest_shape_and_keying(db):
    secret = "Zx3" * 15
    digest = client_secret_digest(secret)
    assert re.fullmatch(r"hmac-sha256\$[0-9a-f]{64}", digest)
    assert client_secret_digest(secret) == digest  # deterministic, so it can be looked up
    assert client_secret_digest(secret + "x") != digest
    # Keyed: not a plain hash of the secret, nor an HMAC under the raw KEK, but under the
    # client-secret data key (core.crypto), itself sealed under the KEK.
    assert digest != "hmac-sha256$" + hashlib.sha256(secret.encode()).hexdigest()
    raw_kek = base64.urlsafe_b64decode(tessera_settings.KEY_ENCRYPTION_KEY)
    assert digest != "hmac-sha256$" + hmac.new(raw_kek, secret.encode(), hashlib.sha256).hexdigest()
    key = data_key(crypto._CLIENT_SECRET_INFO)
    assert key not in (raw_kek, data_key(b"tessera/audit-chain/v1"))
    assert digest == "hmac-sha256$" + hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def test_verify_client_secret(db):
    secret = "s3cret-" * 7
    stored = client_secret_digest(secret)
    assert verify_client_secret(secret, stored)
    assert not verify_client_secret(secret + "x", stored)
    assert not verify_client_secret(secret.upper(), stored)
    assert not verify_client_secret("", stored)
    assert not verify_client_secret(None, stored)  # type: ignore[arg-type]
    assert not verify_client_secret(secret, "")
    assert not verify_client_secret(secret, None)  # type: ignore[arg-type]
    # A secret stored in plain text, or as its unkeyed digest, never verifies.
    assert not verify_client_secret(secret, secret)
    assert not verify_client_secret(stored, stored)
    assert not verify_client_secret(secret, stored.removeprefix("hmac-sha256$"))
    assert not verify_client_secret(secret, "hmac-sha256$" + hashlib.sha256(secret.encode()).hexdigest())


def test_a_kek_that_never_sealed_the_data_keys_cannot_verify(db, settings):
    """A digest's data key is sealed under the KEK: under a KEK that did not seal it (a wrong
    setting, a rotation whose previous KEK was dropped too early) verification fails loudly."""
    stored = client_secret_digest("the-secret")
    assert verify_client_secret("the-secret", stored)
    settings.TESSERA = {**settings.TESSERA, "KEY_ENCRYPTION_KEY": OTHER_KEK}
    with pytest.raises(InvalidTag):
        verify_client_secret("the-secret", stored)
