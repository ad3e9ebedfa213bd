"""The two PostgreSQL roles: the owner (runs migrations) and the application role (serves).

The owner owns every table and runs ``manage.py migrate``; after each migrate it grants
the application role what it needs (``grant_app_role``, a post_migrate receiver, when
``TESSERA_DATABASE_APP_ROLE`` names that role). The application role owns nothing and has
neither SUPERUSER nor BYPASSRLS, so forced row-level security binds it, and on the tables
higher apps restrict (``restrict_app_role``: audit events are read and append only) it does
no more than they allow. ``check_database_role`` (a deployment check, run by
``manage.py check --deploy --database default``) refuses a serving role that could bypass RLS.
"""

from __future__ import annotations

import logging

from django.core import checks
from django.db import connections

from core.conf import tessera_settings

log = logging.getLogger("tessera.db")

_DML = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Tables on which the application role keeps less than full DML: table -> what it keeps.
# Higher apps add theirs when they load (audit: its events and checkpoints are append-only).
RESTRICTED_TABLES: dict[str, tuple[str, ...]] = {
    "django_migrations": ("SELECT",),
    # core.crypto's data keys: read, added on first use, re-sealed by a KEK rotation; never deleted.
    "core_datakey": ("SELECT", "INSERT", "UPDATE"),
}


def restrict_app_role(table: str, *, keep: tuple[str, ...]) -> None:
    """Let the application role do only ``keep`` (a subset of SELECT/INSERT/UPDATE/DELETE) on ``table``."""
    unknown = set(keep) - set(_DML)
    if unknown:
        raise ValueError(f"not a table privilege: {', '.join(sorted(unknown))}")
    RESTRICTED_TABLES[table] = tuple(keep)


def _owns_schema_tables(cursor) -> bool:
    cursor.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND pg_get_userbyid(c.relowner) = current_user"
    )
    return cursor.fetchone()[0] > 0


def grant_app_role(using: str = "default", role: str | None = None, **kwargs) -> bool:
    """Grant ``role`` (default TESSERA_DATABASE_APP_ROLE) its privileges; True when done."""
    role = role or tessera_settings.DATABASE_APP_ROLE
    connection = connections[using]
    if not role or connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role or not _owns_schema_tables(cursor):
            return False  # running as the application role (or not the owner): nothing to grant
        name = connection.ops.quote_name(role)
        statements = [
            f"GRANT USAGE ON SCHEMA public TO {name}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {name}",
        ]
        for table, keep in RESTRICTED_TABLES.items():
            revoked = [p for p in _DML if p not in keep]
            if revoked:
                statements.append(f"REVOKE {', '.join(revoked)} ON {connection.ops.quote_name(table)} FROM {name}")
        for statement in statements:
            cursor.execute(statement)
    log.info("granted the application role %s its privileges", role)
    return True


def database_role_problems(using: str = "default") -> list[str]:
    """Why the role serving ``using`` could escape row-level security (empty list: fine)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        superuser, bypass = cursor.fetchone()
        owns = _owns_schema_tables(cursor)
    problems = []
    if superuser:
        problems.append("connects as a superuser, which bypasses row-level security")
    if bypass:
        problems.append("connects as a role with BYPASSRLS")
    if owns:
        problems.append("connects as the owner of the tables (it could disable row-level security)")
    return problems


@checks.register(checks.Tags.database, deploy=True)
def check_database_role(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check --deploy --database default`: the serving role must be bound by RLS."""
    if not databases or "default" not in databases:
        return []
    return [
        checks.Error(f"DATABASE_URL {problem}.", hint="Serve with the application role; see README, Database roles.",
                     id="tessera.E001")
        for problem in database_role_problems("default")
    ]
