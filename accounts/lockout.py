"""Brute-force protection that an attacker cannot turn against the people it protects.

django-axes decides *where* the check sits: its ``AxesStandaloneBackend`` runs first in
AUTHENTICATION_BACKENDS and asks ``AXES_HANDLER`` (``LockoutHandler`` below) whether the attempt
may be checked at all, and Django's ``user_login_failed`` / ``user_logged_in`` signals reach the
same handler through axes' receivers. This module decides *what* is counted (decision 44):

- **username + IP** (or username + a browser that has signed in as that user before): locked
  after the tenant's failure limit for its cool-off. The attempt is counted *before* the
  password is checked, by one conditional UPDATE, so 50 concurrent guesses let no more than the
  limit through to the hasher (axes' own handlers count after the check: every request that
  arrives before the first failure is written gets through). A passed check gives its count back.
- **username alone, from browsers it never signed in from**: slowed down, never locked. After
  the limit, each further attempt must wait twice as long as the last (1 s, 2 s, 4 s, ... up to
  the cool-off). A browser that signed in as that user before (the device cookie, matched in the
  audit trail) is exempt, so a victim's own browser keeps working while strangers guess.
- **IP alone, any username** (password spraying): locked after the tenant's IP limit. Browsers
  known to the username they sign in as are exempt here too.

Every cool-off is finite (policy ``lockout_cooloff``, at most a week). Counters are kept in
``accounts.LoginThrottle``, tenant-owned under row-level security, keyed by the identifier as
typed, whether or not such a user exists: a locked-out attempt looks the same either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.base import AbstractAxesHandler, AxesBaseHandler
from axes.helpers import get_client_username
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.http import HttpRequest
from django.utils import timezone

from accounts import events
from accounts.backends import find_user
from accounts.models import LoginThrottle
from audit import context as audit_context
from audit.models import Action, AuditEvent
from core.actors import Actor
from core.client_ip import client_ip as trusted_client_ip
from tenants.context import require_tenant
from tenants.services import policy_for

Scope = LoginThrottle.Scope
_REQUEST_KEY = "tessera_throttle"
_OPTIMISTIC_TRIES = 10


# -- axes' configuration callables (settings.AXES_*) ----------------------------------------


def client_ip(request: HttpRequest) -> str:
    """The client address the audit trail records (core.client_ip: the trusted-proxy rule)."""
    return audit_context.current().ip or trusted_client_ip(request.META)


def canonical_username(request: HttpRequest | None, credentials: dict | None) -> str:
    """AXES_USERNAME_CALLABLE: whom the attempt is at. The user's own username (lower-cased)
    when the identifier names one, by username or email, so the two share their counters;
    else the identifier as typed, trimmed and lower-cased."""
    value = (credentials or {}).get("username")
    if value is None and request is not None:
        value = request.POST.get("username")
    typed = str(value or "").strip()[:254]
    user = find_user(typed) if typed else None
    return (user.username if user is not None else typed).lower()


def failure_limit(request: HttpRequest | None, credentials: dict | None = None) -> int:
    return policy_for(require_tenant()).lockout_failure_limit


def cool_off(request: HttpRequest | None = None) -> timedelta:
    return timedelta(seconds=policy_for(require_tenant()).lockout_cooloff)


# -- the counters ---------------------------------------------------------------------------


@dataclass
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds, when refused
    scope: str = ""  # which counter refused


@dataclass
class _Attempt:
    """What this request reserved, so a passed check can give it back."""

    username: str
    known: bool
    reserved: list[tuple[int, str]] = field(default_factory=list)


def _where() -> tuple[str, str]:
    info = audit_context.current()
    return info.ip, info.device


def known_browser(username: str, device: str) -> bool:
    """Whether this browser (device-cookie digest) has signed in as ``username`` before."""
    if not username or not device:
        return False
    return AuditEvent.objects.filter(action=Action.LOGIN_SUCCEEDED, subject=username, device=device).exists()


def _account_key(username: str, known: bool, ip: str, device: str) -> dict[str, str]:
    return {"scope": Scope.ACCOUNT, "username": username, "ip": "" if known else ip, "device": device if known else ""}


def _row(**key: Any) -> LoginThrottle:
    row, _created = LoginThrottle.objects.get_or_create(**key)
    return row


def _left(row: LoginThrottle, now: datetime, seconds: float) -> int:
    last = row.last_failure or now
    return max(1, math.ceil((last + timedelta(seconds=seconds) - now).total_seconds()))


def reserve(request: HttpRequest, username: str, *, slow_down: bool = True) -> Decision:
    """Count an attempt at ``username``'s credentials before it is checked; refuse it when a
    counter is over its limit. Call ``failed`` or ``passed`` once the check is done.

    ``slow_down=False`` (the MFA step: the password was right a moment ago) skips the
    per-username slow-down, which is there for guesses at the first factor."""
    username = username.strip().lower()[:254]
    policy = policy_for(require_tenant())
    ip, device = _where()
    now = timezone.now()
    known = known_browser(username, device)
    limit, cooloff = policy.lockout_failure_limit, policy.lockout_cooloff
    stale = now - timedelta(seconds=cooloff)
    attempt = _Attempt(username=username, known=known)
    setattr(request, _REQUEST_KEY, attempt)

    if not known and ip:
        spray = LoginThrottle.objects.filter(scope=Scope.IP, username="", ip=ip, device="").first()
        if spray is not None and spray.failures >= policy.ip_failure_limit and spray.last_failure and \
                spray.last_failure >= stale:
            return Decision(False, _left(spray, now, cooloff), Scope.IP)

    fresh = Q(last_failure__isnull=True) | Q(last_failure__lt=stale)
    for _ in range(_OPTIMISTIC_TRIES):
        account = _row(**_account_key(username, known, ip, device))
        claimed = LoginThrottle.objects.filter(pk=account.pk).filter(fresh | Q(failures__lt=limit)).update(
            failures=Case(When(fresh, then=Value(1)), default=F("failures") + 1), last_failure=now)
        if claimed:
            break
        over = LoginThrottle.objects.filter(pk=account.pk).first()
        if over is not None:
            return Decision(False, _left(over, now, cooloff), Scope.ACCOUNT)
        # The cleanup job removed the stale counter between the read and the update: anew.
    else:
        return Decision(False, 1, Scope.ACCOUNT)
    attempt.reserved.append((account.pk, Scope.ACCOUNT))

    if slow_down and not known:
        wait, slow_pk = _claim_slow_down(username, now, limit, cooloff)
        if wait:
            LoginThrottle.objects.filter(pk=account.pk).update(failures=F("failures") - 1)
            attempt.reserved.clear()
            return Decision(False, wait, Scope.USER)
        attempt.reserved.append((slow_pk, Scope.USER))
    return Decision(True)


def slow_down_delay(failures: int, limit: int, cooloff: int) -> int:
    """Seconds an unknown browser waits after ``failures`` for one username (0 below the limit)."""
    if failures < limit:
        return 0
    return min(cooloff, 2 ** min(failures - limit, 30))


def _claim_slow_down(username: str, now: datetime, limit: int, cooloff: int) -> tuple[int, int]:
    """Take the username's next slot from unknown browsers: (0, the counter's pk) when taken,
    else (seconds to wait, pk).

    Optimistic: the row is read, the rule applied, and the UPDATE only lands if nobody counted
    in between (failures and last_failure unchanged)."""
    row = _row(scope=Scope.USER, username=username)
    for _ in range(_OPTIMISTIC_TRIES):
        stale = row.last_failure is None or row.last_failure < now - timedelta(seconds=cooloff)
        failures = 0 if stale else row.failures
        wait = slow_down_delay(failures, limit, cooloff)
        if wait and row.last_failure is not None and now < row.last_failure + timedelta(seconds=wait):
            return _left(row, now, wait), row.pk
        unchanged = LoginThrottle.objects.filter(pk=row.pk, failures=row.failures)
        unchanged = unchanged.filter(last_failure=row.last_failure) if row.last_failure else \
            unchanged.filter(last_failure__isnull=True)
        if unchanged.update(failures=failures + 1, last_failure=now):
            return 0, row.pk
        # Counted by someone else in between, or removed by the cleanup job (then anew).
        row = LoginThrottle.objects.filter(pk=row.pk).first() or _row(scope=Scope.USER, username=username)
    return 1, row.pk  # contended past reason: refuse, the caller may try again in a second


def failed(request: HttpRequest) -> None:
    """The reserved attempt was checked and failed: it stays counted; the IP counter (spraying)
    counts it too. A counter reaching its limit is an audit event."""
    attempt: _Attempt | None = getattr(request, _REQUEST_KEY, None)
    if attempt is None:
        return
    delattr(request, _REQUEST_KEY)
    policy = policy_for(require_tenant())
    ip, _device = _where()
    for pk, scope in attempt.reserved:
        if scope == Scope.ACCOUNT:
            failures = LoginThrottle.objects.filter(pk=pk).values_list("failures", flat=True).first()
            if failures == policy.lockout_failure_limit:
                events.locked_out(scope=scope, username=attempt.username, ip="" if attempt.known else ip,
                                  known_browser=attempt.known, cooloff=policy.lockout_cooloff)
    if not attempt.known:
        _count_ip(ip)


def _count_ip(ip: str) -> None:
    """One more failure from ``ip``, any username (password spraying)."""
    if not ip:
        return
    policy = policy_for(require_tenant())
    now = timezone.now()
    fresh = Q(last_failure__isnull=True) | Q(last_failure__lt=now - timedelta(seconds=policy.lockout_cooloff))
    for _ in range(_OPTIMISTIC_TRIES):
        spray = _row(scope=Scope.IP, ip=ip)
        if LoginThrottle.objects.filter(pk=spray.pk).update(
                failures=Case(When(fresh, then=Value(1)), default=F("failures") + 1), last_failure=now):
            break
        # The cleanup job removed the stale counter between the read and the update: anew.
    if LoginThrottle.objects.filter(pk=spray.pk).values_list("failures", flat=True).first() == policy.ip_failure_limit:
        events.locked_out(scope=Scope.IP, username="", ip=ip, known_browser=False, cooloff=policy.lockout_cooloff)


def passed(request: HttpRequest) -> None:
    """The reserved attempt passed its check: the username + IP (or browser) counter starts
    over, and the slow-down gives its slot back."""
    attempt: _Attempt | None = getattr(request, _REQUEST_KEY, None)
    if attempt is None:
        return
    delattr(request, _REQUEST_KEY)
    if not attempt.reserved:
        return
    # One statement for both counters.
    restart = [pk for pk, scope in attempt.reserved if scope == Scope.ACCOUNT]
    LoginThrottle.objects.filter(pk__in=[pk for pk, _scope in attempt.reserved]).filter(
        Q(pk__in=restart) | Q(failures__gt=0)).update(
        failures=Case(When(pk__in=restart, then=Value(0)), default=F("failures") - 1))


def count_failure(request: HttpRequest, username: str) -> None:
    """A credential checked without a reservation failed (a passkey assertion: it cannot be
    guessed, but its failures still count towards the locks; a passwordless one names nobody
    until it is checked, so it counts towards its IP only)."""
    if not username:
        _count_ip(_where()[0])
    elif reserve(request, username, slow_down=False).allowed:
        failed(request)


def unlock(*, username: str = "", ip: str = "", actor: Actor) -> int:
    """Clear the counters of ``username`` and/or ``ip`` in the current tenant (an audit event)."""
    user = find_user(username) if username.strip() else None
    username = (user.username if user is not None else username.strip()).lower()
    if not username and not ip:
        raise ValueError("unlock needs a username or an IP address")
    rows = LoginThrottle.objects.all()
    if username and ip:
        rows = rows.filter(username=username, ip__in=[ip, ""])
    elif username:
        rows = rows.filter(username=username)
    else:
        rows = rows.filter(ip=ip)
    with transaction.atomic():
        count, _ = rows.delete()
        events.unlocked(username=username, ip=ip, actor=actor, counters=count)
    return count


# -- axes' handler interface ---------------------------------------------------------------


class LockoutHandler(AbstractAxesHandler, AxesBaseHandler):
    """AXES_HANDLER: axes' backend asks ``is_allowed`` before every password check."""

    def is_allowed(self, request: Any, credentials: dict | None = None) -> bool:
        decision = reserve(request, get_client_username(request, credentials))
        request.tessera_lockout = decision
        if not decision.allowed:
            request.axes_locked_out = True  # read by user_login_failed below and by the audit event
        return decision.allowed

    def is_locked(self, request: Any, credentials: dict | None = None) -> bool:
        decision = getattr(request, "tessera_lockout", None)
        return decision is not None and not decision.allowed

    def user_login_failed(self, sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
        if request is not None and not getattr(request, "axes_locked_out", False):
            failed(request)

    def user_logged_in(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        if request is not None:
            passed(request)

    def user_logged_out(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        return None

    # axes' receivers for its own AccessAttempt table, which this handler does not use.
    def post_save_access_attempt(self, instance: Any, **kwargs: Any) -> None:
        return None

    def post_delete_access_attempt(self, instance: Any, **kwargs: Any) -> None:
        return None

    def get_failures(self, request: Any, credentials: dict | None = None) -> int:
        ip, device = _where()
        username = get_client_username(request, credentials)
        known = known_browser(username, device)
        row = LoginThrottle.objects.filter(**_account_key(username, known, ip, device)).first()
        return row.failures if row is not None else 0

    def reset_attempts(self, *, ip_address: str | None = None, username: str | None = None,
                       ip_or_username: bool = False) -> int:
        from core.actors import system_actor

        return unlock(username=username or "", ip=ip_address or "", actor=system_actor("axes"))


__all__ = ["LockoutHandler", "client_ip", "canonical_username", "cool_off", "failure_limit", "reserve", "failed",
           "passed", "unlock", "count_failure"]
