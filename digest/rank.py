"""Choosing each reader's papers: candidates from the store, scores and reasons from the ranker.

Readers whose candidate window is the same (typically everyone on the same cadence) share one
``rank`` call — the recommender is batch-first — and each reader's own exclusions (papers already
sent, liked or disliked) go in ``exclude``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from paperdigest.core import Settings
from paperdigest.digest.compose import ItemInfo, ReaderInfo, paper_info
from paperdigest.ranking.model_store import Ranker, papers_frame
from paperdigest.store import Store
from paperdigest.store.digests import NewItem, candidate_paper_ids, fill_pending, papers_by_id

__all__ = ["SCORE_THRESHOLD", "PreparedReader", "rank_readers"]

_CHUNK = 200
# Scores of HybridRecommender are only comparable within one reader's list, so no global cut-off
# is safe; None lets the recommender decide. A digest is "empty" when it returns nothing.
SCORE_THRESHOLD: float | None = None


@dataclass(frozen=True)
class PreparedReader:
    """A reader whose pending digest still needs papers."""

    reader: ReaderInfo
    period: str
    digest_id: int | None  # None in a dry run
    since: dt.datetime
    seen: set[str] = field(default_factory=set)


def rank_readers(
    store: Store, settings: Settings, prepared: list[PreparedReader], *, now: dt.datetime,
    dry_run: bool, ranker_factory: Callable[[], Ranker],
) -> list[tuple[PreparedReader, list[ItemInfo], str]]:
    """Rank and (unless ``dry_run``) record the papers of each prepared digest.

    Returns ``(prepared, items, note)`` per reader; ``items`` is empty when nothing qualifies and
    ``note`` then says why (it is stored on the ``empty`` digest row).
    """
    with store.transaction() as session:
        windows: dict[dt.datetime, tuple[str, ...]] = {}
        for p in prepared:
            if p.since not in windows:
                windows[p.since] = tuple(candidate_paper_ids(session, p.since, now))
        papers = papers_by_id(session, [pid for ids in windows.values() for pid in ids])
    groups: dict[tuple[str, ...], list[PreparedReader]] = {}
    for p in prepared:
        groups.setdefault(windows[p.since], []).append(p)

    ranker: Ranker | None = None
    results: list[tuple[PreparedReader, list[ItemInfo], str]] = []
    for ids, members in groups.items():
        pool = [pid for pid in ids if pid in papers]
        rankable = [m for m in members if set(pool) - m.seen]
        for m in members:
            if m not in rankable:
                since = m.since.strftime("%Y-%m-%d %H:%M UTC")
                note = (f"no new papers since {since}" if not pool else
                        f"all {len(pool)} new papers since {since} were already sent or rated")
                results.append((m, [], note))
        if not rankable:
            continue
        ranker = ranker or ranker_factory()
        frame = papers_frame([papers[pid] for pid in pool])
        k = max(m.reader.digest_size for m in rankable)
        exclude = {str(m.reader.id): set(m.seen) & set(pool) for m in rankable}
        ranked = ranker.rank([str(m.reader.id) for m in rankable], frame, k=k, exclude=exclude,
                             threshold=SCORE_THRESHOLD)
        for m in rankable:
            recs = [r for r in ranked.get(str(m.reader.id), []) if r.paper_id in papers
                    and r.paper_id not in m.seen][: m.reader.digest_size]
            items = [ItemInfo(paper_info(papers[r.paper_id]), float(r.score), str(r.reason or ""))
                     for r in recs]
            note = "" if items else (f"none of the {len(pool)} new papers passed the recommender's"
                                     " threshold")
            results.append((m, items, note))
    if not dry_run:
        _record(store, results)
    return results


def _record(store: Store, results: list[tuple[PreparedReader, list[ItemInfo], str]]) -> None:
    for start in range(0, len(results), _CHUNK):
        chunk = results[start:start + _CHUNK]
        filled = {p.digest_id: [NewItem(i.paper.id, i.score, i.reason) for i in items]
                  for p, items, _ in chunk if p.digest_id is not None and items}
        empty = {p.digest_id: note for p, items, note in chunk if p.digest_id is not None and not items}
        with store.transaction() as session:
            fill_pending(session, filled, empty)  # rows another run filled first are left alone
