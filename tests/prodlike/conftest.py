"""One production-like topology (devtools/prodlike.py) shared by the whole session.

Starting it takes about fifteen seconds (PostgreSQL, pgbouncer, Redis, migrations, two gunicorn
nodes, a Celery worker, beat, the audit shipper, nginx), so every test of tests/prodlike (and
tests/faults' soak test) runs against the same one; tests that change it put it back.
Without nginx, pgbouncer, Redis or PostgreSQL the tests are skipped on a developer's machine and
fail in CI, which installs them (.ci/run).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.pgcluster import find_pg_bin
from devtools.prodlike import Demo, ProdLike

LOOKUP_CACHE_SECONDS = 3  # short, so the convergence test waits little; production's default is 5


def _missing() -> list[str]:
    missing = [tool for tool in ("nginx", "pgbouncer", "redis-server")
               if not shutil.which(tool) and not Path("/usr/sbin", tool).exists()]
    if find_pg_bin() is None:
        missing.append("postgresql")
    return missing


@pytest.fixture(scope="session")
def prodlike_tools() -> None:
    """The Debian packages the topology runs: skipped without them, except in CI (fails)."""
    from tests.conftest import _in_ci

    missing = _missing()
    if missing:
        reason = f"needs {', '.join(missing)} (apt-get install nginx pgbouncer redis-server postgresql)"
        if _in_ci():
            pytest.fail(f"the production-like tests must run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def prodlike(prodlike_tools: None) -> Iterator[ProdLike]:
    with ProdLike(web_nodes=2, lookup_cache_seconds=LOOKUP_CACHE_SECONDS) as topology:
        yield topology


@pytest.fixture(scope="session")
def demo(prodlike: ProdLike) -> Demo:
    """Tenant "acme": alice, a confidential web client, a public native client, an admin client."""
    return prodlike.provision("acme")


@pytest.fixture(scope="session")
def other_demo(prodlike: ProdLike) -> Demo:
    """A second tenant, "globex", made the same way."""
    return prodlike.provision("globex")


@pytest.fixture
def trust_ca(monkeypatch: pytest.MonkeyPatch, prodlike: ProdLike) -> str:
    """requests (and Authlib's sessions on it) trust the throwaway CA, and only it."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", prodlike.ca_file)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    return prodlike.ca_file
