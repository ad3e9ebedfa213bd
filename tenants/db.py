"""The database layer of tenant isolation: PostgreSQL row-level security, fed per transaction.

Every tenant table has a policy ``tenant_id = tessera_current_tenant()``, a SQL function
reading the transaction-local setting ``app.tenant_id`` (see tenants.rls). This module
makes that setting follow the tenant context, for every statement Django sends:

- The transaction is opened by this module: ``BEGIN; SELECT set_config('app.tenant_id',
  <tenant>, true)`` sent in one simple query with its first statement (``_begin_with``: no
  round trip of its own), or just before it where that cannot be (``_begin``). ``true``
  makes the setting transaction-local: COMMIT or ROLLBACK clears it, so it can never
  outlive the transaction, whether the connection is persistent (CONN_MAX_AGE) or
  pgbouncer hands the server connection to another client at the next transaction
  (transaction pooling).
- When the tenant context changes within a transaction, or a savepoint rollback may
  have undone the setting, it is set again before the next statement.
- A statement in autocommit mode with a tenant in context is wrapped in its own short
  transaction (BEGIN; set_config; statement; COMMIT). Requests avoid that cost:
  TenantMiddleware runs each tenant request in one transaction.
- With no tenant in context the setting is empty and tenant tables show no rows and
  accept no inserts: platform code fails closed (tenants.platform is its one door).

Only the PostgreSQL backend is wrapped; SQLite (``make run``) relies on the managers.
"""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.errors
from django.db import transaction
from django.db.backends.signals import connection_created
from psycopg.pq import DiagnosticField, ExecStatus, TransactionStatus

from tenants.context import get_current_tenant

_SET_SQL = "SELECT set_config('app.tenant_id', %s, true)"
_UNKNOWN = object()  # no setting made in the current transaction yet
_SAVEPOINT_STATEMENTS = ("SAVEPOINT ", "RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT ")


def _tenant_value() -> str:
    tenant = get_current_tenant()
    return "" if tenant is None else str(tenant.pk)


def rls_execute_wrapper(execute, sql, params, many, context: dict[str, Any]):
    """Django execute wrapper keeping ``app.tenant_id`` equal to the tenant context."""
    wrapper = context["connection"]
    value = _tenant_value()
    if wrapper.get_autocommit():
        if not value:
            return execute(sql, params, many, context)
        with transaction.atomic(using=wrapper.alias):
            return rls_execute_wrapper(execute, sql, params, many, context)  # now in a transaction
    pg = wrapper.connection
    status = pg.info.transaction_status
    if status == TransactionStatus.IDLE:
        wrapper._tessera_rls_value = _UNKNOWN  # a new transaction begins with this statement
    if isinstance(sql, str) and sql.startswith(_SAVEPOINT_STATEMENTS):
        try:  # transaction control reads no rows: no setting needed (yet)
            return execute(sql, params, many, context)
        finally:
            if sql.startswith("ROLLBACK TO"):
                # The rollback may have undone a set_config made after the savepoint.
                wrapper._tessera_rls_value = _UNKNOWN
                savepoint_id = sql[len("ROLLBACK TO SAVEPOINT "):].strip().strip('"')
                for listener in savepoint_rollback_listeners:
                    listener(savepoint_id)
    # Our own statements go through Django's error wrapper as its own do: a database error is
    # then Django's class (django.db.OperationalError, which core.outage answers with a 503,
    # where psycopg's own class was a 500) and counts as an error on this connection.
    if status == TransactionStatus.IDLE:
        cursor = getattr(context.get("cursor"), "cursor", None)
        if not many and isinstance(sql, str) and isinstance(cursor, psycopg.ClientCursor):
            return _begin_with(execute, sql, params, context, wrapper, cursor, value)
        with wrapper.wrap_database_errors:
            _begin(pg, value)  # BEGIN and the setting in one round trip
        wrapper._tessera_rls_value = value
    elif status != TransactionStatus.INERROR and getattr(wrapper, "_tessera_rls_value", _UNKNOWN) != value:
        with wrapper.wrap_database_errors:
            pg.execute(_SET_SQL, [value])
        wrapper._tessera_rls_value = value
    return execute(sql, params, many, context)


def _begin_sql(value: str) -> bytes:
    if value and not value.isdigit():
        raise ValueError(f"not a tenant key: {value!r}")
    return b"BEGIN; SELECT set_config('app.tenant_id', '" + value.encode() + b"', true)"


def _begin_with(execute, sql: str, params, context: dict[str, Any], wrapper, cursor, value: str):
    """BEGIN, the setting and the transaction's first statement in one simple query: one
    round trip where they took two (issue 16). Django's client-side binding cursor (the
    default with psycopg 3) sends a query by the simple protocol, which carries several
    statements; the cursor is then moved past the results of the first two, so Django reads
    the statement's own (rows, rowcount). psycopg would send a BEGIN of its own before the
    query (it does while libpq reports the connection idle): told it is in autocommit for
    this one call, it does not, and the explicit BEGIN leaves the transaction open after it.
    Server-side cursors (DECLARE) and executemany still take ``_begin``'s round trip."""
    pg = wrapper.connection
    begin = _begin_sql(value).decode() + "; "
    pg._autocommit = True  # psycopg 3's own flag (pinned); the public setter refuses mid-transaction
    try:
        result = execute(begin + sql, params, False, context)
    finally:
        pg._autocommit = False
        if pg.info.transaction_status != TransactionStatus.IDLE:
            wrapper._tessera_rls_value = value
    cursor.nextset()  # past BEGIN's result
    cursor.nextset()  # past set_config's: on the statement's own
    return result


def _begin(pg, value: str) -> None:
    """Open the transaction psycopg would open, with the setting, in one simple query.

    psycopg sends its own BEGIN only while libpq reports the connection idle, so after this
    it carries on inside our transaction. ``value`` is a tenant's integer key or empty.
    """
    result = pg.pgconn.exec_(_begin_sql(value))
    if result.status != ExecStatus.TUPLES_OK:
        raise _error(result)


def _error(result: Any) -> psycopg.Error:
    """The error psycopg raises for a failed ``result``: the class of the SQLSTATE the server
    sent (PostgreSQL shutting down: AdminShutdown; pgbouncer's own errors: 08P01), so that only
    a service going away reads as one (core.outage); OperationalError when there is no SQLSTATE
    because libpq lost the connection (PostgreSQL gone, pgbouncer closing it)."""
    if result.error_field(DiagnosticField.SQLSTATE):
        return psycopg.errors.error_from_result(result)
    return psycopg.OperationalError(
        f"could not begin the tenant's transaction: {result.error_message.decode(errors='replace')}")


# Called with the savepoint id after each ROLLBACK TO SAVEPOINT (audit drops deferred events).
savepoint_rollback_listeners: list = []


def install(sender, connection, **kwargs) -> None:
    """connection_created receiver: wrap every PostgreSQL connection once."""
    if connection.vendor != "postgresql" or rls_execute_wrapper in connection.execute_wrappers:
        return
    connection.execute_wrappers.append(rls_execute_wrapper)


def connect() -> None:
    connection_created.connect(install, dispatch_uid="tenants.db.install")
