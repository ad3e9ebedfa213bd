"""Deleting many rows without holding anything long: one short transaction per batch.

A batch locks the rows it will delete with ``FOR UPDATE SKIP LOCKED`` (the rows themselves,
not those of joined tables), so two cleanups running at once share the work instead of
waiting on each other or deleting a row twice, and a request holding a row is never waited
for. Each batch commits before the next starts: no lock outlives its batch, a failure loses
at most one batch's work, and a run stopped half-way resumes where it was by running again.
On SQLite (``make run``) FOR UPDATE does not exist and Django leaves it out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from django.db import models, transaction
from django.db.models import signals

log = logging.getLogger("tessera.jobs")


@dataclass
class BatchRun:
    """What a batched deletion did: rows deleted, batches, and the longest batch in seconds
    (the longest any of its row locks was held)."""

    deleted: int = 0
    batches: int = 0
    longest: float = 0.0


def delete_in_batches(label: str, rows: Callable[[], models.QuerySet], *, batch_size: int) -> BatchRun:
    """Delete every row ``rows()`` selects, ``batch_size`` at a time, each batch its own
    transaction; a progress line per batch. ``rows`` is called per batch, so a cutoff it
    computes from the clock moves with it."""
    run = BatchRun()
    while True:
        started = time.monotonic()
        with transaction.atomic():
            queryset = rows()
            pks = list(queryset.select_for_update(skip_locked=True, of=("self",))
                       .order_by().values_list("pk", flat=True)[:batch_size])
            if pks:
                _delete(queryset.model, pks)
        held = time.monotonic() - started
        if not pks:
            break
        run.deleted += len(pks)
        run.batches += 1
        run.longest = max(run.longest, held)
        log.info("%s: batch %d deleted %d rows in %.3f s (%d so far)", label, run.batches, len(pks), held,
                 run.deleted)
        if len(pks) < batch_size:
            break
    return run


def _delete(model: type[models.Model], pks: list) -> None:
    """Delete the locked rows ``pks`` as Django's ``delete()`` would, without loading them.

    Django's collector fetches every row as a model instance whenever another model points at
    this one (an access token's refresh token does, with SET_NULL), and deletes 100 rows per
    statement: on a million expired tokens that was most of the cleanup's time. When the
    only references are SET_NULL or DO_NOTHING and nobody listens for deletions, the same
    effect is one UPDATE per reference and one DELETE. Anything else (a CASCADE, a receiver)
    goes through the collector as before.
    """
    references = [rel for rel in model._meta.related_objects if not rel.many_to_many]
    listened = any(signal.has_listeners(model) for signal in (signals.pre_delete, signals.post_delete))
    if listened or any(rel.on_delete not in (models.SET_NULL, models.DO_NOTHING) for rel in references):
        model._base_manager.filter(pk__in=pks).delete()
        return
    for rel in references:
        if rel.on_delete is models.SET_NULL:
            related = cast(type[models.Model], rel.related_model)
            related._base_manager.filter(**{f"{rel.field.name}__in": pks}).update(**{rel.field.name: None})
    model._base_manager.filter(pk__in=pks)._raw_delete(model._base_manager.db)
