"""PostgreSQL row-level security, seen from the database: no query sees another tenant's rows.

Every tenant table is filled for two tenants, then read and written as tenant A through the
application role the suite (like production) connects as: the ORM without its tenant filter
and raw ``SELECT *`` return only A's rows, and INSERT/UPDATE/DELETE reaching for B's rows are
refused or touch nothing. Without a tenant, every tenant table looks empty.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts import factors
from accounts.models import (
    BrowserSession,
    LoginThrottle,
    Passkey,
    PasskeyAttestation,
    RecoveryCode,
    RecoveryCodeSet,
    TOTPDevice,
    User,
)
from accounts.sessions import SessionStore
from audit import checkpoints
from audit.models import AuditEvent, ChainHead, Checkpoint, WebhookDelivery, WebhookSubscription
from idp.models import AccessToken, Application, Consent, Grant, IDToken, RefreshToken, SigningKey
from tenants.context import tenant_context
from tenants.models import SecurityPolicy
from tenants.roles import database_role_problems

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Every table that holds tenant data. A new one must be added here (and put under RLS in its
# migration with tenants.rls.TenantRLS); test_every_table_is_classified fails until it is.
TENANT_TABLES = [
    "accounts_user", "accounts_user_groups", "accounts_user_user_permissions",
    "audit_auditevent", "audit_chainhead", "audit_checkpoint", "django_admin_log", "django_session",
    "idp_accesstoken", "idp_application", "idp_consent", "idp_grant", "idp_idtoken",
    "idp_refreshtoken", "idp_signingkey", "oauth2_provider_devicegrant", "tenants_securitypolicy",
    "accounts_totpdevice", "accounts_recoverycodeset", "accounts_recoverycode", "accounts_passkey",
    "accounts_passkeyattestation", "django_otp_webauthn_webauthnuserhandle",
    "django_otp_webauthn_webauthncredential", "django_otp_webauthn_webauthnattestation",
    "accounts_loginthrottle", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog",
    "axes_accessattemptexpiration", "accounts_browsersession", "audit_webhooksubscription", "audit_webhookdelivery",
]
# Platform tables: no tenant data (the tenant registry, Django's catalogue of models and
# permissions, global groups, applied migrations).
PLATFORM_TABLES = [
    "tenants_tenant", "django_migrations", "django_content_type", "auth_permission", "core_datakey",
    "auth_group", "auth_group_permissions",
]
TENANT_MODELS = [User, Application, Grant, AccessToken, RefreshToken, IDToken, SigningKey, Consent,
                 AuditEvent, ChainHead, Checkpoint, SecurityPolicy, TOTPDevice, RecoveryCodeSet, RecoveryCode,
                 Passkey, PasskeyAttestation, LoginThrottle, BrowserSession, WebhookSubscription, WebhookDelivery]
# What the application role may not do at all, whatever the tenant (tenants.roles).
NO_UPDATE = {"audit_auditevent", "audit_checkpoint"}
NO_DELETE = NO_UPDATE | {"audit_chainhead"}


def _fill(world) -> None:
    """At least one row in every tenant table, for this world's tenant."""
    from django_otp_webauthn.models import WebAuthnAttestation, WebAuthnCredential, WebAuthnUserHandle
    from oauth2_provider.models import DeviceGrant

    user, app = world.user, world.web.application
    soon = timezone.now() + timedelta(minutes=5)
    with tenant_context(world.tenant), transaction.atomic():
        Grant.objects.create(user=user, application=app, code=uuid.uuid4().hex, expires=soon,
                             redirect_uri="https://rp.example.test/callback", scope="openid",
                             code_challenge="x" * 43, code_challenge_method="S256")
        access = AccessToken.objects.create(user=user, application=app, token="",
                                            token_checksum=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
                                            expires=soon, scope="openid")
        RefreshToken.objects.create(user=user, application=app, token="", access_token=access,
                                    token_checksum=hashlib.sha256(uuid.uuid4().bytes).hexdigest())
        IDToken.objects.create(user=user, application=app, jti=uuid.uuid4(), expires=soon, scope="openid")
        Consent.objects.create(user=user, application=app, scope="openid")
        assert SigningKey.objects.exists()  # provisioned with the tenant
        assert checkpoints.write() is not None
        group, _ = Group.objects.get_or_create(name="staff")
        user.groups.add(group)
        user.user_permissions.add(Permission.objects.first())
        session = SessionStore()
        session["hello"] = world.tenant.slug
        session.create()
        # Django's own session table is no longer written (accounts 0009), but stays isolated.
        from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore

        old = DjangoSessionStore()
        old["hello"] = world.tenant.slug
        old.create()
        LogEntry.objects.create(user=user, content_type=ContentType.objects.get_for_model(User),
                                object_id=str(user.pk), object_repr=str(user), action_flag=ADDITION)
        DeviceGrant.objects.create(client_id=app.client_id, device_code=uuid.uuid4().hex,
                                   user_code=uuid.uuid4().hex[:8], expires=soon)
        assert SecurityPolicy.objects.exists()  # created with the tenant
        factors.start_totp_enrolment(user)
        factors.new_recovery_codes(user)
        passkey = Passkey.objects.create(user=user, name="key", credential_id=uuid.uuid4().bytes,
                                         public_key=b"cose", aaguid="0" * 36, confirmed=True)
        PasskeyAttestation.objects.create(credential=passkey, fmt="none", data=b"", client_data_json=b"{}")
        WebAuthnUserHandle.get_handle_for_user(user)
        # django-otp-webauthn's stock credential tables (swapped out, unused): isolated all the same.
        stock = WebAuthnCredential.objects.create(user=user, credential_id=uuid.uuid4().bytes,
                                                  public_key=b"cose", aaguid="0" * 36)
        WebAuthnAttestation.objects.create(credential=stock, fmt="none", data=b"", client_data_json=b"{}")
        LoginThrottle.objects.create(scope="account", username="alice", ip="192.0.2.1", failures=1)
        # django-axes' stock tables (its handler is replaced, they stay empty): isolated all the same.
        from axes.models import AccessAttempt, AccessAttemptExpiration, AccessFailureLog, AccessLog

        now = timezone.now()
        stock_attempt = AccessAttempt.objects.create(username=world.tenant.slug, ip_address="192.0.2.1", user_agent="x",
                                                     failures_since_start=1, attempt_time=now)
        AccessAttemptExpiration.objects.create(access_attempt=stock_attempt, expires_at=soon)
        AccessLog.objects.create(username="alice", ip_address="192.0.2.1", user_agent="x", attempt_time=now)
        AccessFailureLog.objects.create(username="alice", ip_address="192.0.2.1", user_agent="x",
                                        attempt_time=now)
        # Rows as the outbox writes them (audit.webhooks validates URLs by resolving them).
        hook = WebhookSubscription.objects.create(url="https://siem.example.test/hook", actions=["webhook.redelivered"],
                                                  sealed_secret=b"sealed")
        WebhookDelivery.objects.create(subscription=hook, seq=1, action="tenant.created", payload={"seq": 1},
                                       next_attempt_at=now, created=now)


@pytest.fixture
def two_tenants(world_a, world_b):
    if connection.vendor != "postgresql":
        pytest.fail("row-level security needs PostgreSQL")
    _fill(world_a)
    _fill(world_b)
    return world_a.tenant, world_b.tenant


def _catalog_tables() -> dict[str, tuple[bool, bool, bool, list[str]]]:
    """table -> (has tenant_id, RLS enabled, RLS forced, policy expressions)."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname,
                   EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                           AND a.attname = 'tenant_id' AND NOT a.attisdropped),
                   c.relrowsecurity, c.relforcerowsecurity,
                   ARRAY(SELECT pg_get_expr(p.polqual, p.polrelid) || ' / '
                                || pg_get_expr(p.polwithcheck, p.polrelid)
                         FROM pg_policy p WHERE p.polrelid = c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
        """)
        return {name: (has_tenant, enabled, forced, list(policies))
                for name, has_tenant, enabled, forced, policies in cursor.fetchall()}


def test_every_table_with_a_tenant_id_has_forced_rls_and_the_tenant_policy():
    tables = _catalog_tables()
    with_tenant = {name for name, (has_tenant, *_rest) in tables.items() if has_tenant}
    assert with_tenant, "no tenant tables found: is this PostgreSQL?"
    for name in sorted(with_tenant):
        _, enabled, forced, policies = tables[name]
        assert enabled and forced, f"{name} has a tenant_id but row-level security is not enabled and forced"
        expected = "(tenant_id = tessera_current_tenant()) / (tenant_id = tessera_current_tenant())"
        assert policies == [expected], f"{name} policies: {policies}"


def test_every_table_is_classified():
    tables = _catalog_tables()
    with_tenant = sorted(name for name, (has_tenant, *_rest) in tables.items() if has_tenant)
    assert with_tenant == sorted(TENANT_TABLES)
    unclassified = set(tables) - set(TENANT_TABLES) - set(PLATFORM_TABLES)
    assert not unclassified, f"tables neither tenant-owned nor platform-level: {sorted(unclassified)}"


def _foreign_keys() -> list[tuple[str, list[str], str, list[str]]]:
    """(table, columns, referenced table, referenced columns) of every foreign key."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.conrelid::regclass::text,
                   ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
                   c.confrelid::regclass::text,
                   ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                         JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE c.contype = 'f' AND n.nspname = current_schema()
        """)
        return [(t, list(cols), rt, list(rcols)) for t, cols, rt, rcols in cursor.fetchall()]


def test_every_reference_between_tenant_tables_includes_the_tenant():
    """RLS hides other tenants' rows; it does not stop a row of A from pointing at a row of B.
    A composite key (tenant_id, x) -> (tenant_id, id) beside each foreign key does."""
    tenant_tables = set(TENANT_TABLES)
    keys_ = _foreign_keys()
    composite = {(t, cols[1], rt) for t, cols, rt, rcols in keys_
                 if len(cols) == 2 and cols[0] == "tenant_id" and rcols == ["tenant_id", "id"]}
    between = [(t, cols[0], rt) for t, cols, rt, _ in keys_
               if len(cols) == 1 and t in tenant_tables and rt in tenant_tables]
    assert len(between) >= 15, between  # the control: the catalogue query found the keys
    missing = [ref for ref in between if ref not in composite]
    assert not missing, f"foreign keys between tenant tables without tenant_id: {missing}"


def test_postgresql_refuses_a_reference_to_another_tenants_row(two_tenants):
    a, b = two_tenants
    with tenant_context(b):
        b_user = User.objects.get(username="alice").pk
    with tenant_context(a):
        consent = Consent.objects.first()
        # Written under A's setting, pointing at B's user: RLS allows the row (it is A's), the
        # composite key refuses the reference (checked at commit: the keys are deferred).
        with pytest.raises(DatabaseError, match="tenant_fk"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("UPDATE idp_consent SET user_id = %s WHERE id = %s", [b_user, consent.pk])
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_the_suite_connects_as_a_role_bound_by_rls():
    assert database_role_problems("default") == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == ("tessera_app", False, False)


def _rows(table: str, sql: str = "SELECT * FROM {table}") -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=connection.ops.quote_name(table)))
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_raw_select_star_returns_only_the_current_tenants_rows(two_tenants, table):
    a, b = two_tenants
    for tenant in (a, b):
        with tenant_context(tenant):
            rows = _rows(table)
        assert rows, f"{table} has no rows for {tenant}: the control failed"
        assert {row["tenant_id"] for row in rows} == {tenant.pk}
    assert _rows(table) == [], f"{table} shows rows with no tenant set"


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_writes_reaching_for_another_tenant_are_refused_or_touch_nothing(two_tenants, table):
    a, b = two_tenants
    quoted = connection.ops.quote_name(table)
    with tenant_context(a):
        row = _rows(table, "SELECT * FROM {table} LIMIT 1")[0]
        generated = _generated_columns(table)
        columns = [c for c in row if c not in generated]
        values = [b.pk if c == "tenant_id" else row[c] for c in columns]
        insert = (f"INSERT INTO {quoted} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
                  f"VALUES ({', '.join(['%s'] * len(columns))})")
        with pytest.raises(DatabaseError, match="row-level security|append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(insert, values)
        with pytest.raises(DatabaseError, match="row-level security|append-only|permission denied"), \
                transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {quoted} SET tenant_id = %s", [b.pk])
        with connection.cursor() as cursor:
            if table not in NO_UPDATE:
                cursor.execute(f"UPDATE {quoted} SET tenant_id = tenant_id WHERE tenant_id = %s", [b.pk])
                assert cursor.rowcount == 0
            if table not in NO_DELETE:
                cursor.execute(f"DELETE FROM {quoted} WHERE tenant_id = %s", [b.pk])
                assert cursor.rowcount == 0
    with tenant_context(b):
        assert _rows(table), f"{table}: B's rows are gone"


def _generated_columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND (column_default LIKE 'nextval(%%' OR is_identity = 'YES')", [table])
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m.__name__)
def test_orm_without_its_tenant_filter_still_sees_only_the_current_tenant(two_tenants, model):
    a, b = two_tenants
    with tenant_context(a):
        seen = set(model.unscoped.values_list("tenant_id", flat=True))
        assert seen == {a.pk}
        instance = model.unscoped.order_by("pk").first()
        instance.pk = None
        instance.tenant_id = b.pk
        if model is User:
            instance.username, instance.email = "mallory", "mallory@example.com"
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            instance.save(force_insert=True)
    assert not model.unscoped.exists()


def test_setting_is_transaction_local_on_a_reused_connection(two_tenants):
    """What pgbouncer transaction pooling relies on: nothing survives COMMIT or ROLLBACK."""
    a, _b = two_tenants

    def setting() -> str | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.tenant_id', true)")
            return cursor.fetchone()[0]

    with tenant_context(a), transaction.atomic():
        assert setting() == str(a.pk)
    # The suite's own outer transaction is still open here; a savepoint rollback must not
    # leave a stale tenant behind either.
    assert setting() in ("", None)
    with tenant_context(a):
        with pytest.raises(RuntimeError), transaction.atomic():
            assert setting() == str(a.pk)
            raise RuntimeError
        assert setting() == str(a.pk)
    assert setting() in ("", None)


def _raw_setting() -> str | None:
    """The connection's app.tenant_id read past Django (and past tenants.db's wrapper)."""
    return connection.connection.execute("SELECT current_setting('app.tenant_id', true)").fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_nothing_survives_commit_or_rollback_on_the_connection(world_a):
    with tenant_context(world_a.tenant):
        assert User.objects.count() == 1  # autocommit: BEGIN; set_config; SELECT; COMMIT
    assert _raw_setting() in ("", None)
    with tenant_context(world_a.tenant), transaction.atomic():
        assert User.objects.count() == 1
        assert _raw_setting() == str(world_a.tenant.pk)
    assert _raw_setting() in ("", None)
    with pytest.raises(ZeroDivisionError), tenant_context(world_a.tenant), transaction.atomic():
        User.objects.count()
        1 / 0  # noqa: B018 (raises on purpose, inside the transaction)
    assert _raw_setting() in ("", None)


@pytest.mark.django_db(transaction=True)
def test_concurrent_tenants_on_reused_connections_never_see_each_others_setting(world_a, world_b):
    """Two threads, each with one persistent connection, alternate between the tenants many
    times; every transaction sees only its own tenant's setting and users."""
    import threading

    from django.db import connections

    errors: list[str] = []
    barrier = threading.Barrier(2)

    def worker(order) -> None:
        try:
            for round_ in range(40):
                world = order[round_ % 2]
                barrier.wait(timeout=30)
                with tenant_context(world.tenant), transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT current_setting('app.tenant_id', true)")
                        setting = cursor.fetchone()[0]
                        cursor.execute("SELECT DISTINCT tenant_id FROM accounts_user")
                        tenants = {row[0] for row in cursor.fetchall()}
                    if setting != str(world.tenant.pk) or tenants != {world.tenant.pk}:
                        errors.append(f"round {round_}: {world.tenant} saw {setting} / {tenants}")
                if _raw_setting() not in ("", None):
                    errors.append(f"round {round_}: setting left on the connection")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=((world_a, world_b),)),
               threading.Thread(target=worker, args=((world_b, world_a),))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_starts_with_a_savepoint_still_gets_its_tenant(world_a):
    """Found by the benchmark: on a reused connection, a transaction whose first statement is
    a SAVEPOINT (a nested atomic block, as in DOT's token saving) must not run on the
    previous transaction's bookkeeping and miss its set_config."""
    with tenant_context(world_a.tenant):
        with transaction.atomic():
            assert User.objects.count() == 1
        with transaction.atomic():
            with transaction.atomic():  # SAVEPOINT is this transaction's first statement
                assert User.objects.count() == 1
                User.objects.create(username="bob", email="bob@acme.example")
        assert User.objects.count() == 2


@pytest.mark.django_db(databases=["default", "owner"])
def test_the_deploy_check_refuses_a_role_that_could_bypass_rls():
    from tenants.roles import check_database_role

    assert check_database_role(databases=["default"]) == []
    assert database_role_problems("owner") == [
        "connects as the owner of the tables (it could disable row-level security)"]
    with mock.patch("tenants.roles.database_role_problems", return_value=["connects as a superuser, x"]):
        [error] = check_database_role(databases=["default"])
    assert error.id == "tessera.E001" and "superuser" in error.msg
