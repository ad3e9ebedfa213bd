"""Test overlay: fast password hasher, fixed keys, PostgreSQL when it is installed.

Unless DATABASE_URL is given, the suite runs on a throwaway PostgreSQL cluster started here
(initdb + pg_ctl in a temporary directory, stopped at exit; devtools/pgcluster.py), because
production runs on PostgreSQL, with the production roles: the owner migrates, the
application role (no ownership, no BYPASSRLS) serves. With DATABASE_URL, give the owner's
URL as DATABASE_OWNER_URL. Without PostgreSQL's binaries the suite falls back to SQLite,
except in CI (CI=true), where that is an error: PostgreSQL tests must fail, not skip.

``TESSERA_TEST_DATABASE=sqlite`` runs on SQLite on purpose: the database ``make run`` serves,
where the application layer stands alone without row-level security. ``make test`` runs the
relying-party flows and the attacker-side tests there too (``-m "not postgres"``).
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
    "ENVIRONMENT": "test",
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


APP_ROLE, OWNER_ROLE = "tessera_app", "tessera_owner"


def _test_databases() -> dict:
    """DATABASES for the suite: "default" as the application role, "owner" as the table owner.

    tests/conftest.py creates and migrates the test database through "owner" and serves
    the suite through "default", so row-level security binds every test as it binds
    production (the application role owns nothing and has no BYPASSRLS).
    """
    if env_str("TESSERA_TEST_DATABASE") == "sqlite":
        default = parse_database_url("sqlite:///var/test.sqlite3", base_dir=BASE_DIR)
        return {"default": default, "owner": {**default, "TEST": {"MIRROR": "default"}}}
    if env_str("DATABASE_URL"):
        default = parse_database_url(env_str("DATABASE_URL"), base_dir=BASE_DIR)
        owner = parse_database_url(env_str("DATABASE_OWNER_URL") or env_str("DATABASE_URL"), base_dir=BASE_DIR)
        return {"default": default, "owner": owner}
    from devtools.pgcluster import find_pg_bin, start_cluster

    if find_pg_bin() is None:
        if env_bool("CI", False):
            raise ImproperlyConfigured("CI must test on PostgreSQL: apt-get install postgresql.")
        warnings.warn("PostgreSQL not installed: testing on SQLite only.", stacklevel=1)
        default = parse_database_url("sqlite:///var/test.sqlite3", base_dir=BASE_DIR)
        return {"default": default, "owner": {**default, "TEST": {"MIRROR": "default"}}}
    cluster = start_cluster()
    atexit.register(cluster.stop)
    cluster.psql(f"CREATE ROLE {OWNER_ROLE} LOGIN CREATEDB; CREATE ROLE {APP_ROLE} LOGIN")
    global TEST_SUPERUSER_URL
    TEST_SUPERUSER_URL = cluster.url("postgres")
    return {
        "default": parse_database_url(cluster.url("tessera", user=APP_ROLE), base_dir=BASE_DIR),
        "owner": parse_database_url(cluster.url("tessera", user=OWNER_ROLE), base_dir=BASE_DIR),
    }


TEST_SUPERUSER_URL = ""
TESSERA["DATABASE_APP_ROLE"] = APP_ROLE
TESSERA["AUDIT_PURGE_DATABASE"] = "owner"  # the table owner purges (the application role cannot)
DATABASES = {
    alias: {**config, "CONN_MAX_AGE": 0, "ATOMIC_REQUESTS": False}
    for alias, config in _test_databases().items()
}

# Static files straight from the source tree (production serves collectstatic output).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

