"""Prometheus metrics (prometheus-client), served at /metrics (issue 15).

Every process keeps its own counters; under gunicorn with several workers the values are
combined through ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode: each
process writes its values to memory-mapped files there, a scrape reads them all; gunicorn
runs core.gunicorn_hooks, which clears a dead worker's live values).

Other modules count through the small functions here, never through the metric objects, so
that the names and labels stay in one place. Labels are bounded: requests by URL pattern name
(never the raw path), grants and jobs by name from the code; no label takes a tenant slug or
anything else a caller chooses.

Values that are read, not counted (the audit spool's backlog, the signing keys' age) are
computed at scrape time by collectors the apps register (``register_collector``), each
guarded: a collector that fails reports ``tessera_scrape_collector_up 0`` and the rest of the
scrape still answers.

Who may scrape: a bearer token (``TESSERA_METRICS_TOKEN``, compared in constant time), or a
client address in ``TESSERA_METRICS_ALLOWED_IPS`` (CIDRs; the address follows the trusted-proxy
rule of core.client_ip). With neither configured, development and tests answer loopback only
and production answers 404 (``check --deploy`` warns, tessera.W010): metrics name clients'
traffic and failures, so an unconfigured deployment keeps them to itself.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.core.checks import CheckMessage
from django.core.checks import Warning as CheckWarning
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from core.client_ip import client_ip
from core.conf import tessera_settings

log = logging.getLogger("tessera.metrics")

# -- what is counted --------------------------------------------------------------------------

REQUESTS = Counter(
    "tessera_http_requests_total",
    "HTTP requests answered, by endpoint (the URL pattern's name), method and status code.",
    ["endpoint", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "tessera_http_request_duration_seconds",
    "Time from the first middleware to the response, by endpoint (the URL pattern's name).",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AUDIT_EVENTS = Counter(
    "tessera_audit_events_total",
    "Audit events recorded, by action and outcome.",
    ["action", "outcome"],
)
SIGN_INS = Counter("tessera_sign_ins_total", "Password sign-ins, by outcome (success, failure).", ["outcome"])
TOKENS_ISSUED = Counter("tessera_tokens_issued_total", "Token responses issued, by grant type.", ["grant"])
REVOCATIONS = Counter("tessera_token_revocations_total", "Tokens (or token families) revoked.")
LOCKOUTS = Counter("tessera_lockouts_total", "Sign-ins locked after repeated failures.")
REUSE_DETECTED = Counter(
    "tessera_token_reuse_detected_total",
    "Authorization codes or refresh tokens presented again (their families revoked).",
)
RATE_LIMITED = Counter(
    "tessera_rate_limited_requests_total",
    "Requests refused with 429 by a rate limit, by the limit's scope (login, token, api, ...).",
    ["scope"],
)
FALLBACKS = Counter(
    "tessera_backing_service_fallbacks_total",
    "Outages of a backing service a process noticed and worked around, by what fell back: cache "
    "(answers misses), rate_limits (counted in the process's memory), audit_spool (events written "
    "synchronously).",
    ["service"],
)
JOBS = Counter(
    "tessera_jobs_total",
    "Background job runs (Celery tasks), by task name and outcome (succeeded, failed, retried).",
    ["task", "outcome"],
)

# RFC 6749 grants and the device grant; anything else is counted as "other".
KNOWN_GRANTS = frozenset({"authorization_code", "refresh_token", "client_credentials",
                          "urn:ietf:params:oauth:grant-type:device_code"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNRESOLVED = "unresolved"  # answered before URL resolution (unknown tenant, CORS preflight, static)


def count_rate_limited(scope: str) -> None:
    """One request refused by the rate limit named ``scope``."""
    RATE_LIMITED.labels(scope=scope).inc()


def count_fallback(service: str) -> None:
    """A process lost ``service`` and works without it until it answers again."""
    FALLBACKS.labels(service=service).inc()


def count_audit_event(action: str, outcome: str) -> None:
    """One audit event recorded (audit.recording.record)."""
    _child(AUDIT_EVENTS, action, outcome).inc()


def count_sign_in(outcome: str) -> None:
    _child(SIGN_INS, outcome).inc()


def count_token_issued(grant: str) -> None:
    _child(TOKENS_ISSUED, grant if grant in KNOWN_GRANTS else "other").inc()


def count_revocation() -> None:
    REVOCATIONS.inc()


def count_lockout() -> None:
    LOCKOUTS.inc()


def count_reuse_detected() -> None:
    REUSE_DETECTED.inc()


def count_job(task: str, outcome: str) -> None:
    _child(JOBS, task, outcome).inc()


# labels() takes a lock and builds a tuple on every call: the hot paths look children up
# here, one dict read. Values are bounded by the label rules above.
_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


class MetricsMiddleware:
    """Counts every response by endpoint, method and status, and times it. Outermost, so the
    time includes every other middleware and the responses they answer themselves."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        endpoint = (match.view_name or UNRESOLVED) if match is not None else UNRESOLVED
        method = request.method if request.method in _METHODS else "other"
        _child(REQUESTS, endpoint, method, str(response.status_code)).inc()
        _child(REQUEST_DURATION, endpoint).observe(elapsed)
        return response


# -- jobs ---------------------------------------------------------------------------------------


def count_celery_jobs() -> None:
    """Count Celery task outcomes (every job: cleanup, rotation, audit maintenance, mail,
    webhooks), by the task's registered name, a bounded set."""
    from celery import signals

    def succeeded(sender: Any = None, **kwargs: Any) -> None:
        count_job(getattr(sender, "name", "unknown"), "succeeded")

    def failed(sender: Any = None, **kwargs: Any) -> None:
        count_job(getattr(sender, "name", "unknown"), "failed")

    def retried(sender: Any = None, **kwargs: Any) -> None:
        count_job(getattr(sender, "name", "unknown"), "retried")

    signals.task_success.connect(succeeded, weak=False, dispatch_uid="core.metrics.succeeded")
    signals.task_failure.connect(failed, weak=False, dispatch_uid="core.metrics.failed")
    signals.task_retry.connect(retried, weak=False, dispatch_uid="core.metrics.retried")


# -- read at scrape time -------------------------------------------------------------------------

ScrapeCollector = Callable[[], Iterable[Metric]]
_collectors: dict[str, ScrapeCollector] = {}


def register_collector(name: str, collect: ScrapeCollector) -> None:
    """Add metrics computed at each scrape (an app's ready()). ``name`` labels its up gauge."""
    _collectors[name] = collect


class _ScrapeTime:
    """The registered collectors, each guarded, and one up gauge saying which answered."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tessera_scrape_collector_up",
                               "1 when a scrape-time collector answered, 0 when it failed.", labels=["collector"])
        for name, collect in _collectors.items():
            try:
                metrics = list(collect())
            except Exception as exc:  # noqa: BLE001 - one failed source must not hide the rest
                log.warning("metrics collector %s failed: %s", name, type(exc).__name__)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from metrics
        yield up


class _ThisProcess:
    """The default registry's metrics (single-process mode: counters and process metrics)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> bytes:
    """The text exposition of every metric: all processes' values in multiprocess mode."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(_ScrapeTime())
    return generate_latest(registry)


# -- who may scrape --------------------------------------------------------------------------------


@functools.cache
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _networks(tuple(tessera_settings.METRICS_ALLOWED_IPS))


def _refused(status: int, challenge: str = "") -> HttpResponse:
    response = HttpResponse(status=status)
    if challenge:
        response["WWW-Authenticate"] = challenge  # RFC 6750 §3
    return response


def _access_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the caller may scrape, else the refusal (see the module docstring)."""
    token: str = tessera_settings.METRICS_TOKEN
    networks = allowed_networks()
    presented = request.headers.get("Authorization", "")
    if token and presented:
        scheme, _, value = presented.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return None
        return _refused(401, 'Bearer realm="metrics", error="invalid_token"')
    try:
        address = ipaddress.ip_address(client_ip(request.META))
    except ValueError:
        address = None
    if networks and address is not None and any(address in network for network in networks):
        return None
    if token:
        return _refused(401, 'Bearer realm="metrics"')
    if networks:
        return _refused(403)
    if tessera_settings.ENVIRONMENT == "production":
        return _refused(404)  # not configured: as if there were no such endpoint
    return None if address is not None and address.is_loopback else _refused(403)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the Prometheus text exposition, to an authorised scraper."""
    refusal = _access_refusal(request)
    if refusal is not None:
        return refusal
    if request.method not in ("GET", "HEAD"):
        return _refused(405)
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def check_metrics_access(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Deploy check: /metrics answers nobody in production until a token or allowlist is set."""
    if tessera_settings.METRICS_TOKEN or tessera_settings.METRICS_ALLOWED_IPS:
        return []  # the addresses themselves are validated as the settings load (settings.base)
    return [CheckWarning(
        "/metrics is refused (404) to everyone: no TESSERA_METRICS_TOKEN and no TESSERA_METRICS_ALLOWED_IPS.",
        hint="Set TESSERA_METRICS_TOKEN to a random value (python -c \"import secrets; "
             "print(secrets.token_urlsafe(32))\") and give it to Prometheus as its bearer token, or list "
             "the scrapers' addresses in TESSERA_METRICS_ALLOWED_IPS (CIDRs).",
        id="tessera.W010")]
