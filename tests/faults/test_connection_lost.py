"""A tenant's first statement on a connection the server dropped is an outage, in Django's class
(issue 15).

tenants.db opens each tenant transaction itself (``BEGIN; set_config(...)`` in one round trip,
outside Django's cursor). Its error used to be psycopg's own OperationalError, which Django's
error wrapper never saw, so core.outage, which knows Django's database errors, answered 500.
Directly on PostgreSQL this hardly showed (a dead connection fails Django's health check
first); through pgbouncer in transaction pooling it was a third of the answers while
PostgreSQL was down, since pgbouncer keeps the client connection and fails the first statement
of each transaction (tests/faults/test_prodlike_faults.py). A genuine SQL error in the same
place must stay a programming error (a 500).
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, InternalError, OperationalError, ProgrammingError, connection

from core.outage import is_outage
from tenants import db as tenants_db
from tenants.context import tenant_context
from tenants.middleware import _lost_at_commit
from tenants.models import Tenant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _terminate_own_backend() -> None:
    """The server ends this connection's backend, as a PostgreSQL shutdown does."""
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:  # same role: allowed to end its own backends
        other.execute("SELECT pg_terminate_backend(%s)", [backend])


def test_the_tenant_transaction_failing_to_begin_is_an_outage_and_closes_the_connection(world_a):
    tenant = world_a.tenant
    _terminate_own_backend()
    with tenant_context(tenant), pytest.raises(OperationalError) as raised:
        list(Tenant.objects.values_list("pk", flat=True)[:1])  # the first statement begins the transaction
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    assert is_outage(raised.value)
    # The same process carries on: the dead connection was dropped, the next statement reconnects.
    with tenant_context(tenant):
        assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_a_sql_error_in_the_same_place_is_not_an_outage(db):
    connection.ensure_connection()
    result = connection.connection.pgconn.exec_(b"BEGIN; SELEC 1")
    try:
        error = tenants_db._error(result)
    finally:
        connection.connection.pgconn.exec_(b"ROLLBACK")
    assert isinstance(error, psycopg.errors.SyntaxError)
    with pytest.raises(ProgrammingError) as raised, connection.wrap_database_errors:
        raise error
    assert not is_outage(raised.value)


def _as_django(error: psycopg.Error) -> DatabaseError:
    """``error`` as Django raises it from a statement (its class, the psycopg error as cause)."""
    with pytest.raises(DatabaseError) as raised, connection.wrap_database_errors:
        raise error
    return raised.value


def test_a_commit_answered_out_of_protocol_is_an_outage_one_the_server_refused_is_not(db):
    """tenants.middleware: a COMMIT pgbouncer answered with two results (psycopg's InternalError,
    no SQLSTATE: no server said it) is the connection failing, a 503; a server's own error at
    COMMIT (with its SQLSTATE) on a connection that still answers stays a 500."""
    connection.ensure_connection()
    out_of_protocol = _as_django(psycopg.InternalError("received 2 results from command 'COMMIT'"))
    lost = _lost_at_commit(out_of_protocol)
    assert isinstance(lost, OperationalError) and is_outage(lost)

    with connection.cursor() as cursor:  # a real server error of the InternalError class (25P02)
        cursor.execute("BEGIN")
        with pytest.raises(DatabaseError):
            cursor.execute("SELEC 1")
        try:
            cursor.execute("SELECT 1")
        except DatabaseError as refused:
            from_server = refused
        cursor.execute("ROLLBACK")
    assert isinstance(from_server, InternalError) and from_server.__cause__.sqlstate == "25P02"
    assert _lost_at_commit(from_server) is None
