"""`make run` as a person starts it: the real Makefile target on a free port, its own SQLite file."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def make_run(workdir: Path, *, public_url: str | None = None) -> Iterator[tuple[str, str]]:
    """Run `make run PORT=...`; yields (the demo tenant's issuer, what it printed until serving).

    Without ``public_url`` the issuer is derived from where it serves (http://127.0.0.1:PORT)."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "TESSERA_PUBLIC_URL"},
        "DJANGO_SETTINGS_MODULE": "settings.dev",
        "DATABASE_URL": f"sqlite:///{workdir}/tessera.sqlite3",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TESSERA_KEY_ENCRYPTION_KEY": "bWFrZS1ydW4tdGVzdC1rZXktZW5jcnlwdGlvbi1rZXk=",
    }
    base = public_url.format(port=port) if public_url else f"http://127.0.0.1:{port}"
    if public_url:
        env["TESSERA_PUBLIC_URL"] = base
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    output: list[str] = []
    issuer = f"{base}/t/demo"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise AssertionError("make run exited:\n" + "".join(output))
            output.append(line)
            if "Tessera is serving" in line:
                break
        local = f"http://127.0.0.1:{port}/t/demo"
        for _ in range(100):
            try:
                if requests.get(f"{local}/.well-known/openid-configuration", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield issuer, "".join(output)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
