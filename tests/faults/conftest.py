"""Fixtures of the fault tests: a restartable Redis, and the served stack of tests/faults/stack.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.faults import RestartableRedis
from tests.conftest import _in_ci


def _unavailable(reason: str) -> None:
    """A missing service fails in CI (which must run these) and skips elsewhere."""
    if _in_ci():
        pytest.fail(f"this test needs it, and CI must run it: {reason}")
    pytest.skip(reason)


@pytest.fixture
def restartable_redis() -> Iterator[RestartableRedis]:
    """A redis-server of the test's own, which it may stop, pause and start again."""
    server = RestartableRedis()
    try:
        server.start()
    except RuntimeError as exc:
        server.destroy()
        _unavailable(str(exc))
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def stack():
    """PostgreSQL, Redis, gunicorn and the audit shipper of the module's own (tests.faults.stack)."""
    import shutil

    from devtools.pgcluster import find_pg_bin
    from tests.faults.stack import build_stack

    if find_pg_bin() is None:
        _unavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
    if shutil.which("redis-server") is None:
        _unavailable("redis-server not found (apt-get install redis-server)")
    served = build_stack()
    yield served
    served.stop()
    served.redis.destroy()
    served.cluster.stop()


@pytest.fixture
def prodlike_tools() -> None:
    """The Debian packages devtools.prodlike runs (the check of tests/prodlike/conftest.py):
    skipped without them, except in CI (fails)."""
    from tests.prodlike.conftest import _missing

    if missing := _missing():
        _unavailable(f"needs {', '.join(missing)} (apt-get install nginx pgbouncer redis-server postgresql)")
