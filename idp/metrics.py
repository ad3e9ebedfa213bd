"""Signing-key age for /metrics: how long the oldest active key of each algorithm has signed.

Keys live under row-level security, so no query made at scrape time can see every tenant's;
the platform door (tenants.platform) could, but it audits each entry, and a scrape every 15 s
would fill every tenant's trail. The rotation job already passes through that door for each
tenant, once per KEY_ROTATION_CHECK_INTERVAL: each run reports the tenant's active keys to
the shared cache (Redis in production), and a scrape combines the reports of the active
tenants. A report lives three check intervals: a tenant whose rotation job stopped drops out,
which ``tessera_signing_key_reports`` (against ``tessera_active_tenants``) shows.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

from django.core.cache import cache
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from core.conf import tessera_settings
from tenants.models import Tenant

_REPORT_KEY = "tessera:metrics:signing-keys:{}"


def report_active_keys(tenant_id: int, signing_since: dict[str, dt.datetime]) -> None:
    """The rotation job's report for one tenant: since when each algorithm's active key signs."""
    cache.set(_REPORT_KEY.format(tenant_id), {alg: since.timestamp() for alg, since in signing_since.items()},
              timeout=3 * tessera_settings.KEY_ROTATION_CHECK_INTERVAL)


def signing_key_age() -> Iterator[Metric]:
    """At scrape: the age of the oldest active key per algorithm, over the active tenants'
    latest reports."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    reports = cache.get_many([_REPORT_KEY.format(pk) for pk in tenant_ids]) if tenant_ids else {}
    oldest: dict[str, float] = {}
    for report in reports.values():
        for alg, since in report.items():
            oldest[alg] = min(since, oldest.get(alg, since))
    now = time.time()
    age = GaugeMetricFamily("tessera_signing_key_age_seconds",
                            "Age of the oldest active signing key, by algorithm (from the rotation job's reports).",
                            labels=["algorithm"])
    for alg, since in sorted(oldest.items()):
        age.add_metric([alg], max(0.0, now - since))
    yield age
    tenants = GaugeMetricFamily("tessera_active_tenants", "Active tenants.")
    tenants.add_metric([], float(len(tenant_ids)))
    yield tenants
    reported = GaugeMetricFamily("tessera_signing_key_reports",
                                 "Active tenants whose key-rotation job reported within three check intervals.")
    reported.add_metric([], float(len(reports)))
    yield reported
