"""Limits on the account pages.

- ``within_limit``: quiet caps for pages that send email or create accounts: a request past
  the cap gets the same page, and nothing is sent or made (a mailbox cannot be flooded, and the
  page tells nothing). Counted by core.ratelimit's limiter, like every other limit: in Redis
  when it is configured, in this process's memory while Redis is unreachable (decision 62), so
  a Redis outage neither lifts a cap nor turns the page into an error.
- ``signin_refused`` / ``recovery_refused``: the tenant's rate limits (core.ratelimit, issue
  15), per address and per account, counted before any password is hashed or email looked up;
  past them the person gets a 429 page saying when to try again.
"""

from __future__ import annotations

from django.http import HttpRequest

from accounts.lockout import client_ip, known_browser
from audit import context as audit_context
from core.ratelimit import Budget, Rate, Refusal, limiter, spend
from tenants.context import require_tenant
from tenants.services import policy_for


def within_limit(kind: str, value: str, limit: int, window: int) -> bool:
    """Count one more ``kind`` event for ``value`` (an address, an email, a user id) in this
    tenant; whether it is within ``limit`` per ``window`` seconds. Silent: no refusal event, the
    caller shows its usual page. The value only leaves the process as a digest (Budget.key)."""
    return limiter().hit(Budget(f"quiet.{kind}", Rate(limit, window), str(require_tenant().pk), value))


def signin_refused(request: HttpRequest, username: str) -> Refusal | None:
    """Spend one sign-in attempt (the password or the MFA step) from the client's address and
    at ``username``'s account; the refusal when either has none left.

    A browser that signed in as ``username`` before (accounts.lockout.known_browser) does not
    spend the account's budget, so strangers hammering an account cannot shut its owner out
    (decision 44); it still spends its address's."""
    return _spend("signin", request, username, exempt_known=True)


def recovery_refused(request: HttpRequest, account: str) -> Refusal | None:
    """Spend one recovery request (a password-reset request or link, a registration) from the
    client's address and for ``account`` (an email address, a link's user); the refusal when
    either has none left."""
    return _spend("recovery", request, account, exempt_known=False)


def _spend(kind: str, request: HttpRequest, account: str, *, exempt_known: bool) -> Refusal | None:
    tenant = require_tenant()
    policy = policy_for(tenant)
    account = account.strip().lower()[:254]
    ip_budget = Budget(f"{kind}.ip", policy.rate(f"{kind}_per_ip"), str(tenant.pk), client_ip(request))
    account_budget = None
    if account and not (exempt_known and known_browser(account, audit_context.current().device)):
        account_budget = Budget(f"{kind}.account", policy.rate(f"{kind}_per_account"), str(tenant.pk), account,
                                shown=account)
    return spend(ip_budget, account_budget)
