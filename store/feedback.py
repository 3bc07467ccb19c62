"""Reader feedback: an append-only history plus one *current* like/dislike per reader and paper.

``record_feedback`` is idempotent: recording the reaction a reader already has changes nothing;
recording the other one flips it (the old row stays in the history, no longer current).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paperdigest.core.errors import InvalidInput, NotFound
from paperdigest.store.models import (
    INTERACTION_KINDS,
    INTERACTION_SOURCES,
    Interaction,
    Paper,
    Reader,
    utcnow,
)
from sqlalchemy import select, update
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # pandas costs ~1 s to import; the CLI's quick commands never need it
    import pandas as pd

__all__ = [
    "FeedbackResult",
    "current_reactions",
    "interactions_frame",
    "record_feedback",
]

_REACTIONS = ("like", "dislike")


@dataclass(frozen=True)
class FeedbackResult:
    kind: str
    changed: bool  # False: the reader already had exactly this reaction (idempotent repeat)
    previous: str | None  # the reaction it replaced, if any


def record_feedback(
    session: Session,
    reader_id: int,
    paper_id: str,
    kind: str,
    source: str,
    *,
    digest_id: int | None = None,
    when: dt.datetime | None = None,
) -> FeedbackResult:
    """Record ``kind`` (like, dislike, unlike, click, save) by a reader on a paper.

    Raises :class:`NotFound` for an unknown reader or paper and :class:`InvalidInput` for an
    unknown kind or source. Clicks and saves are always appended; likes/dislikes keep one current.
    """
    if kind not in INTERACTION_KINDS:
        raise InvalidInput(f"unknown feedback kind {kind!r} (known: {', '.join(INTERACTION_KINDS)})")
    if source not in INTERACTION_SOURCES:
        raise InvalidInput(f"unknown feedback source {source!r}")
    if session.get(Reader, reader_id) is None:
        raise NotFound(f"no reader {reader_id}")
    if session.get(Paper, paper_id) is None:
        raise NotFound(f"no paper {paper_id!r}")
    when = when or utcnow()
    if kind in ("click", "save"):
        session.add(Interaction(reader_id=reader_id, paper_id=paper_id, kind=kind, source=source,
                                current=False, digest_id=digest_id, created_at=when))
        session.flush()
        return FeedbackResult(kind, True, None)

    current = session.scalar(
        select(Interaction).where(
            Interaction.reader_id == reader_id,
            Interaction.paper_id == paper_id,
            Interaction.current.is_(True),
        ).with_for_update()
    )
    previous = current.kind if current is not None else None
    if kind == previous or (kind == "unlike" and previous is None):
        return FeedbackResult(kind, False, previous)
    if current is not None:
        session.execute(update(Interaction).where(Interaction.id == current.id).values(current=False))
    session.add(Interaction(reader_id=reader_id, paper_id=paper_id, kind=kind, source=source,
                            current=kind in _REACTIONS, digest_id=digest_id, created_at=when))
    session.flush()
    return FeedbackResult(kind, True, previous)


def current_reactions(session: Session, reader_id: int) -> dict[str, str]:
    """paper id -> 'like' | 'dislike' for one reader."""
    rows = session.execute(
        select(Interaction.paper_id, Interaction.kind).where(
            Interaction.reader_id == reader_id, Interaction.current.is_(True)
        )
    )
    return {paper_id: kind for paper_id, kind in rows}


def interactions_frame(session: Session, since: dt.datetime | None = None) -> pd.DataFrame:
    """Recommender input: current likes/dislikes plus clicks, one row each.

    Columns: ``reader`` (str id), ``paper``, ``kind`` (like, dislike, click), ``time`` (UTC).
    Readers who unsubscribed are left out.
    """
    stmt = (
        select(Interaction.reader_id, Interaction.paper_id, Interaction.kind, Interaction.created_at)
        .join(Reader, Reader.id == Interaction.reader_id)
        .where(Reader.status != "unsubscribed")
        .where((Interaction.current.is_(True)) | (Interaction.kind == "click"))
        .order_by(Interaction.id)
    )
    if since is not None:
        stmt = stmt.where(Interaction.created_at >= since)
    rows = session.execute(stmt).all()
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["reader", "paper", "kind", "time"])
    frame["reader"] = frame["reader"].astype(str)
    return frame
