"""What a reader's own web pages read: their delivered digests and the papers in them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from paperdigest.store.models import Digest, DigestItem, Paper
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

__all__ = ["SHOWN_STATUSES", "DigestSummary", "delivered_digests", "digest_papers"]

# Digests the reader may have seen ("unknown": handed to the mail server, outcome not confirmed).
SHOWN_STATUSES = ("sent", "unknown")


@dataclass(frozen=True)
class DigestSummary:
    id: int
    period: str
    sent_at: dt.datetime | None
    papers: int


def delivered_digests(session: Session, reader_id: int, limit: int = 100,
                      digest_id: int | None = None) -> list[DigestSummary]:
    """The reader's delivered digests, newest first (only ``digest_id`` when given)."""
    counts = (select(DigestItem.digest_id, func.count().label("n")).group_by(DigestItem.digest_id)
              .subquery())
    rows = session.execute(
        select(Digest.id, Digest.period, Digest.sent_at, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.digest_id == Digest.id)
        .where(Digest.reader_id == reader_id, Digest.status.in_(SHOWN_STATUSES),
               Digest.id == digest_id if digest_id is not None else true())
        .order_by(Digest.created_at.desc(), Digest.id.desc()).limit(limit)
    )
    return [DigestSummary(i, p, s, int(n)) for i, p, s, n in rows]


def digest_papers(session: Session, reader_id: int, digest_ids: list[int]
                  ) -> dict[int, list[tuple[DigestItem, Paper]]]:
    """Items with their papers of the given digests *of this reader* (others are left out)."""
    out: dict[int, list[tuple[DigestItem, Paper]]] = {i: [] for i in digest_ids}
    if not digest_ids:
        return out
    rows = session.execute(
        select(DigestItem, Paper).join(Paper, Paper.id == DigestItem.paper_id)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(Digest.reader_id == reader_id, Digest.id.in_(digest_ids),
               Digest.status.in_(SHOWN_STATUSES))
        .order_by(DigestItem.digest_id, DigestItem.rank)
    )
    for item, paper in rows:
        out[item.digest_id].append((item, paper))
    return out
