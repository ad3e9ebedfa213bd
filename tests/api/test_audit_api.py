"""The admin API's audit trail: filters, cursor pages, and an export an auditor verifies offline."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from audit.models import Action, AuditEvent
from tenants.context import tenant_context
from tests.api.conftest import Api, client_credentials_token
from tests.audit.test_tamper_evidence import _write_as_owner

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "owner"])


def _sign_in_failures(slug: str, n: int) -> None:
    http = Client()
    for _ in range(n):
        http.get(f"/t/{slug}/login")
        http.post(f"/t/{slug}/login", {"username": "alice", "password": "wrong password!"})


def test_events_are_filtered_and_paged_with_a_cursor(admin_a, api_a: Api):
    _sign_in_failures(admin_a.slug, 3)
    failed = api_a.get("audit/events/", action=Action.LOGIN_FAILED, page_size=2)
    assert failed.status_code == 200, failed.content
    page = failed.json()
    assert [e["action"] for e in page["results"]] == [Action.LOGIN_FAILED] * 2
    assert page["results"][0]["seq"] > page["results"][1]["seq"]  # newest first
    rest = api_a.get(page["next"]).json()
    assert [e["action"] for e in rest["results"]] == [Action.LOGIN_FAILED] and rest["next"] is None
    assert {e["subject"] for e in page["results"] + rest["results"]} == {"alice"}

    tokens = api_a.get("audit/events/", action_prefix="token.", outcome="success").json()["results"]
    assert tokens and all(e["action"].startswith("token.") for e in tokens)
    client_id = admin_a.writer_client.application.client_id
    by_actor = api_a.get("audit/events/", actor_id=client_id).json()["results"]
    assert by_actor and {e["actor_id"] for e in by_actor} == {client_id}
    one = api_a.get(f"audit/events/{page['results'][0]['seq']}/")
    assert one.status_code == 200 and one.json()["hash"] == page["results"][0]["hash"]
    bad = api_a.get("audit/events/", occurred_after="yesterday")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"
    assert api_a.get("audit/events/", cursor="not-a-cursor").status_code == 404


def test_an_export_verifies_offline_and_a_row_tampered_in_the_database_is_found(admin_a, api_a: Api, tmp_path):
    _sign_in_failures(admin_a.slug, 2)
    call_command("checkpoint_audit", "--tenant", admin_a.slug, stdout=io.StringIO())
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(Client().get(f"/t/{admin_a.slug}/jwks.json").content)

    def export(name: str) -> str:
        response = api_a.get("audit/events/export/")
        assert response.status_code == 200 and response["Content-Type"] == "application/jsonl"
        path = tmp_path / name
        path.write_bytes(b"".join(response.streaming_content))
        return str(path)

    out = io.StringIO()
    call_command("verify_audit", "--export", export("clean.jsonl"), "--jwks", str(jwks), stdout=out)
    assert "ok" in out.getvalue(), out.getvalue()
    with tenant_context(admin_a.tenant):
        exported = AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED).get()
        victim = AuditEvent.objects.filter(action=Action.LOGIN_FAILED).order_by("seq").first()
    assert exported.details["lines"] > 3 and exported.actor_id == admin_a.writer_client.application.client_id

    # Someone with the database rewrites an event (a failed sign-in that never happened).
    _write_as_owner(admin_a.tenant, ("UPDATE audit_auditevent SET subject = %s WHERE id = %s",
                                     ["mallory", victim.pk]))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", "--export", export("tampered.jsonl"), "--jwks", str(jwks), stdout=out)
    assert "BROKEN" in out.getvalue(), out.getvalue()


def test_the_trail_is_read_only_and_needs_admin_read(admin_a, api_a: Api):
    assert api_a.delete("audit/events/1/").status_code == 405
    plain = Api(client_credentials_token(admin_a.slug, admin_a.plain_client, ""), admin_a.base)
    assert plain.get("audit/events/").status_code == 403
    assert plain.get("audit/events/export/").status_code == 403
