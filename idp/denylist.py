"""The deny list of revoked JWT access tokens (issue 13).

A JWT access token (RFC 9068) is self-contained: one issued by the client-credentials grant has
no row to delete, so revoking it (RFC 7009) puts its ``jti`` here, under a key of its tenant,
for as long as the token could still be presented (its remaining lifetime plus a margin for
clock skew). Introspection and userinfo consult the list for every JWT access token they would
otherwise accept; opaque tokens never touch it (their row is the whole truth).

Backed by Django's cache framework, alias ``default``: Redis in production (``REDIS_URL``),
local memory in development, so ``make run`` needs no Redis. Always through
``core.cache.strict``: the default cache degrades to a miss while Redis is down (core.cache),
and a miss here would read "not revoked". Local memory is per process: with
several worker processes a revocation would reach one of them only, which the deployment check
``tessera.W003`` reports.

Fail closed: when the backend cannot answer, ``is_denied`` raises ``DenyListUnavailable`` and
``revoked`` (what callers deciding about a token use) treats the token as revoked and logs a
warning with its ``jti`` (never the token). ``deny`` raises it too: the revocation endpoint
then answers 503 unless the token also had a row it deleted (RFC 7009 §2.2.1: the client
retries).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import math
import re
import time

from django.core.cache import caches
from django.core.checks import CheckMessage, Warning

from core.cache import strict

log = logging.getLogger(__name__)

CACHE_ALIAS = "default"
KEY_PREFIX = "tessera:jwt-denied"
# Seconds an entry outlives its token: web processes' and Redis's clocks may disagree a little.
CLOCK_SKEW_MARGIN = 60
_JTI = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# Backends whose entries no other process sees (or that store nothing at all).
PROCESS_LOCAL_BACKENDS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


class DenyListUnavailable(RuntimeError):
    """The deny list's backend did not answer (Redis down or unreachable)."""


def _key(tenant_id: int, jti: str) -> str:
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
        raise TypeError("tenant_id must be the tenant's integer primary key")
    if not isinstance(jti, str) or not _JTI.match(jti):
        raise ValueError("not a jti this issuer writes")
    return f"{KEY_PREFIX}:{tenant_id}:{jti}"


def _epoch(expires_at: dt.datetime | int | float) -> float:
    if isinstance(expires_at, dt.datetime):
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        return expires_at.timestamp()
    return float(expires_at)


def deny(tenant_id: int, jti: str, expires_at: dt.datetime | int | float) -> bool:
    """Put ``jti`` of the tenant's JWT access token expiring at ``expires_at`` (an aware
    datetime or the ``exp`` claim) on the deny list until then, plus CLOCK_SKEW_MARGIN.
    True when this call denied it; False when it already was, or when the token has expired
    (nothing is stored for it). Raises DenyListUnavailable."""
    key = _key(tenant_id, jti)
    remaining = _epoch(expires_at) - time.time()
    if remaining <= 0:
        return False
    try:
        # add, not set: one round trip (SET NX on Redis) that also says whether it was news.
        return bool(strict(caches[CACHE_ALIAS]).add(key, 1, timeout=math.ceil(remaining) + CLOCK_SKEW_MARGIN))
    except Exception as exc:  # any backend failure: the caller must not report success
        raise DenyListUnavailable(f"{type(exc).__name__}: {exc}") from exc


def is_denied(tenant_id: int, jti: str) -> bool:
    """Whether the tenant's ``jti`` was revoked. Raises DenyListUnavailable when the backend
    cannot say (every exception it raises is that: a deny list that errs must not answer no)."""
    key = _key(tenant_id, jti)
    try:
        return strict(caches[CACHE_ALIAS]).get(key) is not None
    except Exception as exc:
        raise DenyListUnavailable(f"{type(exc).__name__}: {exc}") from exc


def revoked(tenant_id: int, jti: object, *, where: str) -> bool:
    """For a caller about to accept a JWT access token: True when its ``jti`` is denied, and
    also (fail closed, logged) when the deny list is unreachable or the token has no usable
    ``jti``. ``where`` names the caller in the log line."""
    if not isinstance(jti, str) or not _JTI.match(jti):
        log.warning("%s: a JWT access token without a usable jti treated as revoked", where)
        return True
    try:
        return is_denied(tenant_id, jti)
    except DenyListUnavailable as exc:
        log.warning("%s: deny list unreachable, JWT access token treated as revoked (tenant %s, jti %s): %s",
                    where, tenant_id, jti, exc)
        return True


def is_jwt(token: object) -> bool:
    """Whether a bearer value has the shape of a compact JWS. Opaque tokens (idp.tokens:
    base64url, no dots) never do, so they never reach the deny list."""
    return isinstance(token, str) and token.count(".") == 2


def stored_token_jti(token: str) -> object:
    """The ``jti`` claim of a JWT access token, read without verifying its signature.

    Only for a token already matched against a stored digest (its row): the row proves this
    issuer minted exactly this string, so its payload is ours. Anything else goes through
    ``keys.verify_jwt``. None when the payload cannot be read."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return claims.get("jti") if isinstance(claims, dict) else None


def check_shared_backend(app_configs=None, **kwargs) -> list[CheckMessage]:
    """`manage.py check --deploy`: revocations of JWT access tokens must reach every process."""
    from django.conf import settings

    backend = settings.CACHES.get(CACHE_ALIAS, {}).get("BACKEND", "")
    if backend in PROCESS_LOCAL_BACKENDS:
        return [Warning(
            f"The {CACHE_ALIAS!r} cache ({backend}) is not shared between processes: a revoked JWT access "
            "token stays active at the processes that did not handle its revocation.",
            hint="Set REDIS_URL (the cache then lives in Redis), or serve with a single process.",
            id="tessera.W003")]
    return []
