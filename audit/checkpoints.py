"""Signed checkpoints of a tenant's chain head: "event #seq of tenant T has hash H".

A checkpoint is a compact JWS (RFC 7515) signed with the tenant's own signing key, so an
auditor who holds only the tenant's published JWKS can check it, and with it every event of
an export up to that point (each event's public link commits to all before it). The key is
the tenant's OpenID signing key, which lives in ``idp``: audit does not import idp, so idp
registers a signer here when it loads (``use_signer``), the way Django's lower layers let
higher ones plug in.

Checkpoints are written every ``AUDIT_CHECKPOINT_INTERVAL`` events as part of the append,
when an export is made, and on demand (``manage.py checkpoint_audit``). Each is stored
(``audit_checkpoint``, append-only for the application role) and also leaves the database
as a JSON line on the ``tessera.audit`` logger; a copy kept outside reveals a chain that was
cut short later, which nothing inside the database can (``verify_audit --checkpoints``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from django.utils import timezone

from audit.models import AuditEvent, Checkpoint
from tenants.context import current_issuer, require_tenant

log = logging.getLogger("tessera.audit")

JWS_TYPE = "tessera-audit-checkpoint+jwt"


class Signer(Protocol):
    """What audit needs of the tenant's keys (provided by idp.keys)."""

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        """A compact JWS of ``claims`` with the current tenant's active signing key."""

    def public_keys(self) -> list[dict[str, Any]]:
        """Every public JWK of the current tenant that may have signed a checkpoint."""


_signer: Signer | None = None


def use_signer(signer: Signer | None) -> None:
    """Register the signer (idp does, in its AppConfig.ready)."""
    global _signer
    _signer = signer


def signer() -> Signer | None:
    return _signer


class CheckpointError(ValueError):
    """A checkpoint that does not verify: bad signature, unknown key, wrong tenant, malformed."""


@dataclass(frozen=True)
class Claim:
    """What a verified checkpoint states."""

    tenant_id: int
    seq: int
    hash: str
    kid: str
    issued_at: int


def make(tenant_id: int, seq: int, hash_: str) -> Checkpoint | None:
    """A signed checkpoint of event #seq (not saved), or None when the tenant cannot sign yet."""
    if _signer is None:
        return None
    tenant = require_tenant()
    claims = {"iss": current_issuer(), "tenant": tenant.slug, "tenant_id": tenant_id, "seq": seq,
              "hash": hash_, "iat": int(time.time())}
    try:
        jws = _signer.sign(claims, typ=JWS_TYPE)
    except LookupError as exc:  # no active signing key yet (a tenant being created)
        log.warning("audit checkpoint of tenant %s at #%s skipped: %s", tenant_id, seq, exc)
        return None
    return Checkpoint(tenant_id=tenant_id, seq=seq, hash=hash_, jws=jws, created=timezone.now())


def due(previous_seq: int, last: AuditEvent, interval: int) -> Checkpoint | None:
    """The checkpoint an append from ``previous_seq`` to ``last.seq`` must carry, if it
    crosses a multiple of ``interval``."""
    if interval <= 0 or previous_seq // interval == last.seq // interval:
        return None
    return make(last.tenant_id, last.seq, last.hash)


def as_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint as one JSON line of an export or the log (``"type": "checkpoint"``)."""
    return {"type": "checkpoint", "tenant_id": checkpoint.tenant_id, "seq": checkpoint.seq,
            "hash": checkpoint.hash, "jws": checkpoint.jws}


def verify(jws: str, keys: list[dict[str, Any]]) -> Claim:
    """The claim of a checkpoint whose signature verifies with one of ``keys`` (public JWKs,
    chosen by kid); raises CheckpointError otherwise. RS256 and ES256 only: never "none",
    never a MAC keyed with a public key."""
    from jwcrypto import jwk
    from jwcrypto import jws as jose
    from jwcrypto.common import JWException

    try:
        token = jose.JWS()
        token.deserialize(jws)
        header = token.jose_header
    except (JWException, ValueError, TypeError) as exc:
        raise CheckpointError("not a compact JWS") from exc
    if header.get("typ") != JWS_TYPE or header.get("alg") not in ("RS256", "ES256"):
        raise CheckpointError("not a Tessera audit checkpoint")
    key = next((k for k in keys if k.get("kid") == header.get("kid")), None)
    if key is None:
        raise CheckpointError(f"signed by an unknown key {header.get('kid')!r}")
    try:
        token.verify(jwk.JWK(**key), alg=header["alg"])
        claims = json.loads(token.payload)
        return Claim(tenant_id=int(claims["tenant_id"]), seq=int(claims["seq"]), hash=str(claims["hash"]),
                     kid=str(header["kid"]), issued_at=int(claims["iat"]))
    except (JWException, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError("the signature does not verify") from exc


def claimed_tenant(jws: str) -> int | None:
    """The tenant a checkpoint *says* it is about, read without verifying it: only to tell
    which tenant's verification it belongs to (a collected file holds many tenants')."""
    import base64

    try:
        payload = jws.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["tenant_id"])
    except (IndexError, ValueError, TypeError, KeyError):
        return None


def write(using: str | None = None) -> Checkpoint | None:
    """Sign and store a checkpoint of the current tenant's head now (export, command)."""
    from django.db import DEFAULT_DB_ALIAS, transaction

    from audit.chain import log_lines
    from audit.models import ChainHead

    using = using or DEFAULT_DB_ALIAS
    with transaction.atomic(using=using):
        head = ChainHead.objects.using(using).select_for_update().filter(tenant=require_tenant()).first()
        if head is None or head.seq == 0:
            return None
        existing = Checkpoint.objects.using(using).filter(seq=head.seq).first()
        if existing is not None:
            return existing
        checkpoint = make(head.tenant_id, head.seq, head.last_hash)
        if checkpoint is None:
            return None
        checkpoint.save(using=using)
        transaction.on_commit(lambda: log_lines([], checkpoint), using=using, robust=True)
    return checkpoint
