"""CORS per tenant (idp.cors), as a browser sees it: a tenant's protocol endpoints answer the web
origins its own clients registered, and nothing else; no page answers a preflight; nothing is
allowed with credentials; a change to a client reaches the answers within the lookup-cache time."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client

from core.actors import system_actor
from idp.models import Application
from idp.services.clients import update_client
from tenants.context import tenant_context
from tests.conftest import NATIVE_REDIRECT
from tests.oidc import Browser
from tests.security.flows import obtain_code, token_request

ACME_APP = "https://app.acme.test"
GLOBEX_APP = "https://app.globex.test"
ENDPOINTS = ("token", "userinfo", "revoke", "introspect")


def _register_origins(world, *origins: str) -> None:
    with tenant_context(world.tenant):
        update_client(world.spa.application, actor=system_actor("test"), web_origins=list(origins))


def _preflight(path: str, origin: str, method: str = "POST"):
    return Client().options(path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
                            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type")


@pytest.fixture
def origins(world_a, world_b):
    _register_origins(world_a, ACME_APP)
    _register_origins(world_b, GLOBEX_APP)
    return world_a, world_b


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_registered_origin_gets_its_preflight_answered_without_credentials(origins, endpoint):
    response = _preflight(f"/t/acme/{endpoint}", ACME_APP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ACME_APP
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response
    assert "origin" in response["Vary"].lower()


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_another_tenants_client_origin_is_not_allowed_here(origins, endpoint):
    """Globex's app origin, at Acme: refused, while Globex itself allows it."""
    assert "Access-Control-Allow-Origin" not in _preflight(f"/t/acme/{endpoint}", GLOBEX_APP)
    assert _preflight(f"/t/globex/{endpoint}", GLOBEX_APP)["Access-Control-Allow-Origin"] == GLOBEX_APP


@pytest.mark.django_db
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://app.acme.test.evil.example",
                                    "http://app.acme.test", "https://app.acme.test:8443"])
def test_an_unregistered_origin_gets_no_cors_headers(origins, origin):
    response = _preflight("/t/acme/token", origin)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Methods" not in response
    post = Client().post("/t/acme/token", {"grant_type": "authorization_code"}, HTTP_ORIGIN=origin)
    assert "Access-Control-Allow-Origin" not in post


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/t/acme/login", "/t/acme/authorize", "/t/acme/account/", "/t/acme/logout",
                                  "/t/acme/api/v1/users/", "/t/acme/password/reset/", "/t/nope/token",
                                  "/t/acme/jwks.json", "/t/acme/.well-known/openid-configuration", "/metrics"])
def test_no_preflight_is_answered_outside_the_protocol_endpoints(origins, path):
    """Even from the tenant's own registered origin: pages, the admin API, an unknown tenant.
    (Discovery and the JWKS are public documents answered with "*" to a plain GET, below.)"""
    response = _preflight(path, ACME_APP)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Methods" not in response
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/t/acme/jwks.json", "/t/acme/.well-known/openid-configuration"])
def test_public_metadata_is_readable_from_any_origin_without_credentials(origins, path):
    for origin in (ACME_APP, "https://anyone.example"):
        response = Client().get(path, HTTP_ORIGIN=origin)
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
def test_errors_of_the_token_endpoint_are_readable_by_a_registered_origin(origins):
    """A single-page app must see invalid_grant (and sign in again), not a network error."""
    form = urlencode({"grant_type": "refresh_token", "refresh_token": "nope",
                      "client_id": origins[0].spa.application.client_id})
    response = Client().post("/t/acme/token", form, content_type="application/x-www-form-urlencoded",
                             HTTP_ORIGIN=ACME_APP)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert response["Access-Control-Allow-Origin"] == ACME_APP
    userinfo = Client().get("/t/acme/userinfo", HTTP_ORIGIN=ACME_APP)
    assert userinfo.status_code == 401 and userinfo["Access-Control-Allow-Origin"] == ACME_APP


@pytest.mark.django_db(transaction=True)
def test_a_code_exchange_from_the_clients_origin_carries_one_allow_origin_header(live_server, origins):
    """oauthlib adds the header for the client's own origin, corsheaders for the tenant's: the
    browser must see exactly one (requests joins repeated headers with a comma)."""
    world = origins[0]
    issuer = f"{live_server.url}/t/acme"
    client_id = world.spa.application.client_id
    code, request = obtain_code(Browser(live_server.url), issuer, client_id, NATIVE_REDIRECT)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": request["redirect_uri"],
            "code_verifier": request["code_verifier"], "client_id": client_id}
    response = requests.post(f"{issuer}/token", data=data, headers={"Origin": ACME_APP})
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == ACME_APP
    assert "Access-Control-Allow-Credentials" not in response.headers
    refused = token_request(issuer, {"grant_type": "refresh_token", "refresh_token": "nope"}, client_id, None,
                            auth="none")
    assert "Access-Control-Allow-Origin" not in refused.headers  # no Origin sent: no CORS answer


@pytest.mark.django_db
def test_the_allowed_origins_follow_a_client_change(origins, settings):
    """In this process at once (the save evicts the cache); a change this process did not see
    (another process's, here a bare UPDATE) within LOOKUP_CACHE_SECONDS."""
    settings.TESSERA = {**settings.TESSERA, "LOOKUP_CACHE_SECONDS": 1}
    world = origins[0]
    assert _preflight("/t/acme/token", ACME_APP)["Access-Control-Allow-Origin"] == ACME_APP

    moved = "https://new.acme.test"
    _register_origins(world, moved)
    assert "Access-Control-Allow-Origin" not in _preflight("/t/acme/token", ACME_APP)
    assert _preflight("/t/acme/token", moved)["Access-Control-Allow-Origin"] == moved

    with tenant_context(world.tenant):
        Application.objects.filter(pk=world.spa.application.pk).update(allowed_origins=ACME_APP)
    assert _preflight("/t/acme/token", moved)["Access-Control-Allow-Origin"] == moved  # cached, for now
    time.sleep(1.1)
    assert "Access-Control-Allow-Origin" not in _preflight("/t/acme/token", moved)
    assert _preflight("/t/acme/token", ACME_APP)["Access-Control-Allow-Origin"] == ACME_APP


@pytest.mark.django_db
def test_registered_origins_are_compared_as_browsers_send_them(world_a):
    """Registered with upper case and the default port: the browser's form still matches."""
    _register_origins(world_a, "https://App.Acme.Test:443")
    assert _preflight("/t/acme/token", ACME_APP)["Access-Control-Allow-Origin"] == ACME_APP
