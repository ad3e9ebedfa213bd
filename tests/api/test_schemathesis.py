"""schemathesis against the live OpenAPI document: every operation of the admin API, called
with generated input by three tokens (full admin, read-only, no admin scope), answers no 5xx
and nothing the document does not describe (status, content type, headers, body).

The document is read from /api/schema/ through the WSGI application, so it is the one the
deployment serves; tenant operations run at tenant acme, platform operations at the platform
tenant, each with that tenant's own tokens.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from idp.models import GrantType
from idp.services.clients import create_client
from settings.wsgi import application
from tenants.context import tenant_context
from tenants.services import create_tenant
from tests.api.conftest import client_credentials_token, objects_of, signed_in_with_a_token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES = 25
FIGURES: Counter[str] = Counter()


# Read at collection, from the running application (no database needed for the document).
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", application)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture
def wsgi_keeps_the_connection(db) -> Any:
    """As Django's test client does: the WSGI handler must not close the test's connection
    (and with it the test's transaction) at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(admin_a) -> dict[str, dict[str, str]]:
    """{"tenant"|"platform": {"admin"|"reader"|"none": access token}}."""
    platform = create_tenant(settings.TESSERA.get("PLATFORM_TENANT", "platform"), "Platform")
    with tenant_context(platform):
        def service(scopes: list[str]) -> Any:
            return create_client(name=f"platform {' '.join(scopes) or 'none'}", confidential=True,
                                 grant_types=[GrantType.CLIENT_CREDENTIALS], redirect_uris=[], admin_scopes=scopes)
        platform_clients = {"admin": service(["admin:read", "admin:write"]), "reader": service(["admin:read"]),
                            "none": service([])}
    scopes = {"admin": "admin:read admin:write", "reader": "admin:read", "none": ""}
    tenant_clients = {"admin": admin_a.writer_client, "reader": admin_a.reader_client, "none": admin_a.plain_client}
    return {
        "tenant": {who: client_credentials_token(admin_a.slug, c, scopes[who]) for who, c in tenant_clients.items()},
        "platform": {who: client_credentials_token(platform.slug, c, scopes[who])
                     for who, c in platform_clients.items()},
    }


@pytest.fixture
def objects(admin_a, settings) -> dict[str, str]:
    """Real objects of tenant acme (and a tenant for the platform operations) for the path
    parameters, so half the generated cases reach a real user, client, key, event, session,
    token family, webhook and delivery instead of a 404 (the automation client and the full
    admin, whose loss would end the run early, are not among them)."""
    settings.TESSERA = {**settings.TESSERA, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True}
    signed_in_with_a_token(admin_a, "alice")
    with tenant_context(admin_a.tenant):
        victim = create_client(name="Victim", confidential=True, grant_types=[GrantType.CLIENT_CREDENTIALS],
                               redirect_uris=[])
    create_tenant("victim", "Victim Inc")
    return {**objects_of(admin_a, user=admin_a.world.user, client=victim.application), "slug": "victim"}


@pytest.fixture(scope="module", autouse=True)
def _figures():
    """Writes the run's figures (operations, cases, calls, statuses) to var/schemathesis.json."""
    yield
    path = Path(settings.BASE_DIR) / "var" / "schemathesis.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(dict(sorted(FIGURES.items())), indent=1))


def test_the_document_covers_the_whole_admin_api():
    paths = {operation.path for operation in OPERATIONS}
    assert "/t/{tenant}/api/v1/clients/" in paths and "/t/{tenant}/api/v1/audit/events/export/" in paths
    assert SCHEMA.raw_schema["openapi"].startswith("3.1")


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_every_operation_answers_as_documented(operation, tokens, objects, wsgi_keeps_the_connection):
    where = "tenant" if any(p.name == "tenant" for p in operation.path_parameters) else "platform"

    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        if where == "tenant":
            case.path_parameters["tenant"] = "acme"
        FIGURES[f"case {operation.label}"] += 1
        FIGURES["cases"] += 1
        if FIGURES["cases"] % 2:
            FIGURES["cases naming real objects"] += 1
            case.path_parameters.update({name: objects[name] for name in case.path_parameters if name in objects})
        for who, token in tokens[where].items():
            response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
            FIGURES[f"status {who} {response.status_code}"] += 1
            FIGURES["calls"] += 1

    FIGURES["operations"] += 1
    call()
