"""Helpers for the scheduler tests: batches at chosen times, readers, a digest-row writing sender."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from paperdigest.store import Store
from paperdigest.store.models import Batch, Digest, Reader
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.store.readers import ReaderFields, add_reader
from sqlalchemy import update


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def add_batch(store: Store, label: str, fetched_at: dt.datetime, n: int = 3, source: str = "test") -> int:
    papers = [NewPaper(title=f"{label} paper {i} on graph neural networks",
                       abstract=f"We study {label} problem {i} with message passing.") for i in range(n)]
    with store.transaction() as session:
        result = upsert_batch(session, NewBatch(source=source, label=label, papers=papers))
        session.execute(update(Batch).where(Batch.id == result.batch_id).values(fetched_at=fetched_at))
    return result.batch_id


def add_readers(store: Store, specs: list[dict[str, Any]], created_at: dt.datetime) -> list[int]:
    ids = []
    with store.transaction() as session:
        for spec in specs:
            reader = add_reader(session, ReaderFields(**spec))
            reader.created_at = created_at
            ids.append(reader.id)
    return ids


@dataclass
class Report:
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    empty: int = 0
    skipped: int = 0


class RowSender:
    """Stands in for digest.send_digests in the scheduling tests: writes a 'sent' row per reader.

    ``gate`` (optional) blocks each send until set, to make a digest run outlast a tick.
    """

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[int, str]] = []
        self.gate = gate
        self.started = threading.Event()

    def __call__(self, store: Store, settings: Any, *, now: dt.datetime, readers: list[int],
                 period_for: Any, stop: Any = None) -> Report:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        with store.transaction() as session:
            for reader_id in readers:
                period = period_for(session.get(Reader, reader_id), now)
                session.add(Digest(reader_id=reader_id, period=period, status="sent", created_at=now,
                                   sent_at=now))
                self.calls.append((reader_id, period))
        return Report(sent=len(readers))
