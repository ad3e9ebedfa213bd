"""A tenant's usage, from its audit trail: the figures an operator bills and plans capacity by.

Counted in the database (GROUP BY day or month), never by loading events, over the events
of one tenant read through the platform door (tenants.platform: the read is itself audited
in that tenant's trail). Days and months are UTC calendar days and months.

What is counted, per day:
- ``sign_ins_succeeded``: auth.login.succeeded events (a completed sign-in at the tenant's
  login page, after its second factor when one was asked);
- ``sign_ins_failed``: auth.login.failed events (a wrong password or unknown username, and
  attempts refused while locked out);
- ``tokens``: token.issued and token.refreshed events by their ``details.grant_type``
  (authorization_code, refresh_token, client_credentials, and any other grant that occurs,
  such as the device code); one per successful token response;
- ``active_users``: distinct users (the ``target`` id of user-targeted events: the user's
  uid) with a successful sign-in or a token issued or refreshed for them that day. Client
  credentials tokens are issued to a client, not a person, and make nobody active.

``monthly_active_users``: the same distinct-user count per calendar month, over the days of
that month inside the requested range (the first and last months may be partial: each row
says which days it covers).

Events past the tenant's audit retention are purged and no longer counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncDate, TruncMonth

from audit.models import Action, AuditEvent
from core.actors import Actor
from tenants.models import Tenant
from tenants.platform import platform_access

# The grant types every report lists (zero when none occurred); others appear when they occur.
REPORTED_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
TOKEN_ACTIONS = (Action.TOKEN_ISSUED.value, Action.TOKEN_REFRESHED.value)
# What makes a user active: a completed sign-in or a token issued or refreshed for them.
ACTIVITY_ACTIONS = (Action.LOGIN_SUCCEEDED.value, *TOKEN_ACTIONS)
MAX_DAYS = 366


@dataclass
class DayUsage:
    day: date
    sign_ins_succeeded: int = 0
    sign_ins_failed: int = 0
    active_users: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REPORTED_GRANTS, 0))


@dataclass
class MonthUsage:
    month: str  # YYYY-MM
    first_day: date  # the days of the month the figure covers
    last_day: date
    active_users: int = 0


@dataclass
class TenantUsage:
    tenant: Tenant
    first_day: date
    last_day: date
    days: list[DayUsage]
    months: list[MonthUsage]

    @property
    def totals(self) -> dict[str, Any]:
        tokens: dict[str, int] = dict.fromkeys(REPORTED_GRANTS, 0)
        for day in self.days:
            for grant, count in day.tokens.items():
                tokens[grant] = tokens.get(grant, 0) + count
        return {"sign_ins_succeeded": sum(d.sign_ins_succeeded for d in self.days),
                "sign_ins_failed": sum(d.sign_ins_failed for d in self.days), "tokens": tokens}


def tenant_usage(tenant: Tenant, *, first_day: date, last_day: date, actor: Actor) -> TenantUsage:
    """The tenant's usage from ``first_day`` to ``last_day`` inclusive (UTC days); raises
    ValueError for an empty range or one longer than ``MAX_DAYS``."""
    if last_day < first_day:
        raise ValueError("The range ends before it begins.")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise ValueError(f"The range is longer than {MAX_DAYS} days.")
    start = datetime.combine(first_day, time.min, tzinfo=UTC)
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)
    days = {first_day + timedelta(days=n): DayUsage(first_day + timedelta(days=n))
            for n in range((last_day - first_day).days + 1)}
    months: dict[str, MonthUsage] = {}
    for day in days:
        key = day.strftime("%Y-%m")
        if key not in months:
            months[key] = MonthUsage(key, first_day=day, last_day=day)
        months[key].last_day = day
    reason = f"usage report {first_day.isoformat()}..{last_day.isoformat()}"
    with platform_access(tenant, reason=reason, actor=actor):
        events = AuditEvent.objects.filter(occurred__gte=start, occurred__lt=end)
        user_activity = Q(action__in=ACTIVITY_ACTIONS, target_type="user")
        per_day = (events.filter(action__in=(Action.LOGIN_SUCCEEDED, Action.LOGIN_FAILED, *TOKEN_ACTIONS))
                   .annotate(day=TruncDate("occurred", tzinfo=UTC)).values("day").order_by("day")
                   .annotate(succeeded=Count("pk", filter=Q(action=Action.LOGIN_SUCCEEDED)),
                             failed=Count("pk", filter=Q(action=Action.LOGIN_FAILED)),
                             active=Count("target_id", filter=user_activity, distinct=True)))
        for row in per_day:
            usage = days[_as_date(row["day"])]
            usage.sign_ins_succeeded, usage.sign_ins_failed = row["succeeded"], row["failed"]
            usage.active_users = row["active"]
        per_grant = (events.filter(action__in=TOKEN_ACTIONS)
                     .annotate(day=TruncDate("occurred", tzinfo=UTC),
                               grant=KeyTextTransform("grant_type", "details"))
                     .values("day", "grant").order_by("day", "grant").annotate(issued=Count("pk")))
        for row in per_grant:
            grant = row["grant"] or "unknown"
            days[_as_date(row["day"])].tokens[grant] = row["issued"]
        per_month = (events.filter(user_activity)
                     .annotate(month=TruncMonth("occurred", tzinfo=UTC)).values("month").order_by("month")
                     .annotate(active=Count(F("target_id"), distinct=True)))
        for row in per_month:
            months[_as_date(row["month"]).strftime("%Y-%m")].active_users = row["active"]
    return TenantUsage(tenant=tenant, first_day=first_day, last_day=last_day, days=list(days.values()),
                       months=list(months.values()))


def _as_date(value: date | datetime | str) -> date:
    """TruncDate/TruncMonth give a date, a datetime or (SQLite, some versions) a string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
