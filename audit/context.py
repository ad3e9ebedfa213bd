"""Who and where the current request comes from, for audit events (a ContextVar)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

DEVICE_COOKIE = "tessera_device"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


@dataclass(frozen=True)
class RequestInfo:
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    device: str = ""  # SHA-256 of the device cookie, never the cookie itself
    # Lookups a request makes more than once and whose answer cannot change within it (the
    # account an identifier names, the risk signals of a sign-in): ``memo``. None outside a
    # request (jobs, commands), where nothing is remembered.
    memo: dict[tuple, Any] | None = field(default=None, compare=False, repr=False)


_info: ContextVar[RequestInfo] = ContextVar("tessera_request_info", default=RequestInfo())  # noqa: B039 (frozen)


def current() -> RequestInfo:
    return _info.get()


def memoised(key: tuple, load: Any) -> Any:
    """``load()``, remembered for the rest of the request under ``key`` (not outside one)."""
    memo = _info.get().memo
    if memo is None:
        return load()
    try:
        return memo[key]
    except KeyError:
        value = memo[key] = load()
        return value


def current_request_id() -> str:
    """The request id of the request being served ("" outside one): every log line carries it
    (core.logging, configured in settings.LOGGING)."""
    return _info.get().request_id


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is well-formed, else a new one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def device_hash(cookie: str | None) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest() if cookie else ""


@contextlib.contextmanager
def request_info(info: RequestInfo) -> Iterator[RequestInfo]:
    token = _info.set(info)
    try:
        yield info
    finally:
        _info.reset(token)
