"""The metrics the audit trail feeds (core.metrics): every sign-in, token, revocation,
lockout and reuse is an audit event, so they are counted once, where events are recorded,
and the audit spool's backlog is read at each scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from audit import spool
from audit.models import Action
from core import metrics


def _sign_in(outcome: str, details: dict[str, Any]) -> None:
    metrics.count_sign_in(outcome)


def _issued(outcome: str, details: dict[str, Any]) -> None:
    metrics.count_token_issued(str(details.get("grant_type", "")))


def _refreshed(outcome: str, details: dict[str, Any]) -> None:
    metrics.count_token_issued("refresh_token")


# The named counters derived from an event's action.
_DERIVED: dict[str, Callable[[str, dict[str, Any]], None]] = {
    Action.LOGIN_SUCCEEDED: _sign_in,
    Action.LOGIN_FAILED: _sign_in,
    Action.TOKEN_ISSUED: _issued,
    Action.TOKEN_REFRESHED: _refreshed,
    Action.TOKEN_REVOKED: lambda outcome, details: metrics.count_revocation(),
    Action.LOCKED_OUT: lambda outcome, details: metrics.count_lockout(),
    Action.TOKEN_REUSE_DETECTED: lambda outcome, details: metrics.count_reuse_detected(),
}


def count_event(action: str, outcome: str, details: dict[str, Any]) -> None:
    """Count one recorded event: tessera_audit_events_total, and its named counter if any."""
    metrics.count_audit_event(action, outcome)
    derived = _DERIVED.get(action)
    if derived is not None:
        derived(outcome, details)


def spool_backlog() -> Iterator[Metric]:
    """The audit spool's entries not yet in the trail (XLEN) and those a shipper has read but
    not yet committed (XPENDING); nothing when no spool is configured."""
    if not spool.enabled():
        return
    client = spool.client()
    waiting = GaugeMetricFamily("tessera_audit_spool_backlog",
                                "Audit events in the spool stream, not yet chained into the trail.")
    waiting.add_metric([], float(client.xlen(spool.STREAM)))
    yield waiting
    pending = GaugeMetricFamily("tessera_audit_spool_pending",
                                "Spooled audit events read by a shipper and not yet acknowledged.")
    try:
        count = client.xpending(spool.STREAM, spool.GROUP)["pending"]
    except Exception as exc:  # noqa: BLE001 - no group yet (no shipper ever ran): none pending
        if "NOGROUP" not in str(exc):
            raise
        count = 0
    pending.add_metric([], float(count))
    yield pending

