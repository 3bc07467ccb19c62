"""Digest rows: one per (reader, period), moving pending -> claimed -> sending -> sent | failed | unknown.

* ``claimed``: a run (its ``claimed_by`` owner) will deliver it; nothing was handed to the server yet,
  so if that run dies the digest goes back to ``pending`` and is sent by the next run.
* ``sending``: handed to the delivery backend. Only the messages in flight are in this state (a run
  moves a round of at most ``digest.dispatch.HAND_OVER_GROUP`` = 8 at a time); if its run dies whether
  they left is unknowable, so they become ``unknown`` (never resent automatically).

Every move is a conditional UPDATE (:mod:`store.claims`), so of two runs — or a queue redelivering a
chunk — exactly one delivers a digest. ``empty`` records a period where nothing passed
the recommender (``note`` says why).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from paperdigest.core.chunks import chunked
from paperdigest.core.errors import InvalidInput, NotFound
from paperdigest.store.library import HISTORY_SOURCE
from paperdigest.store.models import (
    DELIVERED_STATUSES,
    Batch,
    BatchPaper,
    Digest,
    DigestItem,
    Interaction,
    Paper,
    Reader,
    utcnow,
)
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, selectinload

__all__ = [
    "NewItem",
    "candidate_paper_ids",
    "fail_digest",
    "fill_pending",
    "find_digest",
    "get_digest",
    "get_or_create_digest",
    "get_or_create_many",
    "item_counts",
    "items_with_papers",
    "last_delivered_at",
    "last_delivered_many",
    "latest_interaction",
    "list_digests",
    "papers_by_id",
    "recommender_inputs",
    "reopen_digest",
    "seen_many",
    "seen_paper_ids",
]



@dataclass(frozen=True)
class NewItem:
    paper_id: str
    score: float
    reason: str
    highlight: str = ""


def get_or_create_digest(
    session: Session, reader_id: int, period: str, fmt: str, *, now: dt.datetime | None = None
) -> Digest:
    """The digest row for (reader, period), created ``pending`` if absent."""
    return get_or_create_many(session, [(reader_id, period, fmt)], now=now)[(reader_id, period)]


def get_or_create_many(
    session: Session, wanted: Sequence[tuple[int, str, str]], *, now: dt.datetime | None = None
) -> dict[tuple[int, str], Digest]:
    """Bulk :func:`get_or_create_digest` for ``(reader_id, period, format)`` triples.

    Safe against a concurrent run creating the same rows: the insert skips existing (reader,
    period) pairs (``ON CONFLICT DO NOTHING``) and the rows are then read back.
    """
    for _, period, _ in wanted:
        if not period or len(period) > 64:
            raise InvalidInput(f"digest period must be 1-64 characters, got {period!r}")
    keys = {(rid, period): fmt for rid, period, fmt in wanted}
    found = _find_many(session, keys)
    missing = [{"reader_id": rid, "period": period, "format": fmt, "status": "pending",
                "attempts": 0, "created_at": now or utcnow()}
               for (rid, period), fmt in keys.items() if (rid, period) not in found]
    if missing:
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        for part in chunked(missing):
            session.execute(upsert(Digest).values(list(part))
                            .on_conflict_do_nothing(index_elements=["reader_id", "period"]))
        found = _find_many(session, keys)
    return found


def _find_many(session: Session, keys: Mapping[tuple[int, str], str]) -> dict[tuple[int, str], Digest]:
    found: dict[tuple[int, str], Digest] = {}
    reader_ids = sorted({rid for rid, _ in keys})
    periods = sorted({p for _, p in keys})
    for part in chunked(reader_ids):
        rows = session.scalars(select(Digest).where(Digest.reader_id.in_(part),
                                                    Digest.period.in_(periods))
                               .execution_options(populate_existing=True))
        for row in rows:
            if (row.reader_id, row.period) in keys:
                found[(row.reader_id, row.period)] = row
    return found


def item_counts(session: Session, digest_ids: Sequence[int]) -> dict[int, int]:
    """Number of items per digest (0 for digests without items)."""
    out = dict.fromkeys(digest_ids, 0)
    for part in chunked(list(digest_ids)):
        rows = session.execute(select(DigestItem.digest_id, func.count())
                               .where(DigestItem.digest_id.in_(part))
                               .group_by(DigestItem.digest_id))
        out.update({digest_id: count for digest_id, count in rows})
    return out


def fill_pending(session: Session, filled: Mapping[int, Sequence[NewItem]], empty: Mapping[int, str]
                 ) -> set[int]:
    """Give pending digests their items, or mark them ``empty`` with a note, in bulk.

    Digests that are no longer pending (another run got there first) are left alone; returns the
    ids that were changed.
    """
    ids = sorted({*filled, *empty})
    pending: set[int] = set()
    for part in chunked(ids):
        # FOR UPDATE (PostgreSQL; SQLite's write lock is already held) makes a concurrent run wait
        # here; it then sees this run's items below and leaves the digest alone.
        pending.update(session.scalars(select(Digest.id).where(Digest.id.in_(part),
                                                               Digest.status == "pending")
                                       .order_by(Digest.id).with_for_update()))
    pending -= {d for d, n in item_counts(session, sorted(pending)).items() if n}
    rows = [{"digest_id": digest_id, "paper_id": item.paper_id, "rank": rank, "score": float(item.score),
             "reason": item.reason, "highlight": item.highlight}
            for digest_id, items in filled.items() if digest_id in pending
            for rank, item in enumerate(items, start=1)]
    touched = [d for d in ids if d in pending]
    if rows:
        session.execute(insert(DigestItem), rows)
    for digest_id, note in empty.items():
        if digest_id in pending:
            session.execute(update(Digest).where(Digest.id == digest_id)
                            .values(status="empty", note=note).execution_options(synchronize_session=False))
    return set(touched)


def last_delivered_many(session: Session, reader_ids: Sequence[int]) -> dict[int, dt.datetime]:
    """Bulk :func:`last_delivered_at`: readers without a delivered digest are absent."""
    out: dict[int, dt.datetime] = {}
    for part in chunked(list(reader_ids)):
        rows = session.execute(
            select(Digest.reader_id, func.max(Digest.created_at))
            .where(Digest.reader_id.in_(part), Digest.status.in_(DELIVERED_STATUSES))
            .group_by(Digest.reader_id))
        for reader_id, when in rows:
            if when is not None:
                # func.max loses the column type on SQLite: bring the text back to an aware time.
                out[reader_id] = _aware(when)
    return out


def seen_many(session: Session, reader_ids: Sequence[int]) -> dict[int, set[str]]:
    """Bulk :func:`seen_paper_ids`."""
    out: dict[int, set[str]] = {rid: set() for rid in reader_ids}
    for chunk in chunked(list(reader_ids)):
        sent = session.execute(
            select(Digest.reader_id, DigestItem.paper_id).join(Digest, Digest.id == DigestItem.digest_id)
            .where(Digest.reader_id.in_(chunk), Digest.status.in_(DELIVERED_STATUSES)))
        reacted = session.execute(
            select(Interaction.reader_id, Interaction.paper_id)
            .where(Interaction.reader_id.in_(chunk), Interaction.current.is_(True)))
        for reader_id, paper_id in [*sent, *reacted]:
            out[reader_id].add(paper_id)
    return out


def _aware(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def fail_digest(session: Session, digest: Digest, error: str) -> None:
    """A pending digest that cannot be delivered at all (e.g. the reader has no valid address)."""
    digest.status = "failed"
    digest.error = error
    session.flush()


def reopen_digest(session: Session, digest_id: int) -> Digest:
    """Operator's explicit resend: a ``failed`` or ``unknown`` digest becomes ``pending`` again."""
    digest = get_digest(session, digest_id)
    if digest.status not in ("failed", "unknown"):
        raise InvalidInput(
            f"digest {digest_id} is {digest.status}; only failed or unknown digests can be resent"
        )
    digest.status = "pending"
    session.flush()
    return digest


def find_digest(session: Session, reader_id: int, period: str) -> Digest | None:
    return session.scalar(select(Digest).where(Digest.reader_id == reader_id, Digest.period == period))


def get_digest(session: Session, digest_id: int) -> Digest:
    digest = session.scalar(
        select(Digest).where(Digest.id == digest_id)
        .options(selectinload(Digest.items).selectinload(DigestItem.paper))
    )
    if digest is None:
        raise NotFound(f"no digest with id {digest_id}")
    return digest


def list_digests(
    session: Session, *, reader_id: int | None = None, status: str | None = None, limit: int = 50
) -> list[Digest]:
    """Newest first."""
    stmt = select(Digest).order_by(Digest.created_at.desc(), Digest.id.desc()).limit(limit)
    if reader_id is not None:
        stmt = stmt.where(Digest.reader_id == reader_id)
    if status:
        stmt = stmt.where(Digest.status == status)
    return list(session.scalars(stmt))


def last_delivered_at(session: Session, reader_id: int, *, exclude_id: int | None = None
                      ) -> dt.datetime | None:
    """When the reader's newest possibly-delivered digest was built (None before the first)."""
    stmt = select(func.max(Digest.created_at)).where(
        Digest.reader_id == reader_id, Digest.status.in_(DELIVERED_STATUSES)
    )
    if exclude_id is not None:
        stmt = stmt.where(Digest.id != exclude_id)
    return session.scalar(stmt)


def seen_paper_ids(session: Session, reader_id: int) -> set[str]:
    """Papers the reader must not be offered: already in a delivered digest, liked or disliked."""
    sent = session.scalars(
        select(DigestItem.paper_id).join(Digest, Digest.id == DigestItem.digest_id)
        .where(Digest.reader_id == reader_id, Digest.status.in_(DELIVERED_STATUSES))
    )
    reacted = session.scalars(
        select(Interaction.paper_id).where(Interaction.reader_id == reader_id,
                                           Interaction.current.is_(True))
    )
    return set(sent) | set(reacted)


def candidate_paper_ids(session: Session, since: dt.datetime, until: dt.datetime) -> list[str]:
    """Papers in batches fetched in ``(since, until]``, in batch then page order, no repeats.

    History papers (added from a reader's library) are never candidates, even when a later batch
    lists them again: the reader had them before, so they are not news.
    """
    rows = session.execute(
        select(BatchPaper.paper_id)
        .join(Batch, Batch.id == BatchPaper.batch_id)
        .join(Paper, Paper.id == BatchPaper.paper_id)
        .where(Batch.fetched_at > since, Batch.fetched_at <= until, Paper.source != HISTORY_SOURCE)
        .order_by(Batch.fetched_at, Batch.id, BatchPaper.position)
    )
    return list(dict.fromkeys(pid for (pid,) in rows))


def latest_interaction(session: Session) -> tuple[int, dt.datetime | None]:
    """(id, time) of the newest interaction: the model's watermark. (0, None) when there is none."""
    row = session.execute(
        select(Interaction.id, Interaction.created_at).order_by(Interaction.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, None)


def items_with_papers(session: Session, digest_ids: Sequence[int]
                      ) -> dict[int, list[tuple[DigestItem, Paper]]]:
    """Items of several digests with their papers, by digest id, in rank order."""
    out: dict[int, list[tuple[DigestItem, Paper]]] = {d: [] for d in digest_ids}
    for part in chunked(list(digest_ids)):
        rows = session.execute(
            select(DigestItem, Paper).join(Paper, Paper.id == DigestItem.paper_id)
            .where(DigestItem.digest_id.in_(part))
            .order_by(DigestItem.digest_id, DigestItem.rank)
        )
        for item, paper in rows:
            out[item.digest_id].append((item, paper))
    return out


def recommender_inputs(session: Session) -> tuple[list[Paper], list[Reader]]:
    """Every paper and every reader who has not unsubscribed: what a model refit reads."""
    papers = list(session.scalars(select(Paper).order_by(Paper.id)))
    readers = list(session.scalars(select(Reader).where(Reader.status != "unsubscribed")
                                   .order_by(Reader.id)))
    return papers, readers


def papers_by_id(session: Session, ids: Sequence[str]) -> dict[str, Paper]:
    """Paper rows for the given ids (missing ids are simply absent)."""
    out: dict[str, Paper] = {}
    for part in chunked(list(dict.fromkeys(ids))):
        for paper in session.scalars(select(Paper).where(Paper.id.in_(part))):
            out[paper.id] = paper
    return out

