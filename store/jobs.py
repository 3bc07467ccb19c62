"""Scheduler bookkeeping: job runs, per-source polling state, the inputs of the due rules, stats.

Every function takes a session; the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from paperdigest.store.models import (
    DIGEST_STATUSES,
    SETTLED_STATUSES,
    Batch,
    Digest,
    DigestItem,
    Interaction,
    JobRun,
    Reader,
    SourceState,
    utcnow,
)
from sqlalchemy import Connection, Engine, delete, func, select, text, update
from sqlalchemy.orm import Session

__all__ = [
    "advisory_lock",
    "advisory_unlock",
    "daily_stats",
    "digest_counts",
    "digest_state",
    "finish_job",
    "last_batches_by_source",
    "last_job_runs",
    "like_rate_by_position",
    "list_source_states",
    "newest_batch",
    "prune_job_runs",
    "record_source",
    "source_state",
    "start_job",
]

_MAX_ERROR = 2_000


def start_job(session: Session, job: str, when: dt.datetime | None = None) -> JobRun:
    """Insert a ``running`` job row and return it (flushed, so it has an id)."""
    run = JobRun(job=job, started_at=when or utcnow(), status="running", counts={})
    session.add(run)
    session.flush()
    return run


def finish_job(
    session: Session,
    run_id: int,
    *,
    status: str,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
    when: dt.datetime | None = None,
) -> None:
    """Close a job row with its status (ok, error, skipped), counts and error text."""
    session.execute(
        update(JobRun).where(JobRun.id == run_id).values(
            status=status, counts=dict(counts or {}), finished_at=when or utcnow(),
            error=error[:_MAX_ERROR] if error else None,
        )
    )


def last_job_runs(session: Session) -> list[JobRun]:
    """The newest run of each job name."""
    newest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    return list(session.scalars(select(JobRun).join(newest, newest.c.id == JobRun.id).order_by(JobRun.job)))


def source_state(session: Session, name: str) -> SourceState:
    """The state row of a source, created empty on first use."""
    state = session.get(SourceState, name)
    if state is None:
        state = SourceState(name=name, failures=0)
        session.add(state)
        session.flush()
    return state


def record_source(
    session: Session,
    name: str,
    *,
    when: dt.datetime,
    error: str | None = None,
    batch_id: int | None = None,
    cursor: str | None = None,
) -> SourceState:
    """Record one poll of a source: success (resets failures) or an error (counts it)."""
    state = source_state(session, name)
    state.last_attempt_at = when
    if error is None:
        state.last_success_at = when
        state.last_error = None
        state.failures = 0
        if batch_id is not None:
            state.last_batch_id = batch_id
        if cursor is not None:
            state.cursor = cursor
    else:
        state.last_error = error[:_MAX_ERROR]
        state.failures = (state.failures or 0) + 1
    session.flush()
    return state


def list_source_states(session: Session) -> list[SourceState]:
    return list(session.scalars(select(SourceState).order_by(SourceState.name)))


def last_batches_by_source(session: Session) -> list[dict[str, Any]]:
    """The newest batch of each source: source, id, label, fetched_at, paper_count, batches (total)."""
    newest = (
        select(Batch.source, func.max(Batch.id).label("id"), func.count(Batch.id).label("n"))
        .group_by(Batch.source).subquery()
    )
    rows = session.execute(
        select(Batch, newest.c.n).join(newest, newest.c.id == Batch.id).order_by(Batch.source)
    )
    return [
        {"source": b.source, "batch_id": b.id, "label": b.label, "fetched_at": b.fetched_at,
         "papers": b.paper_count, "batches": n}
        for b, n in rows
    ]


def newest_batch(session: Session, until: dt.datetime) -> tuple[int, dt.datetime] | None:
    """(id, fetched_at) of the newest batch fetched at or before ``until``."""
    row = session.execute(
        select(Batch.id, Batch.fetched_at).where(Batch.fetched_at <= until)
        .order_by(Batch.fetched_at.desc(), Batch.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def digest_state(
    session: Session, reader_ids: Sequence[int] | None = None, *, since: dt.datetime | None = None
) -> tuple[dict[int, set[str]], dict[int, dt.datetime]]:
    """Inputs of :func:`scheduler.due.due_digests` for the given readers (all when ``None``).

    Returns (reader id -> periods with a non-pending digest row created after ``since``,
    reader id -> creation time of the newest digest in a delivered state).
    """
    periods: dict[int, set[str]] = defaultdict(set)
    stmt = select(Digest.reader_id, Digest.period).where(Digest.status != "pending")
    if since is not None:
        stmt = stmt.where(Digest.created_at >= since)
    if reader_ids is not None:
        stmt = stmt.where(Digest.reader_id.in_(list(reader_ids)))
    for reader_id, period in session.execute(stmt):
        periods[reader_id].add(period)
    last_stmt = (
        select(Digest.reader_id, func.max(Digest.created_at))
        .where(Digest.status.in_(SETTLED_STATUSES)).group_by(Digest.reader_id)
    )
    if reader_ids is not None:
        last_stmt = last_stmt.where(Digest.reader_id.in_(list(reader_ids)))
    last = {reader_id: when for reader_id, when in session.execute(last_stmt)}
    return dict(periods), last


def digest_counts(session: Session) -> dict[str, int]:
    """Number of digests per state (every state listed, zeros included)."""
    out = dict.fromkeys(DIGEST_STATUSES, 0)
    for status, count in session.execute(select(Digest.status, func.count()).group_by(Digest.status)):
        out[status] = int(count)
    return out


def prune_job_runs(session: Session, before: dt.datetime) -> int:
    """Delete job rows started before ``before`` (the scheduler writes several an hour); returns how many."""
    result = session.execute(delete(JobRun).where(JobRun.started_at < before)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def _day(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).date().isoformat() if value else None


def daily_stats(
    session: Session, since: dt.datetime, until: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Per UTC day from ``since``: digests sent/failed/unknown/empty, clicks, likes, dislikes, unsubscribes.

    Sent digests count on their ``sent_at`` day, the others on their creation day. Days with nothing
    are included, so a chart has no gaps.
    """
    until = until or utcnow()
    keys = ("sent", "failed", "unknown", "empty", "clicks", "likes", "dislikes", "unsubscribes")
    days: dict[str, dict[str, Any]] = {}
    day = since.astimezone(dt.UTC).date()
    while day <= until.astimezone(dt.UTC).date():
        days[day.isoformat()] = {"day": day.isoformat(), **dict.fromkeys(keys, 0)}
        day += dt.timedelta(days=1)

    def bump(when: dt.datetime | None, key: str) -> None:
        slot = days.get(_day(when) or "")
        if slot is not None:
            slot[key] += 1

    rows = session.execute(
        select(Digest.status, Digest.created_at, Digest.sent_at).where(
            (Digest.created_at >= since) | (Digest.sent_at >= since)
        )
    )
    for status, created, sent in rows:
        if status == "sent":
            bump(sent or created, "sent")
        elif status in ("failed", "unknown", "empty"):
            bump(created, status)
    kinds = {"click": "clicks", "like": "likes", "dislike": "dislikes"}
    for kind, created in session.execute(
        select(Interaction.kind, Interaction.created_at).where(
            Interaction.created_at >= since, Interaction.kind.in_(list(kinds))
        )
    ):
        bump(created, kinds[kind])
    for (when,) in session.execute(select(Reader.unsubscribed_at).where(Reader.unsubscribed_at >= since)):
        bump(when, "unsubscribes")
    return [days[k] for k in sorted(days)]


def like_rate_by_position(session: Session, since: dt.datetime) -> list[dict[str, Any]]:
    """Items shown, liked and the like rate per rank (``digest_items.rank``) of digests sent since ``since``.

    An item counts as liked when the reader liked that paper at any time after the digest was created.
    """
    items = session.execute(
        select(DigestItem.rank, Digest.reader_id, DigestItem.paper_id, Digest.created_at)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(Digest.status == "sent", Digest.created_at >= since)
    ).all()
    if not items:
        return []
    likes: dict[tuple[int, str], dt.datetime] = {}
    for reader_id, paper_id, when in session.execute(
        select(Interaction.reader_id, Interaction.paper_id, func.max(Interaction.created_at))
        .where(Interaction.kind == "like", Interaction.created_at >= since)
        .group_by(Interaction.reader_id, Interaction.paper_id)
    ):
        likes[(reader_id, paper_id)] = when
    shown: dict[int, int] = defaultdict(int)
    liked: dict[int, int] = defaultdict(int)
    for rank, reader_id, paper_id, created in items:
        shown[rank] += 1
        when = likes.get((reader_id, paper_id))
        if when is not None and when >= created:
            liked[rank] += 1
    return [
        {"position": rank, "shown": shown[rank], "liked": liked[rank],
         "like_rate": round(liked[rank] / shown[rank], 4)}
        for rank in sorted(shown)
    ]


def advisory_lock(engine: Engine, key: int) -> Connection | None:
    """Try a PostgreSQL session advisory lock on a dedicated connection, without waiting.

    Returns the connection holding the lock (keep it open for as long as the lock is needed), or
    ``None`` when another session holds it.
    """
    conn = engine.connect()
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        conn.commit()
    except BaseException:
        conn.close()
        raise
    if not got:
        conn.close()
        return None
    return conn


def advisory_unlock(conn: Connection, key: int) -> None:
    """Release a lock taken by :func:`advisory_lock` and close its connection."""
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        conn.commit()
    finally:
        conn.close()
