"""The client's address, behind a configured number of trusted reverse proxies.

``X-Forwarded-For`` is written by whoever sends the request: a client can put any address in
it. Only the entries appended by our own proxies can be believed, and each proxy appends the
address it received the connection from. With ``TESSERA_TRUSTED_PROXY_COUNT = N`` proxies in
front, the Nth entry from the right is the address the outermost proxy saw: the client. 0 (the
default) ignores the header: REMOTE_ADDR is the client. A header with fewer than N entries, or an
entry that is not an address, falls back to REMOTE_ADDR (a proxy that is missing or
misconfigured must not let the client choose).

Everything that needs the address (the audit trail, the lockout, the rate limits, the /metrics
allowlist) takes it from here, so they always agree.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from core.conf import tessera_settings

MAX_LENGTH = 45  # the longest textual IPv6 address (audit.AuditEvent.ip)


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(meta: Mapping[str, Any]) -> str:
    """The client's address for a request's ``META`` (see the module docstring)."""
    remote = str(meta.get("REMOTE_ADDR", ""))[:MAX_LENGTH]
    count = tessera_settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    # Several X-Forwarded-For headers reach WSGI joined by commas, in order.
    entries = str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")
    if len(entries) < count:
        return remote
    return _address(entries[-count]) or remote
