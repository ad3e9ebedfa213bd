"""Verifying a tenant's audit chain: online (the database, with the key) and offline (an
export or collected log lines, with the tenant's public keys only).

Online (``verify_chain``) every event's content, public link and keyed link are recomputed;
the chain head must sit on the last event and no event may lie beyond it; every stored
checkpoint, and every checkpoint obtained earlier and handed in (``external``), must verify
and match the event it names. A chain cut short and its head moved back passes every check
made from the database alone (that is why checkpoints leave it); it fails against any
checkpoint taken before the cut.

Offline (``verify_export``) the keyed links cannot be checked (no key), so an export's
events are trusted only as far as a checkpoint signed by the tenant vouches for them: every
event up to a verified checkpoint, because each public link commits to all before it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max

from audit import checkpoints
from audit.chain import content_hash, fields_of, link_hash, link_mac
from audit.checkpoints import CheckpointError
from audit.models import GENESIS_HASH, Action, AuditEvent, ChainHead, Checkpoint


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_seq: int | None = None
    last_seq: int | None = None
    broken_seq: int | None = None
    reason: str = ""
    # The newest checkpoint that verified and matched its event: everything up to it is
    # vouched for by the tenant's signature.
    checkpoint_seq: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class _Broken(Exception):
    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(reason)
        self.seq, self.reason = seq, reason


@dataclass
class _Walk:
    """State of a walk along one chain, shared by the online and offline checks."""

    wanted: dict[int, str]  # checkpoint seq -> the hash it vouches for
    check_mac: bool
    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    expected_prev: str | None = None
    matched: list[int] = field(default_factory=list)

    def step(self, seq: int, fields: dict[str, Any], prev_hash: str, hash_: str, mac: str,
             chain_start: str | None) -> None:
        if self.first_seq is None:
            self.first_seq = seq
            if chain_start is None:
                raise _Broken(seq, f"the chain starts at {seq} with no purge record for the events before it")
            self.expected_prev = chain_start
        elif seq != (self.last_seq or 0) + 1:
            raise _Broken(seq, f"sequence jumps from {self.last_seq} to {seq} (events deleted or inserted)")
        if prev_hash != self.expected_prev:
            raise _Broken(seq, "prev_hash does not match the previous event's hash")
        if link_hash(prev_hash, content_hash(fields)) != hash_:
            raise _Broken(seq, "content does not match its hash (the event was altered)")
        if self.check_mac and link_mac(fields["tenant_id"], seq, hash_) != mac:
            raise _Broken(seq, "the keyed link does not match (the event or its links were rewritten "
                               "without the key-encryption key)")
        if seq in self.wanted:
            if self.wanted[seq] != hash_:
                raise _Broken(seq, f"event #{seq} is not the one its signed checkpoint vouches for")
            self.matched.append(seq)
        self.expected_prev, self.last_seq = hash_, seq
        self.checked += 1

    def result(self, notes: list[str]) -> Verification:
        latest = max(self.matched) if self.matched else None
        if self.last_seq is not None:
            if latest is None:
                notes.append("no signed checkpoint covers these events yet")
            elif latest < self.last_seq:
                notes.append(f"events #{latest + 1}..#{self.last_seq} come after the latest checkpoint (#{latest})")
        return Verification(True, self.checked, self.first_seq, self.last_seq, checkpoint_seq=latest,
                            notes=tuple(notes))

    def broken(self, error: _Broken) -> Verification:
        return Verification(False, self.checked, self.first_seq, self.last_seq, error.seq, error.reason,
                            checkpoint_seq=max(self.matched) if self.matched else None)


def _claims(jws_values: Iterable[str], keys: list[dict[str, Any]], tenant_id: int) -> dict[int, str]:
    """seq -> hash of each checkpoint about this tenant; _Broken for one that claims to be
    about it and does not verify (a checkpoint is never silently dropped: its key row
    removed or rewritten is exactly what an attacker who cut the chain would do).
    Checkpoints of other tenants are left out."""
    wanted: dict[int, str] = {}
    for jws in jws_values:
        claimed = checkpoints.claimed_tenant(jws)
        if claimed is not None and claimed != tenant_id:
            continue
        try:
            claim = checkpoints.verify(jws, keys)
        except CheckpointError as exc:
            raise _Broken(None, f"a checkpoint of this tenant does not verify: {exc}") from exc
        if claim.tenant_id != tenant_id:
            raise _Broken(claim.seq, "a checkpoint names another tenant than its payload claims")
        if wanted.get(claim.seq, claim.hash) != claim.hash:
            raise _Broken(claim.seq, f"two signed checkpoints disagree about event #{claim.seq}")
        wanted[claim.seq] = claim.hash
    return wanted


# --- online ---------------------------------------------------------------------------------


def _events(through_seq: int) -> Iterator[AuditEvent]:
    return AuditEvent.objects.filter(seq__lte=through_seq).order_by("seq").iterator(chunk_size=2000)


def _chain_start(event: AuditEvent) -> str | None:
    """The prev_hash the first remaining event must carry: genesis, or a purge's anchor."""
    if event.seq == 1:
        return GENESIS_HASH
    purge = (AuditEvent.objects.filter(action=Action.AUDIT_PURGED, details__through_seq=event.seq - 1)
             .order_by("-seq").first())
    if purge is None or purge.details.get("anchor_hash") != event.prev_hash:
        return None
    return event.prev_hash


def verify_chain(external: Iterable[str] = (), keys: list[dict[str, Any]] | None = None) -> Verification:
    """Verify the current tenant's chain (see the module docstring).

    ``external``: checkpoints (compact JWS) obtained earlier, from log lines or exports;
    those of other tenants are left out. ``keys``: the tenant's public keys from outside the
    database (its published JWKS, kept by the auditor); without them the keys are read from
    the database, which an attacker who can write the tables could have changed too. The
    head is read after the checkpoints and the walk stops at it, so events appended while
    verifying are left for the next run.
    """
    from tenants.context import require_tenant

    tenant = require_tenant()
    if keys is None:
        signer = checkpoints.signer()
        keys = signer.public_keys() if signer else []
    notes: list[str] = []
    walk = _Walk(wanted={}, check_mac=True)
    try:
        walk.wanted = _claims(Checkpoint.objects.values_list("jws", flat=True), keys, tenant.pk)
        for seq, hash_ in _claims(external, keys, tenant.pk).items():
            if walk.wanted.get(seq, hash_) != hash_:
                raise _Broken(seq, f"event #{seq} is not the one a checkpoint taken earlier vouches for")
            walk.wanted[seq] = hash_
        head = ChainHead.objects.first()
        through = head.seq if head is not None else 0
        for event in _events(through):
            start = _chain_start(event) if walk.first_seq is None else ""
            walk.step(event.seq, fields_of(event), event.prev_hash, event.hash, event.mac, start)
        last, last_hash = walk.last_seq or 0, walk.expected_prev or GENESIS_HASH
        if head is not None and (head.seq != last or head.last_hash != last_hash):
            raise _Broken(last + 1, f"the chain head is at {head.seq} but the last event is {walk.last_seq} "
                                    "(events deleted)")
        beyond = AuditEvent.objects.aggregate(m=Max("seq"))["m"] or 0
        head_now = ChainHead.objects.values_list("seq", flat=True).first() or 0
        if beyond > head_now:
            raise _Broken(head_now + 1, f"events #{head_now + 1}..#{beyond} lie beyond the chain head "
                                        "(the head was moved back, or events were inserted)")
        cut = [seq for seq in walk.wanted if seq > last]
        if cut:
            raise _Broken(last + 1, f"a signed checkpoint vouches for event #{max(cut)} but the chain ends "
                                    f"at #{last} (events were cut off)")
        purged = [seq for seq in walk.wanted if walk.first_seq is not None and seq < walk.first_seq]
        if purged:
            notes.append(f"{len(purged)} checkpoint(s) precede the retained chain (purged events)")
    except _Broken as error:
        return walk.broken(error)
    return walk.result(notes)



# --- offline --------------------------------------------------------------------------------


@dataclass
class ExportContents:
    events: dict[int, list[dict[str, Any]]]  # tenant id -> its event lines
    checkpoints: list[str]  # compact JWS of every checkpoint line
    keys: list[dict[str, Any]]  # public keys carried by the export ("keys" lines)


def read_export(lines: Iterable[str]) -> ExportContents:
    """Parse JSON lines (an export, or the ``tessera.audit`` log lines); other lines are skipped."""
    contents = ExportContents(events=defaultdict(list), checkpoints=[], keys=[])
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "event" and isinstance(data.get("seq"), int) and isinstance(data.get("tenant_id"), int):
            contents.events[data["tenant_id"]].append(data)
        elif kind == "checkpoint" and isinstance(data.get("jws"), str):
            contents.checkpoints.append(data["jws"])
        elif kind == "keys" and isinstance(data.get("keys"), list):
            contents.keys.extend(k for k in data["keys"] if isinstance(k, dict))
    return contents


def verify_export(events: list[dict[str, Any]], jws_values: list[str], keys: list[dict[str, Any]],
                  tenant_id: int) -> Verification:
    """Verify one tenant's exported events against its checkpoints and public keys (offline)."""
    from audit.chain import HASHED_FIELDS

    walk = _Walk(wanted={}, check_mac=False)
    notes = ["keyed links not checked offline (they need the key-encryption key)"]
    try:
        walk.wanted = _claims(jws_values, keys, tenant_id)
        by_seq: dict[int, dict[str, Any]] = {}
        for data in events:
            if by_seq.setdefault(data["seq"], data) != data:
                raise _Broken(data["seq"], f"two different events #{data['seq']} in the export")
        for seq in sorted(by_seq):
            data = by_seq[seq]
            try:
                fields = {name: data[name] for name in HASHED_FIELDS}
                prev_hash, hash_ = str(data["prev_hash"]), str(data["hash"])
            except KeyError as exc:
                raise _Broken(seq, f"event #{seq} lacks the field {exc}") from exc
            if walk.first_seq is None and seq != 1:
                notes.append(f"the export starts at #{seq}; what came before is vouched for by the "
                             "checkpoints only")
            walk.step(seq, fields, prev_hash, hash_, "", GENESIS_HASH if seq == 1 else prev_hash)
        cut = [seq for seq in walk.wanted if seq > (walk.last_seq or 0)]
        if cut:
            raise _Broken((walk.last_seq or 0) + 1, f"a signed checkpoint vouches for event #{max(cut)} but "
                                                    f"the export ends at #{walk.last_seq} (events cut off)")
        if not walk.matched:
            raise _Broken(None, "no checkpoint signed by the tenant covers these events: nothing vouches "
                                "for them")
    except _Broken as error:
        return walk.broken(error)
    return walk.result(notes)
