"""Read-only queries behind the operator's dashboard and report: cohorts, silent readers, sources.

Every function takes a session and changes nothing; the daily counts and the like rate by position
live in :mod:`paperdigest.store.jobs` (``daily_stats``, ``like_rate_by_position``) and are reused.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from paperdigest.store.models import Digest, DigestItem, Interaction, Reader, SourceState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

__all__ = ["emails_by_id", "like_rate_by_cohort", "reader_counts", "silent_readers", "source_health"]

_REACTIONS = ("like", "dislike", "click")


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _week(value: dt.datetime) -> str:
    year, week, _ = _aware(value).isocalendar()
    return f"{year}-W{week:02d}"


def like_rate_by_cohort(session: Session, since: dt.datetime) -> list[dict[str, Any]]:
    """Like rate per ISO week of sending, per cohort (the month the reader joined).

    An item counts as liked when its reader liked the paper at or after the digest's creation, as in
    ``like_rate_by_position``. Rows: ``cohort`` ("2026-11"), ``week`` ("2026-W48"), ``shown``,
    ``liked``, ``like_rate`` (0..1), sorted by cohort then week.
    """
    items = session.execute(
        select(Reader.created_at, Digest.reader_id, DigestItem.paper_id, Digest.created_at,
               Digest.sent_at)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .join(Reader, Reader.id == Digest.reader_id)
        .where(Digest.status == "sent", Digest.created_at >= since)
    ).all()
    likes = {
        (reader_id, paper_id): _aware(when)
        for reader_id, paper_id, when in session.execute(
            select(Interaction.reader_id, Interaction.paper_id, func.max(Interaction.created_at))
            .where(Interaction.kind == "like", Interaction.created_at >= since)
            .group_by(Interaction.reader_id, Interaction.paper_id)
        )
    }
    shown: dict[tuple[str, str], int] = defaultdict(int)
    liked: dict[tuple[str, str], int] = defaultdict(int)
    for joined, reader_id, paper_id, created, sent in items:
        key = (_aware(joined).strftime("%Y-%m"), _week(sent or created))
        shown[key] += 1
        when = likes.get((reader_id, paper_id))
        if when is not None and when >= _aware(created):
            liked[key] += 1
    return [
        {"cohort": cohort, "week": week, "shown": shown[(cohort, week)],
         "liked": liked[(cohort, week)], "like_rate": round(liked[(cohort, week)] / shown[(cohort, week)], 4)}
        for cohort, week in sorted(shown)
    ]


def silent_readers(session: Session, digests: int) -> list[dict[str, Any]]:
    """Active readers whose last ``digests`` sent digests drew no like, dislike or click.

    Rows: ``reader_id``, ``email``, ``digests`` (sent so far), ``last_reaction`` (datetime or None),
    ``silent_since`` (creation time of the oldest digest of the silent run), oldest silence first.
    Readers with fewer than ``digests`` sent digests are not listed: they have not had the chance.
    """
    if digests < 1:
        raise ValueError(f"digests must be at least 1, got {digests}")
    sent: dict[int, list[dt.datetime]] = defaultdict(list)
    for reader_id, created in session.execute(
        select(Digest.reader_id, Digest.created_at)
        .join(Reader, Reader.id == Digest.reader_id)
        .where(Digest.status == "sent", Reader.status == "active")
        .order_by(Digest.reader_id, Digest.created_at.desc())
    ):
        sent[reader_id].append(_aware(created))
    last = {
        reader_id: _aware(when)
        for reader_id, when in session.execute(
            select(Interaction.reader_id, func.max(Interaction.created_at))
            .where(Interaction.kind.in_(_REACTIONS))
            .group_by(Interaction.reader_id)
        )
    }
    emails = dict(session.execute(select(Reader.id, Reader.email).where(Reader.id.in_(list(sent)))).all())
    rows = []
    for reader_id, times in sent.items():
        if len(times) < digests:
            continue
        window_start = times[digests - 1]  # newest first: the oldest of the last N
        reaction = last.get(reader_id)
        if reaction is None or reaction < window_start:
            rows.append({"reader_id": reader_id, "email": emails[reader_id], "digests": len(times),
                         "last_reaction": reaction, "silent_since": window_start})
    return sorted(rows, key=lambda row: row["silent_since"])


def source_health(session: Session) -> list[dict[str, Any]]:
    """Per polled source: last attempt, last success, consecutive failures and the last error."""
    states = session.execute(select(SourceState).order_by(SourceState.name)).scalars()
    return [
        {"source": s.name, "last_attempt": s.last_attempt_at, "last_success": s.last_success_at,
         "failures": s.failures, "last_error": s.last_error or ""}
        for s in states
    ]


def reader_counts(session: Session) -> dict[str, int]:
    """Readers per status (active, paused, unsubscribed), zeros included."""
    counts = dict.fromkeys(("active", "paused", "unsubscribed"), 0)
    for status, n in session.execute(select(Reader.status, func.count(Reader.id)).group_by(Reader.status)):
        counts[status] = int(n)
    return counts


def emails_by_id(session: Session, reader_ids: set[int]) -> dict[int, str]:
    """Reader id -> address: operators know readers by address, not by number."""
    if not reader_ids:
        return {}
    return dict(session.execute(select(Reader.id, Reader.email).where(Reader.id.in_(reader_ids))).all())
