"""Key-encryption-key rotation: re-seal everything sealed under a previous KEK (core.crypto).

What is sealed: the data keys of keyed digests (core_datakey, platform-wide), the private
halves of signing keys, the TOTP seeds and the webhook signing secrets (per tenant, under
row-level security, reached through the platform door). Each row is re-sealed in its own short transaction, locked with
SKIP LOCKED so that two runs never fight over a row; a row already sealed under the current
KEK is left alone, so a run can be interrupted and run again, and serving goes on throughout
(``unseal`` accepts the previous KEKs until they are removed from the settings).

Client-secret digests, recovery-code digests and the audit chain's keyed links are not
re-computed (they cannot be: the secrets are not stored): their data keys are re-sealed, and
the keys themselves do not change, so every digest and link verifies as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from accounts.factors import TOTP_SEED_PURPOSE, _totp_aad
from accounts.models import TOTPDevice
from audit.models import Action, WebhookSubscription
from audit.recording import record
from audit.webhook_delivery import SECRET_PURPOSE as WEBHOOK_SECRET_PURPOSE
from audit.webhook_delivery import secret_aad as webhook_secret_aad
from core.actors import Actor
from core.crypto import DATA_KEY_PURPOSE, reseal, sealed_under_current_kek
from core.models import DataKey
from idp.crypto import _WRAP_INFO
from idp.keys import _aad as signing_key_aad
from idp.models import SigningKey
from tenants.models import Tenant
from tenants.platform import platform_access

log = logging.getLogger("tessera.jobs")


@dataclass(frozen=True)
class SealedColumn:
    """A column of sealed blobs: where it is, its purpose and the AAD of each row."""

    label: str
    model: type[models.Model]
    column: str
    purpose: bytes
    aad: Callable[[Any], bytes]
    rows: Callable[[], models.QuerySet]


TENANT_COLUMNS = (
    SealedColumn("signing keys", SigningKey, "encrypted_private_key", _WRAP_INFO,
                 lambda key: signing_key_aad(key.tenant_id, key.kid),
                 lambda: SigningKey.objects.with_private_half()),
    SealedColumn("TOTP seeds", TOTPDevice, "sealed_key", TOTP_SEED_PURPOSE, _totp_aad,
                 lambda: TOTPDevice.objects.all()),
    # Labelled by the table: the audit event's count under a key ending in "secrets" would be redacted.
    SealedColumn("webhook subscriptions", WebhookSubscription, "sealed_secret", WEBHOOK_SECRET_PURPOSE,
                 webhook_secret_aad, lambda: WebhookSubscription.objects.all()),
)
DATA_KEYS = SealedColumn("data keys", DataKey, "sealed", DATA_KEY_PURPOSE,
                         lambda row: row.purpose.encode(), lambda: DataKey.objects.all())


@dataclass
class Report:
    resealed: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)

    def add(self, into: dict[str, int], label: str, count: int) -> None:
        into[label] = into.get(label, 0) + count


def _reseal_column(column: SealedColumn, *, check_only: bool) -> tuple[int, int]:
    """(rows re-sealed, rows still sealed under a previous KEK) of one column, for the tenant in context."""
    if check_only:  # a read: no locks, no transaction per row
        remaining = sum(not sealed_under_current_kek(bytes(getattr(row, column.column)), purpose=column.purpose,
                                                     associated_data=column.aad(row))
                        for row in column.rows().order_by("pk").iterator())
        return 0, remaining
    done = 0
    for pk in list(column.rows().order_by("pk").values_list("pk", flat=True)):
        with transaction.atomic():
            row = column.rows().select_for_update(skip_locked=True).filter(pk=pk).first()
            if row is None:
                continue  # another run holds it (or it is gone)
            blob = bytes(getattr(row, column.column))
            fresh = reseal(blob, purpose=column.purpose, associated_data=column.aad(row))
            if fresh is None:
                continue
            setattr(row, column.column, fresh)
            updated = [column.column]
            if isinstance(row, DataKey):
                row.resealed, updated = timezone.now(), [*updated, "resealed"]
            row.save(update_fields=updated)
            done += 1
    return done, 0


def rotate(tenants: Iterable[Tenant], *, actor: Actor, check_only: bool = False) -> Report:
    """Re-seal the data keys, then every tenant's sealed rows, under the current KEK (or, with
    ``check_only``, count what is still sealed under a previous one)."""
    report = Report()
    done, remaining = _reseal_column(DATA_KEYS, check_only=check_only)
    report.add(report.resealed, DATA_KEYS.label, done)
    report.add(report.remaining, DATA_KEYS.label, remaining)
    for tenant in tenants:
        reason = "KEK rotation check" if check_only else "KEK rotation: re-sealing keys, seeds and secrets"
        with platform_access(tenant, reason=reason, actor=actor):
            counts = {}
            for column in TENANT_COLUMNS:
                done, remaining = _reseal_column(column, check_only=check_only)
                report.add(report.resealed, column.label, done)
                report.add(report.remaining, column.label, remaining)
                counts[column.label.replace(" ", "_")] = done
            if any(counts.values()):
                with transaction.atomic():
                    record(Action.KEK_RESEALED, actor=actor, target=("tenant", tenant.slug), details=counts)
    log.info("KEK rotation: re-sealed %s; still under a previous KEK %s", report.resealed, report.remaining)
    return report
