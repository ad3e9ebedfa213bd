"""Scale-out: two web nodes behind nginx share PostgreSQL (through pgbouncer in transaction
pooling mode) and one Redis, and nothing a node keeps to itself can break a flow.

- A flow may hop nodes at every step: sign-in on node 0, code exchange on node 1, refresh on
  node 0 (each request pinned through nginx; the nodes' access logs show who served what).
- The per-process lookup caches (clients, tenants, keys) converge within
  TESSERA_LOOKUP_CACHE_SECONDS after a change made through the other node.
- The tenant of row-level security, a transaction-local setting, never leaks from one client to
  another over pgbouncer's shared server connections: many threads of the application, each
  alternating tenants, through a pool of two server connections (tests/rls has the same check on
  persistent direct connections).
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from devtools.prodlike import NARROW_POOL_SIZE, ProdLike, authorize, sign_in_and_authorize
from tests.prodlike.conftest import LOOKUP_CACHE_SECONDS
from tests.prodlike.test_prodlike import admin_token

# One topology per session: keep these tests on one xdist worker (with --dist loadgroup).
pytestmark = [pytest.mark.prodlike, pytest.mark.xdist_group("prodlike")]


def served(prodlike: ProdLike, node: int, request: str) -> int:
    """How many times node ``node``'s gunicorn logged ``request`` ("POST /path"; its access log)."""
    return len(re.findall(rf'"{re.escape(request)}[ ?]', prodlike.logs(f"web{node}")))


def test_a_flow_alternates_nodes_sign_in_on_one_exchange_on_the_other_refresh_on_the_first(prodlike, demo):
    node0, node1 = prodlike.pinned_url(0), prodlike.pinned_url(1)
    before = (served(prodlike, 0, "POST /t/acme/login"), served(prodlike, 1, "POST /t/acme/token"),
              served(prodlike, 0, "POST /t/acme/token"))
    http = prodlike.session()
    grant = sign_in_and_authorize(http, demo.issuer, client_id=demo.web_client_id,
                                  redirect_uri=demo.web_redirect_uri, username=demo.username,
                                  password=demo.password, authorization_endpoint=f"{node0}/t/acme/authorize")
    exchanged = http.post(f"{node1}/t/acme/token", headers={"Authorization": demo.basic("web")}, timeout=10, data={
        "grant_type": "authorization_code", "code": grant["code"], "redirect_uri": demo.web_redirect_uri,
        "code_verifier": grant["verifier"]})
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    refreshed = http.post(f"{node0}/t/acme/token", headers={"Authorization": demo.basic("web")}, timeout=10,
                          data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    # Reuse of the rotated refresh token, at the other node, is detected there too.
    reused = http.post(f"{node1}/t/acme/token", headers={"Authorization": demo.basic("web")}, timeout=10,
                       data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    keys = KeySet.import_key_set(http.get(f"{node1}/t/acme/jwks.json", timeout=10).json())
    first, second = (jwt.decode(issued["id_token"], keys, algorithms=["RS256", "ES256"]).claims
                     for issued in (tokens, refreshed.json()))
    assert first["nonce"] == grant["nonce"]
    for claims in (first, second):
        assert claims["iss"] == demo.issuer and claims["aud"] == demo.web_client_id
    assert second["sub"] == first["sub"]
    after = (served(prodlike, 0, "POST /t/acme/login"), served(prodlike, 1, "POST /t/acme/token"),
             served(prodlike, 0, "POST /t/acme/token"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 2, 1]


def test_the_lookup_caches_converge_within_their_lifetime_after_a_change_on_the_other_node(prodlike, demo):
    node0, node1 = prodlike.pinned_url(0), prodlike.pinned_url(1)
    kept, removed = "https://kept.example.test/cb", "https://removed.example.test/cb"
    http = prodlike.session()
    bearer = {"Authorization": f"Bearer {admin_token(prodlike, demo, 'admin:read admin:write', base=node1)}"}
    created = http.post(f"{node1}/t/acme/api/v1/clients/", headers=bearer, timeout=10, json={
        "name": "Convergence", "confidential": True, "first_party": True,
        "grant_types": ["authorization_code"], "redirect_uris": [kept, removed]})
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]

    def authorize_at_node0(redirect_uri: str) -> str | None:
        """Where node 0 sends a signed-in browser: the redirect URI with a code, or None (refused)."""
        query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                           "scope": "openid", "state": "s", "code_challenge_method": "S256",
                           "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"})
        response = http.get(f"{node0}/t/acme/authorize?{query}", allow_redirects=False, timeout=10)
        if response.is_redirect and "code" in parse_qs(urlsplit(response.headers["Location"]).query):
            return response.headers["Location"].split("?")[0]
        assert response.status_code == 400, (response.status_code, response.headers.get("Location"))
        return None

    authorize(http, f"{node0}/t/acme/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": kept, "scope": "openid",
        "state": "s", "code_challenge_method": "S256",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}),
        username=demo.username, password=demo.password)
    for _ in range(6):  # both of node 0's workers have the client cached (most likely)
        assert authorize_at_node0(removed) == removed

    changed = http.patch(f"{node1}/t/acme/api/v1/clients/{client_id}/", headers=bearer, timeout=10,
                         json={"redirect_uris": [kept]})
    assert changed.status_code == 200, changed.text
    changed_at = time.monotonic()
    deadline = changed_at + LOOKUP_CACHE_SECONDS + 3
    while authorize_at_node0(removed) is not None:
        assert time.monotonic() < deadline, "node 0 still accepts the removed redirect URI"
        time.sleep(0.1)
    refused_after = time.monotonic() - changed_at
    # Past the lifetime every worker of node 0 refuses it, and the kept one still works.
    time.sleep(max(0.0, LOOKUP_CACHE_SECONDS + 0.2 - refused_after))
    for _ in range(6):
        assert authorize_at_node0(removed) is None
        assert authorize_at_node0(kept) == kept
    assert refused_after <= LOOKUP_CACHE_SECONDS + 1.5  # the lifetime, plus a request or two


# Runs inside the application (manage.py shell, production settings) with DATABASE_URL on
# pgbouncer's pool of two server connections: THREADS threads, each with its own persistent
# connection to pgbouncer, alternate between the two tenants through the application's own RLS
# plumbing (tenants.db), and check what each transaction sees.
RLS_CHECK = """
import json, threading
from django.db import connection, connections, transaction
from accounts.models import User
from idp.models import Application
from tenants.context import tenant_context
from tenants.models import Tenant

THREADS, ROUNDS = 12, 25
tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=["acme", "globex"])}
order = [tenants["acme"], tenants["globex"]]
errors, pids, transactions = [], set(), [0]
lock = threading.Lock()

def raw_setting():
    return connection.connection.execute("SELECT current_setting('app.tenant_id', true)").fetchone()[0]

def worker(offset):
    try:
        for n in range(ROUNDS):
            tenant = order[(n + offset) % 2]
            with tenant_context(tenant), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT current_setting('app.tenant_id', true), pg_backend_pid()")
                    setting, pid = cursor.fetchone()
                    cursor.execute("SELECT DISTINCT tenant_id FROM accounts_user")
                    users = {row[0] for row in cursor.fetchall()}
                clients = set(Application.objects.values_list("tenant_id", flat=True))
                if setting != str(tenant.pk) or users != {tenant.pk} or clients != {tenant.pk}:
                    with lock:
                        errors.append(f"{tenant.slug}: setting {setting}, users of {users}, clients of {clients}")
            with tenant_context(tenant):  # autocommit; a plain cursor (no server-side one) via pgbouncer
                if [u.tenant_id for u in User.objects.iterator(chunk_size=1)] != [tenant.pk]:
                    with lock:
                        errors.append(f"{tenant.slug}: iterator saw other rows")
            if raw_setting() not in ("", None):
                with lock:
                    errors.append("a setting outlived its transaction")
            with lock:
                pids.add(pid)
                transactions[0] += 1
    except Exception as exc:
        with lock:
            errors.append(repr(exc))
    finally:
        connections.close_all()

threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=120)
print(json.dumps({"errors": errors[:20], "server_pids": sorted(pids), "transactions": transactions[0]}))
"""


def test_the_rls_tenant_never_leaks_across_pgbouncers_shared_server_connections(prodlike, demo, other_demo):
    result = prodlike.manage("shell", "-c", RLS_CHECK,
                             env={"DATABASE_URL": prodlike.narrow_database_url, "DB_CONN_MAX_AGE": "600"})
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["errors"] == []
    assert outcome["transactions"] == 12 * 25
    # Twelve clients really did share pgbouncer's two server connections.
    assert 1 <= len(outcome["server_pids"]) <= NARROW_POOL_SIZE
