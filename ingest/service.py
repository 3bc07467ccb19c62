"""Storing a parsed batch: one store call, one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from paperdigest.store import Store
from paperdigest.store.papers import BatchResult, NewBatch, upsert_batch_atomic, upsert_batches_atomic

__all__ = ["ingest_batch", "ingest_batches"]


def ingest_batch(store: Store, batch: NewBatch, *, now: dt.datetime | None = None) -> BatchResult:
    """Upsert ``batch`` in one transaction; nothing is written if anything fails.

    ``now`` stamps the batch's fetch time (default: the wall clock); a scheduler or a simulation
    with an injected clock passes its own, so due digests see the batch when the clock says it came.
    Returns ``created=False`` (and changes nothing) when the same source and content were ingested
    before. Raises :class:`store.errors.InvalidInput` for a batch that fails validation.
    """
    return upsert_batch_atomic(store.sessions, batch, now=now)


def ingest_batches(store: Store, batches: Sequence[NewBatch]) -> list[BatchResult]:
    """Upsert several batches in ONE transaction: every one is stored, or (on any error) none."""
    return upsert_batches_atomic(store.sessions, batches)
