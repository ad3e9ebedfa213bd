"""settings.production refuses unsafe configuration, naming what to fix.

Each case imports the module in a fresh interpreter with a controlled environment, since
settings are read from the environment once, at import.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "SECRET_KEY": "pV7-q2Lx9_Rk4tWz8mNc3bHj6yFd1sGa5eUo0iKl2vXr7wQ-T9uYh4ZpEo",
    "TESSERA_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(bytes(range(100, 132))).decode(),
    "ALLOWED_HOSTS": "id.example.com",
    "TESSERA_PUBLIC_URL": "https://id.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}

PROBE = """
import json, sys
from django.core.exceptions import ImproperlyConfigured
try:
    import settings.production as s
except ImproperlyConfigured as exc:
    print(json.dumps({"error": str(exc)}))
    sys.exit(3)
print(json.dumps({name: getattr(s, name) for name in (
    "DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER")} | {"PUBLIC_URL": s.TESSERA["PUBLIC_URL"]}))
"""


def import_production(**changes: str | None) -> tuple[int, dict]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "PYTHONDONTWRITEBYTECODE": "1", **GOOD}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode in (0, 3), result.stderr  # anything else is a crash, not a refusal
    return result.returncode, json.loads(result.stdout)


def test_good_values_import():
    code, loaded = import_production()
    assert code == 0, loaded
    assert loaded["DEBUG"] is False and loaded["ALLOWED_HOSTS"] == ["id.example.com"]
    assert loaded["SESSION_COOKIE_SECURE"] is True and loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["SECURE_SSL_REDIRECT"] is True and loaded["SECURE_HSTS_SECONDS"] >= 31536000
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert loaded["PUBLIC_URL"] == "https://id.example.com"


@pytest.mark.parametrize("changes, expected", [
    ({"SECRET_KEY": None}, "SECRET_KEY"),
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "short-but-varied-Key-123"}, "SECRET_KEY"),
    ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY"),  # long, but only two characters
    ({"SECRET_KEY": "django-insecure-" + GOOD["SECRET_KEY"]}, "SECRET_KEY"),
    ({"DEBUG": "true"}, "DEBUG"),
    ({"DEBUG": "1"}, "DEBUG"),
    ({"DEBUG": "on"}, "DEBUG"),
    ({"DEBUG": "maybe"}, "DEBUG"),
    ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": "id.example.com,*"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
    ({"TESSERA_KEY_ENCRYPTION_KEY": None}, "TESSERA_KEY_ENCRYPTION_KEY"),
    ({"TESSERA_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(b"k" * 16).decode()}, "TESSERA_KEY_ENCRYPTION_KEY"),
    ({"TESSERA_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(b"k" * 31).decode()}, "TESSERA_KEY_ENCRYPTION_KEY"),
    ({"TESSERA_KEY_ENCRYPTION_KEY": "this is not base64 at all!"}, "TESSERA_KEY_ENCRYPTION_KEY"),
    # Decoded strictly: junk around a good key, trivial keys, a typed passphrase.
    ({"TESSERA_KEY_ENCRYPTION_KEY": "junk!" + GOOD["TESSERA_KEY_ENCRYPTION_KEY"]}, "TESSERA_KEY_ENCRYPTION_KEY"),
    ({"TESSERA_KEY_ENCRYPTION_KEY": GOOD["TESSERA_KEY_ENCRYPTION_KEY"] + "junk"}, "TESSERA_KEY_ENCRYPTION_KEY"),
    ({"TESSERA_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(bytes(32)).decode()}, "not a random key"),
    ({"TESSERA_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(b"0123456789abcdef" * 2).decode()}, "not a random key"),
    ({"TESSERA_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(b"Tr0ub4dor&3-correct-HORSE-battry").decode()},
     "not a random key"),
    ({"ALLOWED_HOSTS": ".com"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": "id.example.com,.org"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": "*.example.com"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": ".co.uk"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": ".GitHub.io"}, "ALLOWED_HOSTS"),
    ({"TESSERA_PUBLIC_URL": "https://id.example.com:99999"}, "TESSERA_PUBLIC_URL"),
    ({"TESSERA_PUBLIC_URL": "https://a@evil.example"}, "TESSERA_PUBLIC_URL"),
    ({"TESSERA_PUBLIC_URL": "https://id.example.com:pw@evil.example"}, "TESSERA_PUBLIC_URL"),
    ({"TESSERA_PUBLIC_URL": "https://id.example.com?x=1"}, "TESSERA_PUBLIC_URL"),
    ({"TESSERA_PUBLIC_URL": "https://id.example.com#frag"}, "TESSERA_PUBLIC_URL"),
    ({"TESSERA_PUBLIC_URL": "https:///path-only"}, "TESSERA_PUBLIC_URL"),
    ({"TESSERA_PUBLIC_URL": "http://id.example.com"}, "TESSERA_PUBLIC_URL"),
    ({"TESSERA_PUBLIC_URL": None}, "TESSERA_PUBLIC_URL"),
    ({"CORS_ALLOWED_ORIGINS": "*"}, "CORS_ALLOWED_ORIGINS"),
    ({"SESSION_COOKIE_SECURE": "false"}, "Secure"),
    ({"CSRF_COOKIE_SECURE": "0"}, "Secure"),
    ({"TESSERA_METRICS_ALLOWED_IPS": "10.0.0.0/33"}, "TESSERA_METRICS_ALLOWED_IPS"),
    ({"TESSERA_METRICS_ALLOWED_IPS": "10.0.0.0/8,prometheus.internal"}, "TESSERA_METRICS_ALLOWED_IPS"),
    ({"TESSERA_TRUSTED_PROXY_COUNT": "-1"}, "TESSERA_TRUSTED_PROXY_COUNT"),
])
def test_unsafe_configuration_is_refused(changes, expected):
    code, loaded = import_production(**changes)
    assert code == 3, f"{changes} was accepted: {loaded}"
    assert expected in loaded["error"], loaded["error"]
    assert len(loaded["error"]) > len(expected) + 10  # a sentence saying what to do, not just a name


def test_production_needs_a_broker_or_eager_tasks_by_choice():
    status, refused = import_production(REDIS_URL=None)
    assert status == 3 and "No Celery broker" in refused["error"]
    assert import_production(REDIS_URL=None, CELERY_TASK_ALWAYS_EAGER="true")[0] == 0
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **GOOD,
           "REDIS_URL": "unix:///run/redis/redis.sock?db=2"}
    show = "import settings.production as s; print(s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER)"
    broker = subprocess.run(
        [sys.executable, "-c", show],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert broker == ["redis+socket:///run/redis/redis.sock?db=2", "False"]  # Celery's name for a socket


def test_a_subdomain_wildcard_and_a_path_prefix_are_fine():
    code, loaded = import_production(ALLOWED_HOSTS=".id.example.com", TESSERA_PUBLIC_URL="https://example.com/idp")
    assert code == 0, loaded
    assert loaded["ALLOWED_HOSTS"] == [".id.example.com"] and loaded["PUBLIC_URL"] == "https://example.com/idp"


def test_hsts_off_starts_but_never_silently():
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **GOOD}
    for seconds, warned in (("0", True), ("3600", True), ("31536000", False)):
        result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                                env={**env, "SECURE_HSTS_SECONDS": seconds}, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert ("HSTS" in result.stderr) is warned, (seconds, result.stderr)


def test_demo_refuses_to_run_under_production_settings(tmp_path):
    """`manage.py demo` creates a user whose password is printed in the README."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **GOOD,
           "DJANGO_SETTINGS_MODULE": "settings.production", "DATABASE_URL": f"sqlite:///{tmp_path}/prod.sqlite3"}
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120, check=False)
    assert migrate.returncode == 0, migrate.stderr
    result = subprocess.run([sys.executable, "manage.py", "demo"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2 and "development only" in result.stderr, (result.returncode, result.stderr)
    assert "correct-horse" not in result.stdout
