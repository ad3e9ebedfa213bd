"""What the fault and soak tests need from the production-like topology (devtools.prodlike, H3):
a Target for tests.faults.flows, the audit spool's backlog, tokens against events, worker RSS."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from tests.faults.flows import Target

SPOOL_DB = 1  # devtools.prodlike: cache db 0, audit spool db 1, broker db 2


def target(pl: Any, demo: Any) -> Target:
    """The flows against nginx (https, the throwaway CA), as a browser and the clients see it."""
    info = {"user": demo.username, "password": demo.password, "web_client_id": demo.web_client_id,
            "redirect_uri": demo.web_redirect_uri, "web_auth": demo.basic("web"),
            # Client credentials in both token formats: the admin client (opaque access tokens,
            # a row each) and the service client (RFC 9068 JWT access tokens, ES256).
            "cc_auth": demo.basic("admin"), "cc_jwt_auth": demo.basic("jwt")}
    return Target(pl.url, demo.slug, info, verify=pl.ca_file)


def sql(pl: Any, query: str) -> str:
    return pl.cluster.psql(query, dbname="tessera").strip()


def spool_backlog(pl: Any) -> int:
    import redis

    client = redis.Redis.from_url(pl.redis_url.rsplit("/", 1)[0] + f"/{SPOOL_DB}")
    try:
        return int(client.xlen("tessera:audit"))
    finally:
        client.close()


def wait_for_spool(pl: Any, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while (left := spool_backlog(pl)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def token_event_request_ids(pl: Any) -> set[str]:
    return set(sql(pl, "SELECT request_id FROM audit_auditevent "
                       "WHERE action IN ('token.issued', 'token.refreshed')").split())


def web_worker_rss_mb(pl: Any, nodes: int) -> dict[int, float]:
    """RSS of every gunicorn worker of the web nodes, by pid (MB)."""
    sizes: dict[int, float] = {}
    for node in range(nodes):
        master = pl.pid(f"web{node}")
        for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"VmRSS:\s+(\d+)", status)
            if match:
                sizes[int(pid)] = int(match.group(1)) / 1024
    return sizes


def verify_audit(pl: Any, *slugs: str) -> list[str]:
    """verify_audit's failures for each tenant (an empty list: every chain verifies)."""
    failures = []
    for slug in slugs:
        done = pl.manage("verify_audit", "--tenant", slug, check=False)
        if done.returncode:
            failures.append(f"{slug}: {done.stdout}{done.stderr}")
    return failures


def internal_errors(pl: Any, nodes: int) -> list[str]:
    """The web nodes' 500s as their JSON log lines name them (request id and the last lines of
    the traceback): what a failed assertion on statuses shows."""
    found = []
    for node in range(nodes):
        for line in pl.logs(f"web{node}").splitlines():
            if '"Internal Server Error' not in line or not line.startswith("{"):
                continue
            record = json.loads(line)
            lines = record.get("exc", "").strip().splitlines()
            ours = [line.strip() for line in lines if line.strip().startswith('File "') and "/.venv/" not in line]
            found.append(f"{record.get('request_id')} {record.get('message')}: {' < '.join(ours)}: {lines[-1]}")
    return found
