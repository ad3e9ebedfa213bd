"""Sending webhook deliveries: signing, the network guard, attempts, retries and the sweep.

A delivery is a POST of the event's JSON (the export's shape) with::

    Content-Type: application/json
    Tessera-Webhook-Id: <delivery id>          the same on every retry: the receiver's idempotency key
    Tessera-Event: <action>
    Tessera-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

A receiver recomputes the HMAC over the raw body with the secret it was given, compares in
constant time, and refuses a timestamp more than five minutes from its clock (a replay).

Only 2xx counts as delivered; redirects are not followed. Each attempt is claimed with a
conditional UPDATE (pending, due) that pushes ``next_attempt_at`` past the attempt's longest
duration, so two workers never send the same delivery at once; a failed attempt is retried
after ``WEBHOOK_RETRY_DELAYS`` (then the delivery is failed). Attempts are recorded on the
delivery row, never as audit events: a subscription to ``*`` would feed on its own deliveries.

The network guard (SSRF): endpoints are https only, and unless
``WEBHOOK_ALLOW_PRIVATE_NETWORKS``, every address the host resolves to must be a public one;
it is checked on the address the socket connects to, so DNS that changes between the check
and the connection (rebinding) cannot reach the deployment's own network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from audit.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from core.conf import tessera_settings
from core.crypto import unseal
from tenants.context import tenant_context
from tenants.models import Tenant

log = logging.getLogger("tessera.webhooks")

CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 10.0
# A claimed attempt is not due again before this: longer than any attempt can take.
CLAIM_LEASE = dt.timedelta(seconds=60)
SIGNATURE_TOLERANCE = 300  # seconds; what receivers are told to accept (and verify_signature does)
SECRET_PURPOSE = b"tessera/webhook-secret/v1"
USER_AGENT = "Tessera-Webhooks/1"
SWEEP_BATCH = 500


def secret_aad(subscription: WebhookSubscription) -> bytes:
    """The associated data binding a sealed secret to its tenant and row."""
    return f"webhook:{subscription.tenant_id}:{subscription.pk}".encode()


def subscription_secret(subscription: WebhookSubscription) -> str:
    return unseal(subscription.sealed_secret, purpose=SECRET_PURPOSE, associated_data=secret_aad(subscription)).decode()


# --- Signing ---------------------------------------------------------------------------------

def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Tessera-Signature`` header value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, *, now: float | None = None,
                     tolerance: int = SIGNATURE_TOLERANCE) -> bool:
    """What a receiver does (the reference for the README's recipe): parse ``t`` and every
    ``v1``, refuse a timestamp further than ``tolerance`` seconds from now, and compare the
    HMAC in constant time."""
    try:
        parts = [item.split("=", 1) for item in header.split(",")]
        timestamp = int(next(value for key, value in parts if key.strip() == "t"))
        candidates = [value for key, value in parts if key.strip() == "v1"]
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --- The network guard -----------------------------------------------------------------------

class ForbiddenAddress(ValueError):
    """The endpoint resolves to an address webhooks may not reach."""


def address_allowed(address: str) -> bool:
    """A public unicast address (or any, with WEBHOOK_ALLOW_PRIVATE_NETWORKS)."""
    if tessera_settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one (mapped, 6to4, Teredo's client) is judged as IPv4.
        teredo = ip.teredo[1] if ip.teredo else None
        inner = ip.ipv4_mapped or ip.sixtofour or teredo
        if inner is not None and not address_allowed(str(inner)):
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def resolve(host: str, port: int) -> list[tuple]:
    """getaddrinfo of ``host``, refused (ForbiddenAddress) when any address is not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ForbiddenAddress(f"{host} does not resolve") from exc
    if any(not address_allowed(str(info[4][0])) for info in infos):
        # Not which address: a tenant admin must not map the deployment's network by asking.
        raise ForbiddenAddress(f"{host} resolves to a private, loopback or reserved address")
    return infos


def validate_url(url: str) -> str:
    """``url`` if webhooks may post to it: https, a host, no credentials or fragment, and (now)
    only public addresses; ValidationError otherwise."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise ValidationError(f"Not a URL: {exc}") from exc
    if parts.scheme != "https":
        raise ValidationError("A webhook endpoint must be an https:// URL.")
    if not parts.hostname:
        raise ValidationError("A webhook endpoint needs a host.")
    if parts.username or parts.password:
        # They would be stored in clear; the signature is how a receiver knows the sender.
        raise ValidationError("A webhook URL may not carry credentials: receivers check the signature instead.")
    if parts.fragment or len(url) > 2000:
        raise ValidationError("A webhook URL may not have a fragment or exceed 2000 characters.")
    try:
        resolve(parts.hostname, port)
    except ForbiddenAddress as exc:
        raise ValidationError(f"Webhooks cannot be sent there: {exc}.") from exc
    return url


class GuardedHTTPSConnection(HTTPSConnection):
    """urllib3's HTTPS connection, connecting only to addresses the guard allows: the check
    and the connection use the same resolution."""

    def _new_conn(self) -> socket.socket:
        try:
            infos = resolve(self._dns_host, self.port)
        except ForbiddenAddress as exc:
            raise NewConnectionError(self, str(exc)) from exc
        error: OSError | None = None
        for family, type_, proto, _name, address in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.settimeout(self.timeout if isinstance(self.timeout, (int, float)) else CONNECT_TIMEOUT)
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose HTTPS pools use GuardedHTTPSConnection."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"https": GuardedHTTPSConnectionPool}


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the guard must see the real address
    session.mount("https://", GuardedAdapter(max_retries=0))
    session.mount("http://", HTTPAdapter(max_retries=0))  # never used: URLs are https only
    return session


# --- Attempts --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str]) -> Attempt:
    """POST ``body``; the status code or why there is none. The response body is never read."""
    if urlsplit(url).scheme != "https":
        return Attempt(None, "not an https URL")
    verify: str | bool = tessera_settings.WEBHOOK_CA_FILE or True
    try:
        with _session() as session, session.post(url, data=body, headers=headers, allow_redirects=False,
                                                 timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), verify=verify,
                                                 stream=True) as response:
            code = response.status_code
    except requests.RequestException as exc:
        return Attempt(None, f"{type(exc).__name__}: {_reason(exc)}")
    return Attempt(code, "" if 200 <= code < 300 else f"HTTP {code}")


def _reason(exc: BaseException) -> str:
    """The innermost reason urllib3 gave (requests wraps it twice), on one short line."""
    inner: object = exc.args[0] if exc.args else exc
    inner = getattr(inner, "reason", inner)
    text = str(inner)
    if isinstance(inner, NewConnectionError):
        text = text.split(": ", 1)[-1]  # drop the connection object's repr
    return text.replace("\n", " ")[:160]


def claim(delivery_id: str) -> bool:
    """Take the delivery's next attempt (pending and due); False when it is not ours to make."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING,
                                             next_attempt_at__lte=now).update(
        next_attempt_at=now + CLAIM_LEASE, attempts=F("attempts") + 1)
    return claimed == 1


def deliver(delivery_id: str) -> WebhookDelivery | None:
    """Make the delivery's next attempt, for the tenant in context, if it is due and nobody
    else is making it; the delivery afterwards (None: there was nothing to do)."""
    with transaction.atomic():
        if not claim(delivery_id):
            return None
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None:
        return None  # deleted with its subscription meanwhile
    subscription = delivery.subscription
    if not subscription.is_active:
        return record_attempt(delivery, Attempt(None, "the subscription is disabled"), final=True)
    try:
        body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Tessera-Webhook-Id": str(delivery.pk),
            "Tessera-Event": delivery.action,
            "Tessera-Signature": sign(subscription_secret(subscription), body, int(time.time())),
        }
        attempt = post(subscription.url, body, headers)
    except Exception as exc:  # noqa: BLE001 - recorded, and retried on the schedule like any failure
        log.exception("webhook delivery %s: attempt failed on our side", delivery.pk)
        attempt = Attempt(None, f"internal error: {type(exc).__name__}")
    return record_attempt(delivery, attempt)


def record_attempt(delivery: WebhookDelivery, attempt: Attempt, *, final: bool = False) -> WebhookDelivery:
    """Store an attempt's outcome on its delivery: delivered, due again after the next
    retry delay, or failed once the delays are used up (or ``final``)."""
    now = timezone.now()
    delays = tessera_settings.WEBHOOK_RETRY_DELAYS
    changes: dict = {"last_status_code": attempt.status_code, "last_error": attempt.error[:200]}
    if attempt.delivered:
        changes.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
    elif final or delivery.attempts > len(delays):
        changes.update(status=DeliveryStatus.FAILED)
    else:
        changes.update(next_attempt_at=now + dt.timedelta(seconds=delays[delivery.attempts - 1]))
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(**changes)
    for name, value in changes.items():
        setattr(delivery, name, value)
    if not attempt.delivered:
        log.info("webhook delivery %s (attempt %d) failed: %s", delivery.pk, delivery.attempts, attempt.error)
    return delivery


def due_deliveries(*, overdue: dt.timedelta = dt.timedelta(0), limit: int = SWEEP_BATCH) -> list[str]:
    """Ids of the current tenant's pending deliveries due for longer than ``overdue``."""
    return [str(pk) for pk in WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now() - overdue,
    ).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]]


def sweep() -> int:
    """Enqueue every active tenant's deliveries that are overdue by a sweep interval (their
    task was lost: the broker was down, a worker died mid-attempt); how many.

    Tenant by tenant under its own context (row-level security shows no other), like
    tenants.tasks.tenant_task and not through the audited platform door: a platform.access
    event per tenant per sweep would flood every trail, and a subscription to ``*`` would turn
    each into a delivery for the next sweep to find.
    """
    from audit.tasks import deliver_webhook

    overdue = dt.timedelta(seconds=tessera_settings.WEBHOOK_SWEEP_INTERVAL)
    count = 0
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        with tenant_context(tenant):
            ids = due_deliveries(overdue=overdue)
        for delivery_id in ids:
            deliver_webhook.delay(tenant.pk, delivery_id)
        count += len(ids)
    return count

