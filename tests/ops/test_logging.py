"""JSON log lines (core.logging): one object per line, each line of a request carrying the request
id that X-Request-ID and the audit events carry; and no password, client secret, code or token in
any line of a whole sign-in and token flow, at DEBUG."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings as django_settings
from django.test import Client

from core.logging import JsonFormatter
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import full_flow, introspect, refresh, sign_in, token_request

ROOT = Path(__file__).resolve().parents[2]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter(context=django_settings.LOGGING["formatters"]["json"]["context"]))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[_Lines]:
    """Every record, formatted as production writes it; the root logger at DEBUG meanwhile
    (loggers configured with their own level, oauthlib's for one, keep it)."""
    handler = _Lines()
    root, audit = logging.getLogger(), logging.getLogger("tessera.audit")
    level = root.level
    root.addHandler(handler)
    audit.addHandler(handler)  # it does not propagate
    root.setLevel(logging.DEBUG)
    yield handler
    root.setLevel(level)
    root.removeHandler(handler)
    audit.removeHandler(handler)


@pytest.mark.django_db(transaction=True)  # the audit line is written once the request commits
def test_each_line_of_a_request_carries_its_request_id_and_tenant(world_a, log_lines):
    """The request's own lines (its audit event's, inside the tenant's context) carry both; the
    line Django writes for a 4xx response carries the request id (the path names the tenant)."""
    request_id = "req-0123456789-abcdef"
    form = urlencode({"grant_type": "client_credentials", "client_id": world_a.web.application.client_id,
                      "client_secret": "wrong"})
    response = Client().post("/t/acme/token", form, content_type="application/x-www-form-urlencoded",
                             HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 401 and response["X-Request-ID"] == request_id
    missing = Client().get("/t/acme/no-such-page", HTTP_X_REQUEST_ID="req-other-0123456789")
    assert missing.status_code == 404

    lines = [json.loads(line) for line in log_lines.lines]
    ours = [line for line in lines if line.get("request_id") == request_id]
    assert any(line["logger"] == "django.request" and line["level"] == "WARNING" for line in ours), lines
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    not_found = [line for line in lines if line.get("request_id") == "req-other-0123456789"]
    assert not_found and all(line["logger"] == "django.request" for line in not_found), lines
    audited = [line for line in ours if line["logger"] == "tessera.audit"]
    assert audited and all(line["tenant"] == "acme" for line in audited), lines
    assert json.loads(audited[0]["message"])["request_id"] == request_id  # the audit event's own
    assert all(line.get("request_id") for line in lines if line["logger"] == "django.request"), lines


def test_a_traceback_stays_inside_its_one_line():
    handler = _Lines()
    logger = logging.getLogger("tessera.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord("tessera.test", logging.ERROR, __file__, 1, "it failed", (), sys.exc_info())
    line = handler.format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "it failed" and "ValueError: boom" in parsed["exc"]


def _log_once(log_format: str) -> subprocess.CompletedProcess:
    code = "import django, logging; django.setup(); logging.getLogger('tessera.test').warning('hello %s', 'there')"
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.dev", "LOG_FORMAT": log_format,
                   "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=60)


def test_log_format_json_switches_the_console_to_json_lines():
    done = _log_once("json")
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello there" and line["logger"] == "tessera.test" and line["level"] == "WARNING"
    plain = _log_once("plain")
    assert plain.returncode == 0 and "WARNING tessera.test hello there" in plain.stderr
    wrong = _log_once("xml")
    assert wrong.returncode != 0 and "LOG_FORMAT must be plain or json" in wrong.stderr


@pytest.mark.django_db(transaction=True)
def test_no_secret_reaches_any_log_line_of_a_whole_flow(live_server, world_a, log_lines):
    issuer = f"{live_server.url}/t/acme"
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    wrong = "wrong-password-to-find-in-no-log-7"
    browser = Browser(live_server.url)
    sign_in(browser, issuer, password=wrong)
    tokens = full_flow(browser, issuer, world_a)
    refreshed = refresh(issuer, tokens["refresh_token"], client_id, secret).json()
    refresh(issuer, tokens["refresh_token"], client_id, secret)  # reuse: refused, family revoked, logged
    assert introspect(issuer, refreshed["access_token"], client_id, secret)["active"] is False
    requests.get(f"{issuer}/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    token_request(issuer, {"token": refreshed["refresh_token"]}, client_id, secret, endpoint="revoke")
    token_request(issuer, {"grant_type": "client_credentials"}, client_id, secret + "x")  # wrong secret

    secrets = {"password": PASSWORD, "wrong password": wrong, "client secret": secret, "code": tokens["code"],
               "access token": tokens["access_token"], "refresh token": tokens["refresh_token"],
               "id token": tokens["id_token"], "refreshed access token": refreshed["access_token"],
               "refreshed refresh token": refreshed["refresh_token"]}
    assert len(log_lines.lines) > 20  # the flow did log: requests refused, audit events, ...
    for line in log_lines.lines:
        for name, value in secrets.items():
            assert value not in line, f"{name} in a log line: {line[:300]}"
