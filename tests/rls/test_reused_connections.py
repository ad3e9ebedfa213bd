"""Requests for two tenants on persistent, reused connections, as gunicorn workers run them.

The live server opens a connection per request thread, so it cannot show what happens when
one connection serves tenant A, then tenant B, then A again (CONN_MAX_AGE in production).
Here two threads each keep one persistent connection and alternate between the tenants
through Django's full request handling; every response must be the addressed tenant's own.
"""

from __future__ import annotations

import base64
import threading

import pytest
from django.db import connections
from django.test import Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ROUNDS = 25


def _basic(world) -> str:
    raw = f"{world.web.application.client_id}:{world.web.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _post(client: Client, path: str, body: str, auth: str):
    return client.post(path, body, content_type="application/x-www-form-urlencoded",
                       HTTP_AUTHORIZATION=auth, secure=True)


def test_alternating_tenants_on_persistent_connections(world_a, world_b):
    worlds = {"acme": world_a, "globex": world_b}
    errors: list[str] = []
    settings_dict = connections.settings["default"]
    saved = settings_dict.get("CONN_MAX_AGE", 0)
    settings_dict["CONN_MAX_AGE"] = 600  # keep each thread's connection across requests

    def worker(order: tuple[str, str]) -> None:
        client = Client()
        try:
            for n in range(ROUNDS):
                slug = order[n % 2]
                other = order[(n + 1) % 2]
                world, stranger = worlds[slug], worlds[other]
                issued = _post(client, f"/t/{slug}/token", "grant_type=client_credentials", _basic(world))
                if issued.status_code != 200:
                    errors.append(f"{n} {slug}: token {issued.status_code} {issued.content[:200]!r}")
                    continue
                token = issued.json()["access_token"]
                own = _post(client, f"/t/{slug}/introspect", f"token={token}", _basic(world)).json()
                if own.get("active") is not True or own.get("client_id") != world.web.application.client_id:
                    errors.append(f"{n} {slug}: own introspection {own}")
                foreign = _post(client, f"/t/{other}/introspect", f"token={token}", _basic(stranger))
                if foreign.json() != {"active": False}:
                    errors.append(f"{n} {other}: saw {slug}'s token: {foreign.json()}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(("acme", "globex"),)),
               threading.Thread(target=worker, args=(("globex", "acme"),))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        settings_dict["CONN_MAX_AGE"] = saved
    assert errors == []


def test_a_request_transaction_opens_with_its_first_statement_in_one_round_trip(world_a, world_b):
    """tenants.db sends BEGIN, the tenant setting and the first statement as one query. Had
    psycopg sent a BEGIN of its own first (one more round trip), PostgreSQL would warn that a
    transaction is already in progress. The statements that follow see only the tenant's rows."""
    from django.db import connection

    client = Client()
    notices: list[str] = []
    first_statements: list[str] = []

    def seen(execute, sql, params, many, context):
        if sql.startswith("BEGIN; SELECT set_config('app.tenant_id'"):
            first_statements.append(sql)
        return execute(sql, params, many, context)

    settings_dict = connections.settings["default"]
    saved = settings_dict.get("CONN_MAX_AGE", 0)
    settings_dict["CONN_MAX_AGE"] = 600
    try:
        for world, other in ((world_a, world_b), (world_b, world_a)):
            slug = world.tenant.slug
            connection.ensure_connection()
            connection.connection.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
            with connection.execute_wrapper(seen):
                issued = _post(client, f"/t/{slug}/token", "grant_type=client_credentials", _basic(world))
                assert issued.status_code == 200, issued.content
                token = issued.json()["access_token"]
                own = _post(client, f"/t/{slug}/introspect", f"token={token}", _basic(world)).json()
                foreign = _post(client, f"/t/{other.tenant.slug}/introspect", f"token={token}", _basic(other))
            assert own["active"] is True and foreign.json() == {"active": False}
    finally:
        settings_dict["CONN_MAX_AGE"] = saved
        connections.close_all()
    assert not [n for n in notices if "already a transaction in progress" in n], notices
    # Each of the six requests opened its transaction with its first statement.
    assert len(first_statements) == 6, first_statements
    expected = [world_a, world_a, world_b, world_b, world_b, world_a]  # token, own and foreign introspection
    assert [s.split("'")[3] for s in first_statements] == [str(world.tenant.pk) for world in expected]
