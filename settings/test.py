"""Test overlay: fast password hasher, fixed keys, PostgreSQL when it is installed.

Unless DATABASE_URL is given, the suite runs on a throwaway PostgreSQL cluster started here
(initdb + pg_ctl in a temporary directory, stopped at exit; devtools/pgcluster.py), because
production runs on PostgreSQL. Without PostgreSQL's binaries the suite falls back to SQLite,
except in CI (CI=true), where that is an error: PostgreSQL tests must fail, not skip.
"""

from __future__ import annotations

import atexit
import warnings

from django.core.exceptions import ImproperlyConfigured

from settings.base import *  # noqa: F401,F403
from settings.base import BASE_DIR, PASSWORD_HASHERS, TESSERA
from settings.database import parse_database_url
from settings.env import env_bool, env_str

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


def _test_database() -> dict:
    if env_str("DATABASE_URL"):
        return parse_database_url(env_str("DATABASE_URL"), base_dir=BASE_DIR)
    from devtools.pgcluster import find_pg_bin, start_cluster

    if find_pg_bin() is None:
        if env_bool("CI", False):
            raise ImproperlyConfigured("CI must test on PostgreSQL: apt-get install postgresql.")
        warnings.warn("PostgreSQL not installed: testing on SQLite only.", stacklevel=1)
        return parse_database_url("sqlite:///var/test.sqlite3", base_dir=BASE_DIR)
    cluster = start_cluster()
    atexit.register(cluster.stop)
    return parse_database_url(cluster.url("postgres"), base_dir=BASE_DIR)


DATABASES = {"default": {**_test_database(), "CONN_MAX_AGE": 0, "ATOMIC_REQUESTS": False}}

# Static files straight from the source tree (production serves collectstatic output).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
