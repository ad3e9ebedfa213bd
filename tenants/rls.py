"""Migration operations putting tables under PostgreSQL row-level security.

Putting a new tenant table under RLS is one line in its migration::

    operations = [..., TenantRLS("accounts_totpdevice")]

and each of its foreign keys to another tenant table one more, after the parent's key::

    operations = [..., TenantKey("accounts_user"),
                  TenantForeignKey("accounts_totpdevice", "user_id", "accounts_user")]

For a table Tessera does not define (Django's sessions, third-party tables),
``TenantRLS("django_session", add_column=True)`` first adds the non-null ``tenant_id``,
defaulting to the transaction's tenant, so the third-party code that inserts rows needs no
change. On other databases the operations do nothing (the managers still scope queries).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

FUNCTION = "tessera_current_tenant"

CREATE_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::bigint $$;
COMMENT ON FUNCTION {FUNCTION}() IS
  'Tenant of the current transaction (app.tenant_id, set by tenants.db); NULL when none.';
"""
DROP_FUNCTION_SQL = f"DROP FUNCTION IF EXISTS {FUNCTION}()"


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL that runs on PostgreSQL and does nothing elsewhere (SQLite development)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def CreateTenantFunction() -> PostgreSQLOnly:  # noqa: N802 - reads as an operation in migrations
    """Creates tessera_current_tenant(), the one definition of the per-transaction tenant."""
    return PostgreSQLOnly(CREATE_FUNCTION_SQL, DROP_FUNCTION_SQL)


def rls_sql(table: str, *, add_column: bool = False) -> list[str]:
    """Statements enabling and forcing RLS with the tenant policy on ``table``."""
    q = f'"{table}"'
    statements = []
    if add_column:
        statements += [
            f"ALTER TABLE {q} ADD COLUMN tenant_id bigint NOT NULL DEFAULT {FUNCTION}() "
            f"REFERENCES tenants_tenant(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",
            f'CREATE INDEX "{table}_tenant_id_rls" ON {q} (tenant_id)',
        ]
    statements += [
        f"ALTER TABLE {q} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {q} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {q} "
        f"USING (tenant_id = {FUNCTION}()) WITH CHECK (tenant_id = {FUNCTION}())",
    ]
    return statements


def unrls_sql(table: str, *, add_column: bool = False) -> list[str]:
    q = f'"{table}"'
    statements = [
        f"DROP POLICY IF EXISTS tenant_isolation ON {q}",
        f"ALTER TABLE {q} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {q} DISABLE ROW LEVEL SECURITY",
    ]
    if add_column:
        statements.append(f"ALTER TABLE {q} DROP COLUMN tenant_id")
    return statements


def TenantKey(table: str) -> PostgreSQLOnly:  # noqa: N802 - reads as an operation in migrations
    """A unique (tenant_id, id) on a parent table, which composite foreign keys reference."""
    name = f"{table}_tenant_key"
    return PostgreSQLOnly(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE (tenant_id, id)',
                          f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')


def TenantForeignKey(table: str, column: str, parent: str) -> PostgreSQLOnly:  # noqa: N802
    """A foreign key (tenant_id, column) -> parent (tenant_id, id): PostgreSQL refuses a row of
    one tenant that points at a row of another (row-level security only hides rows; it does
    not stop references). Beside Django's own single-column key, which keeps its ON DELETE
    behaviour; a NULL ``column`` is not checked (MATCH SIMPLE), as with Django's."""
    name = f"{table}_{column}_tenant_fk"
    return PostgreSQLOnly(
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY (tenant_id, "{column}") '
        f'REFERENCES "{parent}" (tenant_id, id) DEFERRABLE INITIALLY DEFERRED',
        f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')


class TenantRLS(migrations.operations.base.Operation):
    """Enable and force RLS on ``table`` with the tenant policy (PostgreSQL only).

    ``add_column=True`` adds ``tenant_id`` (non-null, FK to the tenant, defaulting to the
    transaction's tenant) for tables whose model Tessera does not own.
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, table: str, add_column: bool = False) -> None:
        self.table = table
        self.add_column = add_column

    def deconstruct(self):
        kwargs: dict[str, Any] = {"table": self.table}
        if self.add_column:
            kwargs["add_column"] = True
        return self.__class__.__qualname__, [], kwargs

    def state_forwards(self, app_label, state) -> None:
        pass  # the model state is untouched: the column/policy live below the ORM

    def _run(self, schema_editor, statements: list[str]) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        self._run(schema_editor, rls_sql(self.table, add_column=self.add_column))

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        self._run(schema_editor, unrls_sql(self.table, add_column=self.add_column))

    def describe(self) -> str:
        return f"Row-level security on {self.table}"

    @property
    def migration_name_fragment(self) -> str:
        return f"rls_{self.table}"
