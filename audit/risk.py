"""A simple, explained risk score for authentication events (0-100).

Signals, each with the reason recorded next to the score:
- failed sign-ins for this username in the last hour (+10 each, at most +40);
- failed sign-ins from this IP address in the last hour, any username (+5 each, at most +30);
- a device cookie never seen in a successful sign-in of this user (+20);
- an IP address never seen in a successful sign-in of this user (+10).
A user's first successful sign-in counts as neither new device nor new IP.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from audit.sql import RISK_SIGNALS

WINDOW = timedelta(hours=1)



def assess(tenant_id: int, subject: str, ip: str, device: str) -> tuple[int, list[str]]:
    """(score, reasons) for an authentication attempt by ``subject`` from ``ip``/``device``."""
    params: dict[str, Any] = {"subject": subject, "ip": ip, "device": device, "since": timezone.now() - WINDOW,
              "tenant_id": tenant_id}
    with connection.cursor() as cursor:
        cursor.execute(RISK_SIGNALS, params)
        user_failures, ip_failures, successes, seen_device, seen_ip = (int(v) for v in cursor.fetchone())
    score, reasons = 0, []
    if user_failures:
        score += min(40, 10 * user_failures)
        reasons.append(f"{user_failures} failed sign-in(s) for this user in the last hour")
    if ip_failures:
        score += min(30, 5 * ip_failures)
        reasons.append(f"{ip_failures} failed sign-in(s) from this IP in the last hour")
    if successes:
        if not seen_device:
            score += 20
            reasons.append("first sign-in from this device")
        if not seen_ip:
            score += 10
            reasons.append("first sign-in from this IP address")
    return min(score, 100), reasons
