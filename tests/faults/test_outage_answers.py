"""What a caller reads when a backing service fails mid-request (core.outage), in-process.

The topology tests (tests/faults/test_prodlike_faults.py) stop PostgreSQL under load; here the
same error is raised where the tenant lookup runs, before any view, so each form of the answer
is checked on its own: the OAuth error body on protocol endpoints, a problem document on the
admin API, the readable page elsewhere; each a 503 with Retry-After. A bug is still a 500.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client

from tenants import middleware

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    def lookup(slug: str):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(middleware, "active_tenant", lookup)


def _client() -> Client:
    return Client(raise_request_exception=False)


def test_a_protocol_endpoint_answers_temporarily_unavailable(world_a, database_down):
    response = _client().post(f"/t/{world_a.tenant.slug}/token", "grant_type=client_credentials",
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"] == "temporarily_unavailable"
    assert response["Cache-Control"] == "no-store"


def test_the_admin_api_answers_a_problem_document(world_a, database_down):
    response = _client().get(f"/t/{world_a.tenant.slug}/api/v1/users/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 503


def test_a_page_answers_a_readable_page_in_its_language(world_a, database_down):
    response = _client().get(f"/t/{world_a.tenant.slug}/login", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "text/html" in response["Content-Type"]
    assert "Vorübergehend nicht erreichbar" in response.content.decode()


def test_a_bug_is_still_a_500(world_a, monkeypatch):
    def lookup(slug: str):
        raise KeyError("a bug, not an outage")

    monkeypatch.setattr(middleware, "active_tenant", lookup)
    assert _client().get(f"/t/{world_a.tenant.slug}/login").status_code == 500
