"""docker/: what CI can check without a container engine.

The compose file is valid against the Compose Specification's JSON schema (the copy
check-jsonschema ships, vendored from the compose-spec repository), every command in it and in
the Dockerfile names an entry point that exists, every variable it gives the application is one
the application reads, and docker/nginx.conf (which `make prod-like` runs) parses in nginx.
These need no running topology: they run with the rest of the suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.core.management import get_commands

import devtools.prodlike
from devtools.prodlike import ROOT, make_certificates, render_nginx_conf
from settings.database import parse_database_url
from tests.unit.test_production_settings import GOOD

DOCKER = ROOT / "docker"
# What the application's processes are started as.
APP_PROGRAMS = {"gunicorn", "celery", "python"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def app_services() -> dict[str, dict[str, Any]]:
    """The services running our image (built from docker/Dockerfile)."""
    return {name: service for name, service in compose()["services"].items() if "build" in service}


def variables_the_application_reads() -> set[str]:
    """Every environment variable our code reads (the env_* helpers and os.environ)."""
    names = {"DJANGO_SETTINGS_MODULE"}
    for package in ("settings", "core", "tenants", "audit", "accounts", "idp"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            names |= set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', text))
            names |= set(re.findall(r'os\.environ(?:\.get)?[(\[]\s*"([A-Z0-9_]+)"', text))
    return names


def test_the_compose_file_is_valid_against_the_compose_specification():
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    assert schema["$id"] == "compose_spec.json"
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(compose())]
    assert errors == []
    # The schema itself rejects what is not Compose (the check is not vacuous).
    assert list(validator.iter_errors({"services": {"web": {"image": "x", "restart_policy": "always"}}}))


def test_the_topology_is_complete_and_every_dependency_exists():
    services = compose()["services"]
    assert set(services) == {"db", "pgbouncer", "redis", "migrate", "web", "worker", "beat", "shipper", "nginx"}
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
    assert "--appendfsync always" in services["redis"]["command"]
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    assert "./initdb:/docker-entrypoint-initdb.d:ro" in services["db"]["volumes"]


def _commands() -> list[tuple[str, list[str]]]:
    found = [(name, service["command"]) for name, service in app_services().items()]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*?\])\s*$", dockerfile.replace("\\\n", ""), re.MULTILINE | re.DOTALL)
    assert cmd, "docker/Dockerfile has an exec-form CMD"
    found.append(("Dockerfile CMD", json.loads(cmd.group(1))))
    return found


@pytest.mark.parametrize(("where", "command"), _commands(), ids=[where for where, _ in _commands()])
def test_every_command_names_a_real_entry_point(where, command):
    program, *args = command
    assert program in APP_PROGRAMS, where
    if program == "gunicorn":
        module = ROOT / (args[0].split(":")[0].replace(".", "/") + ".py")
        assert module.exists() and "application =" in module.read_text(), where
        config = args[args.index("--config") + 1]
        assert config.startswith("python:") and (ROOT / (config[7:].replace(".", "/") + ".py")).exists(), where
    elif program == "celery":
        assert args[0] == "-A" and (ROOT / (args[1].replace(".", "/") + ".py")).exists(), where
        assert args[2] in {"worker", "beat"}, where
    else:
        assert args[0] == "manage.py" and args[1] in get_commands(), where


def test_the_application_is_given_only_variables_it_reads_and_all_it_requires():
    known = variables_the_application_reads()
    for name, service in app_services().items():
        given = set(service["environment"])
        assert given - known == set(), name
        # settings.production refuses to start without these.
        assert {"SECRET_KEY", "TESSERA_KEY_ENCRYPTION_KEY", "TESSERA_PUBLIC_URL", "ALLOWED_HOSTS",
                "DATABASE_URL"} <= given, name
    # A variable the code does not read would be caught (the check is not vacuous).
    assert "TESSERA_NO_SUCH_SETTING" not in known and "TESSERA_TRUSTED_PROXY_COUNT" in known


def test_every_interpolated_variable_is_documented_in_the_header():
    text = (DOCKER / "compose.yaml").read_text()
    header = text.split("\nname:", 1)[0]
    for variable in set(re.findall(r"\$\{([A-Z0-9_]+)", text)):
        assert variable in header, variable


def test_the_database_url_option_for_transaction_pooling():
    parsed = parse_database_url("postgres://u:p@h:6432/db?disable_server_side_cursors=true&sslmode=require",
                                base_dir=ROOT)
    assert parsed["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert parsed["OPTIONS"] == {"sslmode": "require"}  # not handed to psycopg as a connection option
    assert "DISABLE_SERVER_SIDE_CURSORS" not in parse_database_url("postgres://u@h/db", base_dir=ROOT)
    with pytest.raises(ImproperlyConfigured):
        parse_database_url("postgres://u@h/db?disable_server_side_cursors=yes-please", base_dir=ROOT)


@pytest.fixture(scope="module")
def nginx() -> str:
    from tests.conftest import _in_ci

    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        if _in_ci():
            pytest.fail("nginx is needed in CI (apt-get install nginx)")
        pytest.skip("needs nginx (apt-get install nginx)")
    return binary


def _nginx_test(nginx: str, tmp_path: Path, conf: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    return subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(path), "-e", "stderr"],
                          capture_output=True, text=True, timeout=30)


def test_docker_nginx_conf_parses_as_make_prod_like_runs_it(nginx, tmp_path):
    make_certificates(tmp_path / "tls")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "scratch" / kind).mkdir(parents=True)
    conf = render_nginx_conf(https_port=8443, http_port=8080, upstreams=["127.0.0.1:8001", "127.0.0.1:8002"],
                             cert_dir=tmp_path / "tls", prefix=tmp_path, worker_user=None,
                             pinned={8444: "127.0.0.1:8001"})
    result = _nginx_test(nginx, tmp_path, conf)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    # Everything but the replaced lines is docker/nginx.conf's own text.
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert "server 127.0.0.1:8001;\n        server 127.0.0.1:8002;" in conf
    # And nginx does refuse a broken file (the check is not vacuous).
    assert _nginx_test(nginx, tmp_path, conf.replace("proxy_pass", "proxy_passs", 1)).returncode != 0


def test_prodlike_refuses_a_docker_nginx_conf_that_drifted(tmp_path, monkeypatch):
    drifted = tmp_path / "nginx.conf"
    drifted.write_text((DOCKER / "nginx.conf").read_text().replace("listen 443 ssl;", "listen 443 ssl http2;"))
    monkeypatch.setattr(devtools.prodlike, "NGINX_CONF", drifted)
    with pytest.raises(RuntimeError, match="listen 443 ssl"):
        render_nginx_conf(https_port=1, http_port=2, upstreams=["127.0.0.1:3"], cert_dir=tmp_path,
                          prefix=tmp_path, worker_user=None)


HSTS_PROBE = """
import json
import settings.production as s
print(json.dumps({"preload": s.SECURE_HSTS_PRELOAD, "silenced": s.SILENCED_SYSTEM_CHECKS,
                  "exempt": s.SECURE_REDIRECT_EXEMPT, "log": s.LOGGING["handlers"]["console"]["formatter"]}))
"""


@pytest.mark.parametrize("preload", ["false", "true"])
def test_production_defaults_hsts_preload_by_choice_silenced_checks_and_json_logs(preload):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", **GOOD,
           **({"SECURE_HSTS_PRELOAD": preload} if preload == "true" else {})}
    result = subprocess.run([sys.executable, "-c", HSTS_PROBE], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    loaded = json.loads(result.stdout)
    assert loaded["preload"] is (preload == "true")
    assert ("security.W021" in loaded["silenced"]) is (preload == "false")
    # The CSRF middleware is a subclass (tenants.csrf); Django's check looks for the name only.
    assert "security.W003" in loaded["silenced"]
    assert loaded["exempt"] == [r"^healthz$", r"^readyz$"]
    assert loaded["log"] == "json"  # production's default (LOG_FORMAT=plain to read it in a terminal)
