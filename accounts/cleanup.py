"""What of accounts' tables a cleanup may delete (idp.cleanup runs it with the tokens):
sessions past their expiry, and lockout counters whose last failure is older than the
tenant's cool-off (accounts.lockout starts such a counter afresh anyway)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import BrowserSession, LoginThrottle
from tenants.context import require_tenant
from tenants.services import policy_for


def expired_sessions() -> QuerySet[BrowserSession]:
    return BrowserSession.objects.filter(expire_date__lte=timezone.now())


def stale_lockout_counters() -> QuerySet[LoginThrottle]:
    cooloff = timedelta(seconds=policy_for(require_tenant()).lockout_cooloff)
    return LoginThrottle.objects.filter(Q(last_failure__isnull=True) | Q(last_failure__lt=timezone.now() - cooloff))


TABLES = (("sessions", expired_sessions), ("lockout counters", stale_lockout_counters))
