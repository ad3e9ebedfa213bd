"""Shared fixtures: tenants, users and clients created through the same services operators use."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.services import create_user
from idp.models import GrantType
from idp.services.clients import create_client
from tenants.context import tenant_context
from tenants.services import create_tenant, update_policy

PASSWORD = "a-long-test-password-42"
WEB_REDIRECT = "https://rp.example.test/callback"
NATIVE_REDIRECT = "http://127.0.0.1/callback"


@dataclass
class TenantWorld:
    """One tenant with a user, a confidential web client and a public native client."""

    tenant: object
    user: object
    web: object  # idp.services.NewClient
    spa: object
    first_party: object


def build_world(slug: str, name: str) -> TenantWorld:
    tenant = create_tenant(slug, name)
    # Risk-based step-up off: a test's earlier wrong passwords and fresh browsers would send
    # its sign-ins through an emailed code. tests/security/test_risk.py turns it on.
    update_policy(tenant, risk_step_up_threshold=100)
    with tenant_context(tenant):
        user = create_user(username="alice", email="alice@example.com", password=PASSWORD,
                           email_verified=True, first_name="Alice", last_name="Liddell")
        web = create_client(
            name=f"{name} Web", confidential=True,
            grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN, GrantType.CLIENT_CREDENTIALS],
            redirect_uris=[WEB_REDIRECT], post_logout_redirect_uris=["https://rp.example.test/bye"],
        )
        spa = create_client(
            name=f"{name} Native", confidential=False,
            grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN],
            redirect_uris=[NATIVE_REDIRECT], algorithm="ES256", application_type="native",
        )
        first_party = create_client(
            name=f"{name} Portal", confidential=True, first_party=True,
            grant_types=[GrantType.AUTHORIZATION_CODE], redirect_uris=[WEB_REDIRECT],
        )
    return TenantWorld(tenant=tenant, user=user, web=web, spa=spa, first_party=first_party)


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """Create and migrate the test database as the owner role; serve the tests as the app role.

    pytest-django's own fixture would create one database per alias (or make "default" a
    mirror connecting as the owner); here "owner" creates and migrates it (the post_migrate
    receiver grants the application role its privileges, as in production) and "default"
    connects to the same database as the application role, so forced RLS binds the suite.
    The application role also gets TRUNCATE here, and only here: transactional tests empty
    the tables between tests with Django's flush.
    """
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    verbosity = request.config.option.verbose
    owner = connections["owner"]
    if owner.settings_dict["TEST"].get("MIRROR"):  # SQLite fallback: one database, no roles
        with django_db_blocker.unblock():
            config = setup_databases(verbosity=verbosity, interactive=False)
        yield
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=verbosity)
        return
    with django_db_blocker.unblock():
        config = setup_databases(verbosity=verbosity, interactive=False, aliases={"owner"})
        default = connections["default"]
        default.close()
        default.settings_dict["NAME"] = owner.settings_dict["NAME"]
        if owner.vendor == "postgresql":
            with owner.cursor() as cursor:
                cursor.execute(
                    "GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO "
                    + owner.ops.quote_name(settings_app_role())
                )
    yield
    with django_db_blocker.unblock():
        connections.close_all()
        teardown_databases(config, verbosity=verbosity)


def settings_app_role() -> str:
    from core.conf import tessera_settings

    return tessera_settings.DATABASE_APP_ROLE


@pytest.fixture(autouse=True)
def _fresh_lookup_caches():
    """Each test starts with empty per-process lookup caches (the database is new too: its data
    keys, which core.crypto keeps per process, are made again on first use)."""
    from audit.outbox import subscribed_patterns
    from core.crypto import _data_keys
    from idp.cors import web_origins
    from idp.keys import active_keys, published_keys
    from idp.validators import clients
    from tenants.middleware import active_tenants
    from tenants.services import security_policies

    for cache in (clients, active_tenants, active_keys, published_keys, security_policies, subscribed_patterns,
                  web_origins):
        cache.clear()
    _data_keys.clear()
    # issue 15: and with no request counted by this process's rate limits.
    from audit import spool
    from core import ratelimit

    ratelimit.reset()
    spool.reset_outage()  # and a spool outage a former test caused is not remembered
    yield


@pytest.fixture
def world_a(db) -> TenantWorld:
    return build_world("acme", "Acme Corp")


@pytest.fixture
def world_b(db) -> TenantWorld:
    return build_world("globex", "Globex Inc")


@pytest.fixture
def issuer_a(live_server, world_a) -> str:
    return f"{live_server.url}/t/{world_a.tenant.slug}"


@pytest.fixture
def issuer_b(live_server, world_b) -> str:
    return f"{live_server.url}/t/{world_b.tenant.slug}"


def pytest_runtest_setup(item):
    """Tests marked ``postgres`` need the PostgreSQL suite: skipped (with the reason) on the
    SQLite fallback of a machine without PostgreSQL, never in CI, where settings.test refuses
    to fall back at all."""
    if item.get_closest_marker("postgres") is None:
        return
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        import os

        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("this test needs PostgreSQL, and CI must run it")
        pytest.skip("needs PostgreSQL (apt-get install postgresql); `make test` starts a throwaway cluster")


def _in_ci() -> bool:
    import os

    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def redis_server():
    """A throwaway redis-server configured as the audit spool needs (appendfsync always).

    Skipped outside CI on a machine without redis-server; in CI a missing Redis fails."""
    from devtools.redisserver import start_redis

    try:
        server = start_redis()
    except RuntimeError as exc:
        if _in_ci():
            pytest.fail(f"this test needs Redis, and CI must run it: {exc}")
        pytest.skip(f"needs Redis: {exc}")
    yield server
    server.stop()


@pytest.fixture
def audit_spool(redis_server, settings):
    """The audit spool switched on, on an empty stream; yields the Redis client."""
    import redis

    from audit import spool

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.delete(spool.STREAM)
    settings.TESSERA = {**settings.TESSERA, "AUDIT_SPOOL_URL": redis_server.url}
    yield client
    client.delete(spool.STREAM)
    client.close()
