"""Operator commands as operators run them: `python manage.py ...` in a subprocess.

pytest-django's test database is in memory, so a subprocess could not see it. Subprocess
tests get their own SQLite file instead: migrated once per session, copied for each test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def audit(self) -> list[dict]:
        """The audit events the command logged (one JSON line each, logger tessera.audit)."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]

    @property
    def other_stderr(self) -> str:
        """stderr without the audit lines."""
        return "".join(line for line in self.stderr.splitlines(True) if not line.startswith("{"))

    def __str__(self) -> str:
        return f"manage.py {' '.join(self.args)} -> {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def _env(db_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DATABASE_URL=f"sqlite:///{db_path}", DJANGO_SETTINGS_MODULE="settings.test",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def run_manage(db_path: Path, *args: str, input: str | None = None) -> Result:
    completed = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=_env(db_path), capture_output=True,
        text=True, timeout=120, check=False, input=input, stdin=None if input is not None else subprocess.DEVNULL,
    )
    return Result(args, completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    result = run_manage(path, "migrate", "--noinput")
    assert result.returncode == 0, str(result)
    return path


class Manage:
    """`manage.py` against this test's own migrated SQLite file."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return run_manage(self.db_path, *args, input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.returncode == 0, str(result)
        return result

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(sql, params).fetchall()

    def client_secret_digest(self, secret: str) -> str:
        """What this database stores for ``secret``: HMAC-SHA256 under its client-secret data
        key (core.crypto), unsealed here with the test KEK."""
        from core.crypto import DATA_KEY_PURPOSE, unseal
        from idp.crypto import _CLIENT_SECRET_INFO

        [(sealed,)] = self.query("SELECT sealed FROM core_datakey WHERE purpose = ?", (_CLIENT_SECRET_INFO.decode(),))
        key = unseal(sealed, purpose=DATA_KEY_PURPOSE, associated_data=_CLIENT_SECRET_INFO)
        return "hmac-sha256$" + hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def manage(migrated_template, tmp_path) -> Manage:
    db_path = tmp_path / "x.sqlite3"
    shutil.copyfile(migrated_template, db_path)
    return Manage(db_path)


def assert_usage_error(result: Result, *fragments: str) -> str:
    """The operator contract: exit status 2, nothing on stdout, exactly one line on stderr."""
    assert result.returncode == 2, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), str(result)
    assert result.stdout == "", str(result)
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), str(result)
    return lines[0]
