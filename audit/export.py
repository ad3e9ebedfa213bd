"""Exporting a tenant's audit trail as JSON lines that an auditor can verify offline.

Lines, in order: one ``keys`` line (the tenant's public keys, for convenience: an auditor
should check them against the published JWKS, or pass that JWKS instead), every event
(``type: event``, the same shape as the log lines) and every checkpoint (``type:
checkpoint``), the last one signed at the moment of the export, so it covers every event
exported. ``manage.py verify_audit --export FILE --jwks URL`` checks such a file.
"""

from __future__ import annotations

from collections.abc import Iterator

from audit import checkpoints
from audit.chain import as_json, dumps
from audit.models import Action, AuditEvent, Checkpoint
from audit.recording import record
from core.actors import Actor


def export_lines(*, since_seq: int = 0) -> Iterator[str]:
    """The current tenant's trail as JSON lines, sealed by a fresh checkpoint."""
    sealed = checkpoints.write()
    through = sealed.seq if sealed is not None else (
        Checkpoint.objects.order_by("-seq").values_list("seq", flat=True).first() or 0)
    signer = checkpoints.signer()
    yield dumps({"type": "keys", "keys": signer.public_keys() if signer else []})
    events = AuditEvent.objects.filter(seq__gt=since_seq, seq__lte=through).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        yield dumps(as_json(event))
    for checkpoint in Checkpoint.objects.filter(seq__lte=through).order_by("seq"):
        yield dumps(checkpoints.as_json(checkpoint))


def export_recorded(*, actor: Actor, since_seq: int, lines: int) -> None:
    """The audit event of an export through the API (who took a copy of the trail, from where)."""
    record(Action.AUDIT_EXPORTED, actor=actor, details={"since_seq": since_seq, "lines": lines})
