"""Rate limits: how many requests a budget (an IP, an account, a client, a token) may spend in a
window, counted where every web process sees the same counts (issue 15).

The counting is the ``limits`` package's sliding-window counter: two fixed-window counters per
budget (this window and the last), the last weighted by how much of it still overlaps the
moving window. One Lua call in Redis, O(1) memory per budget whatever the limit, and no burst
of twice the limit at a window's edge as a plain fixed window allows. (``limits``' moving
window keeps one timestamp per request: a list of a million entries for a generous client
budget, and O(n) inserts in its memory storage.)

Where the counts live: Redis at ``TESSERA["RATELIMIT_URL"]`` (``TESSERA_RATELIMIT_URL``, else
``REDIS_URL``), with 0.5 s socket timeouts and no retries; the memory of this process when no
URL is set (development, ``make run``). When Redis cannot be reached, the limits are counted in
this process's memory instead for ``REDIS_RETRY_SECONDS`` before Redis is tried again, and the
switch is logged (decision: a Redis outage must not become a sign-in or token outage, and
nothing becomes unlimited: each process then enforces the whole limit on its own).

A refused request is counted in ``core.metrics`` every time, and sent as ``rate_limited`` (the
audit trail records it, audit.signals) only for the first refusal of its budget in a window,
and at most ``SAMPLED_PER_TENANT`` times per tenant and window, so that a flood cannot flood
the trail. The sample is an atomic increment in the limiter's own storage.

Budgets name what they count only as a digest (with the tenant): keys in Redis carry no
address, username or token. Callers pass the token's database id or digest, never the token.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from django.core.signals import setting_changed
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext, ngettext
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import RateLimiter, SlidingWindowCounterRateLimiter
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from core.conf import tessera_settings
from core.metrics import count_fallback, count_rate_limited

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

log = logging.getLogger("tessera.ratelimit")

# Sent once per budget and window (the sample), with ``refusal``; audit.signals records it.
rate_limited = Signal()

REDIS_TIMEOUT = 0.5  # seconds: a dead Redis must not stall a request
REDIS_RETRY_SECONDS = 5.0  # after a Redis error, count in memory this long before trying again
SAMPLED_PER_TENANT = 100  # audit events of refusals per tenant and window, at most
_NAMESPACE = "tessera"

T = TypeVar("T")


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``window`` seconds."""

    limit: int
    window: int


@dataclass(frozen=True)
class Budget:
    """One counter a request spends from: ``scope`` names the limit ("signin.ip", "token.client"),
    ``who`` what is counted (an address, an account, a client id, a token's database id), which
    only ever leaves this process as a digest; ``shown`` is what an audit event may say about it
    (never a secret)."""

    scope: str
    rate: Rate
    tenant: str
    who: str
    shown: str = ""

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.tenant}\x00{self.scope}\x00{self.who}".encode()).hexdigest()[:32]

    @property
    def item(self) -> RateLimitItemPerSecond:
        # The limit and window are part of limits' key: a policy change starts fresh counts.
        return RateLimitItemPerSecond(max(1, self.rate.limit), max(1, self.rate.window), namespace=_NAMESPACE)


@dataclass(frozen=True)
class Refusal:
    """A request over ``budget``'s limit; it may try again after ``retry_after`` seconds."""

    budget: Budget
    retry_after: int

    @property
    def scope(self) -> str:
        return self.budget.scope


class SweptMemoryStorage(MemoryStorage):
    """limits' MemoryStorage without its expiry thread.

    MemoryStorage starts a ``threading.Timer`` 10 ms after every counted request to drop
    expired counters: under load, a new thread every 10 ms in every web process, on the core
    that serves the requests (``make bench`` lost a third of its rate to it and a per-request
    database health check, issue 15). Expired counters are already dropped by ``get`` as they
    are read; the rest are swept inline, at most once per ``SWEEP_SECONDS``."""

    SWEEP_SECONDS = 10.0

    def __init__(self) -> None:
        super().__init__()
        self.timer.cancel()
        self._next_sweep = time.monotonic() + self.SWEEP_SECONDS

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the parent's timer (name-mangled)
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


class Limiter:
    """The counters: in Redis when a URL is given, with this process's memory behind it."""

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.memory = SweptMemoryStorage()
        self._memory_limiter = SlidingWindowCounterRateLimiter(self.memory)
        self.redis: RedisStorage | None = None
        self._redis_limiter: RateLimiter | None = None
        if url:
            # No retries (redis-py retries 3 times with backoff by default): one failed call
            # sends this process to its memory counters for REDIS_RETRY_SECONDS instead.
            self.redis = RedisStorage(url.replace("redis+unix://", "unix://"),
                                      socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT,
                                      retry=Retry(NoBackoff(), 0))  # type: ignore[arg-type]
            self._redis_limiter = SlidingWindowCounterRateLimiter(self.redis)
        self._redis_down_until = 0.0
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        """Whether limits that belong in Redis are being counted in this process's memory."""
        return self.redis is not None and time.monotonic() < self._redis_down_until

    def _run(self, action: Callable[[Storage, RateLimiter], T]) -> T:
        if self.redis is not None and self._redis_limiter is not None and not self.degraded:
            try:
                result = action(self.redis, self._redis_limiter)
            except (RedisError, StorageError, OSError) as exc:
                with self._lock:
                    was_up = not self.degraded
                    self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                if was_up:
                    count_fallback("rate_limits")
                    log.warning("rate limits: Redis unreachable (%s); counting in this process's memory, "
                                "each process enforcing the whole limit, until it answers again",
                                type(exc).__name__)
            else:
                if self._redis_down_until:
                    with self._lock:
                        self._redis_down_until = 0.0
                    log.warning("rate limits: Redis answers again; counting there")
                return result
        return action(self.memory, self._memory_limiter)

    def hit(self, budget: Budget) -> bool:
        """Spend one request of ``budget``; False (nothing spent) when it has none left."""
        return self._run(lambda _storage, limiter: limiter.hit(budget.item, budget.key))

    def test(self, budget: Budget) -> bool:
        """Whether ``budget`` has a request left, without spending it."""
        return self._run(lambda _storage, limiter: limiter.test(budget.item, budget.key))

    def retry_after(self, budget: Budget) -> int:
        """Whole seconds until ``budget`` has a request again (at least 1)."""
        stats = self._run(lambda _storage, limiter: limiter.get_window_stats(budget.item, budget.key))
        return max(1, math.ceil(stats.reset_time - time.time()))

    def first_refusal(self, budget: Budget) -> bool:
        """True once per budget and window (and at most SAMPLED_PER_TENANT times per tenant):
        whether this refusal is the one the audit trail records. One atomic increment each."""
        window = max(1, budget.rate.window)
        per_budget = f"{_NAMESPACE}/sampled/{budget.key}/{window}"
        per_tenant = f"{_NAMESPACE}/sampled-tenant/{budget.tenant}/{window}"
        return self._run(lambda storage, _limiter: storage.incr(per_budget, window) == 1
                         and storage.incr(per_tenant, window) <= SAMPLED_PER_TENANT)

    def reset(self) -> None:
        """Forget every count of this process (tests; the Redis counts are left alone)."""
        self.memory.reset()
        self._redis_down_until = 0.0


_limiter: Limiter | None = None
_limiter_lock = threading.Lock()


def limiter() -> Limiter:
    """This process's limiter, made on first use from TESSERA["RATELIMIT_URL"]."""
    global _limiter
    if _limiter is None:
        with _limiter_lock:
            if _limiter is None:
                _limiter = Limiter(tessera_settings.RATELIMIT_URL)
    return _limiter


def reset() -> None:
    """Forget this process's counts (each test starts with none)."""
    if _limiter is not None:
        _limiter.reset()


def _settings_changed(*, setting: str, **kwargs: object) -> None:
    global _limiter
    if setting == "TESSERA":
        _limiter = None


setting_changed.connect(_settings_changed)


def _refused(budget: Budget) -> Refusal:
    active = limiter()
    refusal = Refusal(budget, active.retry_after(budget))
    count_rate_limited(budget.scope)
    if active.first_refusal(budget):
        rate_limited.send(sender=Refusal, refusal=refusal)
    return refusal


def spend(*budgets: Budget | None) -> Refusal | None:
    """Spend one request from each budget in turn; the first that has none left refuses (the
    budgets before it stay spent: the request was made)."""
    active = limiter()
    for budget in budgets:
        if budget is not None and not active.hit(budget):
            return _refused(budget)
    return None


def over(*budgets: Budget | None) -> Refusal | None:
    """The first budget with no request left, without spending any: for budgets spent only
    once the request's outcome is known (``count``), such as a client's, which only requests
    that authenticated as that client spend."""
    active = limiter()
    for budget in budgets:
        if budget is not None and not active.test(budget):
            return _refused(budget)
    return None


def count(budget: Budget | None) -> None:
    """Spend one request of ``budget`` after the fact (see ``over``); never refuses."""
    if budget is not None:
        limiter().hit(budget)


# -- the answers ----------------------------------------------------------------------------


def _wait_text(seconds: int) -> StrOrPromise:
    """Whole sentences per plural form, so each language can place the number where it goes."""
    if seconds < 120:
        return ngettext("Too many requests from here in a short time. Try again in %(count)d second.",
                        "Too many requests from here in a short time. Try again in %(count)d seconds.",
                        seconds) % {"count": seconds}
    minutes = -(-seconds // 60)
    return ngettext("Too many requests from here in a short time. Try again in %(count)d minute.",
                    "Too many requests from here in a short time. Try again in %(count)d minutes.",
                    minutes) % {"count": minutes}


def page_refusal(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    """A refused page request: a readable page (429) in the page's language, with Retry-After."""
    response = render(request, "error.html", {"title": gettext("Please wait a moment"),
                                              "message": _wait_text(refusal.retry_after)}, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def oauth_refusal(refusal: Refusal) -> JsonResponse:
    """A refused protocol request: 429, Retry-After, and an RFC 6749 §5.2 error body.

    There is no registered "rate limited" error. ``temporarily_unavailable`` is the registered
    code that means "the same request may succeed later" (RFC 6749 §4.1.2.1, and RFC 7009 §2.2.1
    for revocation); ``invalid_request`` would tell the client its request is wrong, and strict
    client libraries reject codes outside the registry (decisions.md)."""
    response = JsonResponse({"error": "temporarily_unavailable",
                             "error_description": f"Too many requests for this {_counted(refusal)}; "
                                                  f"try again in {refusal.retry_after} s."}, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    response["Cache-Control"] = "no-store"
    return response


def _counted(refusal: Refusal) -> str:
    return {"ip": "address", "client": "client", "token": "token", "account": "account"}.get(
        refusal.scope.rsplit(".", 1)[-1], "client")
