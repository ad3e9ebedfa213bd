"""A simple, explained risk score for authentication events (0-100).

Signals, each with the reason recorded next to the score:
- failed sign-ins for this username in the last hour (+10 each, at most +40);
- failed sign-ins from this IP address in the last hour, any username (+5 each, at most +30);
- a device cookie never seen in a successful sign-in of this user (+20);
- an IP address never seen in a successful sign-in of this user (+10).
A user's first successful sign-in counts as neither new device nor new IP.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from audit.context import memoised
from audit.sql import RISK_SIGNALS

WINDOW = timedelta(hours=1)

# The reasons are recorded in English (they are part of the chained, hashed event); a page
# shows them in its reader's language through describe(). Each recorded form has its pattern.
_USER_FAILURES = "{n} failed sign-in(s) for this user in the last hour"
_IP_FAILURES = "{n} failed sign-in(s) from this IP in the last hour"
_NEW_DEVICE = "first sign-in from this device"
_NEW_IP = "first sign-in from this IP address"
_COUNTED = {template: re.compile(re.escape(template).replace(r"\{n\}", "([0-9]+)"))
            for template in (_USER_FAILURES, _IP_FAILURES)}


def assess(tenant_id: int, subject: str, ip: str, device: str) -> tuple[int, list[str]]:
    """(score, reasons) for an authentication attempt by ``subject`` from ``ip``/``device``.

    Once per request (audit.context.memoised): the sign-in's decision and its event record
    the same score, in one query. The request's own events are chained at its commit, so
    the signals could not change within it anyway."""
    score, reasons = memoised(("risk", tenant_id, subject, ip, device), lambda: _assess(tenant_id, subject, ip, device))
    return score, list(reasons)


def _assess(tenant_id: int, subject: str, ip: str, device: str) -> tuple[int, list[str]]:
    params: dict[str, Any] = {"subject": subject, "ip": ip, "device": device, "since": timezone.now() - WINDOW,
              "tenant_id": tenant_id}
    with connection.cursor() as cursor:
        cursor.execute(RISK_SIGNALS, params)
        user_failures, ip_failures, successes, seen_device, seen_ip = (int(v) for v in cursor.fetchone())
    score, reasons = 0, []
    if user_failures:
        score += min(40, 10 * user_failures)
        reasons.append(_USER_FAILURES.format(n=user_failures))
    if ip_failures:
        score += min(30, 5 * ip_failures)
        reasons.append(_IP_FAILURES.format(n=ip_failures))
    if successes:
        if not seen_device:
            score += 20
            reasons.append(_NEW_DEVICE)
        if not seen_ip:
            score += 10
            reasons.append(_NEW_IP)
    return min(score, 100), reasons


def describe(reason: str) -> str:
    """A recorded reason in the active language (an unknown one as it was recorded)."""
    if reason == _NEW_DEVICE:
        return gettext("first sign-in from this browser")
    if reason == _NEW_IP:
        return gettext("first sign-in from this IP address")
    if match := _COUNTED[_USER_FAILURES].fullmatch(reason):
        n = int(match[1])
        return ngettext("%(n)d failed sign-in for this account in the last hour",
                        "%(n)d failed sign-ins for this account in the last hour", n) % {"n": n}
    if match := _COUNTED[_IP_FAILURES].fullmatch(reason):
        n = int(match[1])
        return ngettext("%(n)d failed sign-in from this IP address in the last hour",
                        "%(n)d failed sign-ins from this IP address in the last hour", n) % {"n": n}
    return reason
