"""manage.py list_clients, update_client and delete_client: a wrong redirect URI is fixed on the
client that exists, keeping its id, its secret and its users' consent."""

from __future__ import annotations

import json

import pytest

from tests.commands.conftest import assert_usage_error

CALLBACK = "https://rp.example.test/callback"


@pytest.fixture
def acme(manage):
    manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    created = json.loads(manage.ok("create_client", "--tenant", "acme", "--name", "Web", "--confidential",
                                   "--grant", "authorization_code", "--grant", "refresh_token",
                                   "--redirect-uri", CALLBACK + "/", "--json").stdout)
    return manage, created


def _listed(manage) -> dict[str, dict]:
    out = manage.ok("list_clients", "--tenant", "acme", "--json").stdout
    return {row["client_id"]: row for row in map(json.loads, out.splitlines())}


def test_list_update_and_delete_a_client(acme):
    manage, created = acme
    client_id = created["client_id"]
    [(digest_before,)] = manage.query("SELECT client_secret FROM idp_application")
    listed = _listed(manage)[client_id]
    assert listed["redirect_uris"] == [CALLBACK + "/"] and listed["confidential"] is True
    assert "secret" not in json.dumps(listed).replace("confidential", "")

    result = manage.ok("update_client", "--tenant", "acme", client_id, "--redirect-uri", CALLBACK,
                       "--post-logout-redirect-uri", "https://rp.example.test/bye", "--web-origin",
                       "https://rp.example.test", "--algorithm", "ES256", "--access-token-format", "jwt",
                       "--first-party", "--name", "Web App", "--json")
    changes = json.loads(result.stdout)["changes"]
    assert changes["redirect_uris"] == {"from": [CALLBACK + "/"], "to": [CALLBACK]}
    assert set(changes) == {"name", "redirect_uris", "post_logout_redirect_uris", "web_origins", "algorithm",
                            "access_token_format", "first_party"}
    listed = _listed(manage)[client_id]
    assert (listed["name"], listed["redirect_uris"], listed["web_origins"], listed["first_party"]) == (
        "Web App", [CALLBACK], ["https://rp.example.test"], True)
    # Same id, same secret: the relying party's configuration keeps working.
    assert manage.query("SELECT client_id, client_secret FROM idp_application") == [(client_id, digest_before)]
    [event] = [e for e in result.audit if e["action"] == "client.updated"]
    assert event["details"]["changes"]["name"] == {"from": "Web", "to": "Web App"}
    assert manage.ok("update_client", "--tenant", "acme", client_id, "--name", "Web App").stdout.strip() == (
        f"{client_id}: nothing to change")

    assert_usage_error(manage("delete_client", "--tenant", "acme", client_id), "--yes")
    deleted = manage.ok("delete_client", "--tenant", "acme", client_id, "--yes", "--json")
    assert json.loads(deleted.stdout) == {"client_id": client_id, "deleted": True, "tokens_revoked": 0}
    assert any(e["action"] == "client.deleted" for e in deleted.audit)
    assert manage.query("SELECT count(*) FROM idp_application") == [(0,)]
    assert manage.ok("list_clients", "--tenant", "acme").stdout.strip() == "no clients"


@pytest.mark.parametrize("args, fragment", [
    (("--redirect-uri", "http://rp.example.test/callback"), "https"),
    (("--redirect-uri", "https://rp.example.test/*"), "wildcard"),
    (("--web-origin", "https://rp.example.test/path"), "origin"),
    (("--web-origin", "http://rp.example.test"), "https"),
    (("--grant", "client_credentials", "--grant", "refresh_token"), "refresh_token"),
    (("--name", "  "), "name"),
])
def test_an_invalid_change_is_refused_and_changes_nothing(acme, args, fragment):
    manage, created = acme
    before = _listed(manage)
    assert_usage_error(manage("update_client", "--tenant", "acme", created["client_id"], *args), fragment)
    assert _listed(manage) == before


def test_a_client_of_another_tenant_cannot_be_touched(acme):
    manage, created = acme
    manage.ok("create_tenant", "globex", "--name", "Globex")
    for command in (("update_client", "--name", "Mine now"), ("delete_client", "--yes")):
        assert_usage_error(manage(command[0], "--tenant", "globex", created["client_id"], *command[1:]), "no client")
    assert _listed(manage)[created["client_id"]]["name"] == "Web"
    assert manage.ok("list_clients", "--tenant", "globex").stdout.strip() == "no clients"
