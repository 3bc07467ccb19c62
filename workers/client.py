"""The clock's side of the queue: turn the due digests of a tick into chunk messages.

Before a chunk is enqueued its digest rows are created ``pending`` and stamped (``claimed_by`` =
``queue:<tick>``, ``claimed_at`` = now). The next tick skips rows stamped less than
:data:`digest.dispatch.CLAIM_LEASE` ago, so a backlog is not enqueued again every few minutes; a
stamp older than that (a message lost with a broker's data) is enqueued again. Enqueuing twice is
harmless anyway: a worker claims each digest with a conditional UPDATE before sending it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from paperdigest.core import Settings
from paperdigest.core.chunks import chunked
from paperdigest.digest.dispatch import CHUNK, CLAIM_LEASE
from paperdigest.scheduler.due import DueDigest
from paperdigest.store import Store
from paperdigest.store.claims import stamp_enqueued, unstamp_enqueued
from paperdigest.store.digests import get_or_create_many
from paperdigest.store.readers import readers_by_id

__all__ = ["ENQUEUE_ATTEMPTS", "TickQueue", "chunk_payload"]

log = logging.getLogger("paperdigest.workers")

ENQUEUE_ATTEMPTS = 4  # per message, with 1, 2, 4 s between: a broker restart takes a few seconds


def chunk_payload(now: dt.datetime, pairs: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """The message body of one chunk: the tick's time and (reader id, period) pairs (plain JSON)."""
    return {"now": now.isoformat(), "readers": [[int(r), str(p)] for r, p in pairs]}


class TickQueue:
    """Enqueues a tick's due digests in chunks of ``chunk`` readers on ``send`` (an actor's ``send``)."""

    def __init__(self, store: Store, settings: Settings, send: Callable[[dict[str, Any]], Any], *,
                 chunk: int = CHUNK, sleep: Callable[[float], None] = time.sleep) -> None:
        self.store, self.settings, self.send = store, settings, send
        self.chunk, self._sleep = chunk, sleep

    def enqueue(self, due: list[DueDigest], now: dt.datetime) -> dict[str, Any]:
        """Stamp and enqueue the due digests not enqueued recently; returns counts for the job log."""
        stamp = f"queue:{uuid.uuid4().hex[:12]}"
        periods = {d.reader_id: d.period for d in due}
        wall = dt.datetime.now(dt.UTC)
        with self.store.transaction() as session:
            formats = {r.id: r.format for part in chunked(sorted(periods))
                       for r in readers_by_id(session, part)}
            wanted = [(rid, p, formats.get(rid, "email")) for rid, p in periods.items()]
            rows = get_or_create_many(session, wanted, now=now)
            fresh = stamp_enqueued(session, [row.id for row in rows.values()], stamp, wall,
                                   wall - CLAIM_LEASE)
        pairs = sorted((key for key, row in rows.items() if row.id in fresh), key=lambda k: k[0])
        ids = {key: rows[key].id for key in pairs}
        sent = 0
        for part in chunked(pairs, self.chunk):
            try:
                self._send_with_retries(chunk_payload(now, part))
            except Exception:
                # Give the rest back at once, so the next tick enqueues them instead of waiting a lease.
                with self.store.transaction() as session:
                    unstamp_enqueued(session, [ids[k] for k in pairs[sent:]], stamp)
                raise
            sent += len(part)
        chunks = -(-len(pairs) // self.chunk) if pairs else 0
        return {"enqueued": sent, "chunks": chunks, "already_queued": len(periods) - len(pairs)}

    def _send_with_retries(self, payload: dict[str, Any]) -> None:
        for attempt in range(ENQUEUE_ATTEMPTS):
            try:
                self.send(payload)
                return
            except Exception as exc:
                if attempt == ENQUEUE_ATTEMPTS - 1:
                    raise
                log.warning("enqueue failed (attempt %d of %d), retrying: %s: %s", attempt + 1,
                            ENQUEUE_ATTEMPTS, type(exc).__name__, exc)
                self._sleep(2 ** attempt)
