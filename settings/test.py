"""Test overlay: fast password hasher, fixed keys, an in-memory cache.

DATABASE_URL picks the database: tests/conftest.py points it at a throwaway PostgreSQL
cluster when PostgreSQL binaries are present (see tests/postgres.py).
"""

from __future__ import annotations

from settings.base import *  # noqa: F401,F403
from settings.base import PASSWORD_HASHERS, TESSERA
from settings.env import env_str

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production-" + "x" * 40
ALLOWED_HOSTS = ["*"]
# Fast hasher everywhere except the tests about hashing, which ask for Argon2id explicitly.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
TESSERA = {
    **TESSERA,
    # Left empty so the issuer follows the live server's address (see tenants.context).
    "PUBLIC_URL": env_str("TESSERA_PUBLIC_URL").rstrip("/"),
    "KEY_ENCRYPTION_KEY": "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Static files straight from the source tree (production serves collectstatic output).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
