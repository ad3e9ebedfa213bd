"""A model field that stores only the SHA-256 digest of a bearer secret (authorization codes)."""

from __future__ import annotations

import hashlib

from django.db import models


class StoredDigest(str):
    """A value read back from the database: already a digest, never hashed again."""


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class DigestField(models.CharField):
    """Stores sha256(value); lookups hash their argument, so ``filter(code=raw)`` just works.

    Values loaded from the database are ``StoredDigest`` and pass through unchanged, so a
    row can be re-saved without hashing its digest a second time. A plain string is always
    hashed, so presenting a stolen digest as a code matches nothing.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return None if value is None else StoredDigest(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "" or isinstance(value, StoredDigest):
            return value
        return sha256_hex(value)
