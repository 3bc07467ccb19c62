"""Choosing each reader's papers: candidates from the store, scores and reasons from the ranker.

Readers whose candidate window is the same (typically everyone on the same cadence) share one
``rank`` call — the recommender is batch-first — and each reader's own exclusions (papers already
sent, liked or disliked) go in ``exclude``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paperdigest.core import Settings
from paperdigest.core.chunks import chunked
from paperdigest.digest.compose import WEAK_MARK, ItemInfo, ReaderInfo, paper_info
from paperdigest.ranking.model_store import Ranker, papers_frame
from paperdigest.store import Store
from paperdigest.store.digests import NewItem, candidate_paper_ids, fill_pending, papers_by_id
from paperdigest.store.models import Paper

__all__ = ["WEAK_PICKS", "PreparedReader", "nothing_strong", "rank_readers", "reader_threshold"]

_CHUNK = 200
# Readers per ``rank`` call. The ranker holds a few dense (readers x candidates) arrays per call, so
# one call for 100,000 readers would peak at over a gigabyte; slices of this size keep it to ~150 MiB
# and cost a few candidate set-ups (featurizing 500 papers) per 100,000 readers.
RANK_SLICE = 10_000
# Papers in a "nothing strong today" digest (when the reader prefers a note to no digest).
WEAK_PICKS = 3


@dataclass(frozen=True)
class PreparedReader:
    """A reader whose pending digest still needs papers."""

    reader: ReaderInfo
    period: str
    digest_id: int | None  # None in a dry run
    since: dt.datetime
    seen: set[str] = field(default_factory=set)


def reader_threshold(settings: Settings, reader: ReaderInfo) -> float:
    """The like probability a paper needs to enter this reader's digest (theirs, else the setting).

    A digest holds only papers at or above it, so it may be short; "empty" when none clears it.
    """
    return settings.min_relevance if reader.min_relevance is None else float(reader.min_relevance)


def nothing_strong(settings: Settings, reader: ReaderInfo) -> str:
    """What a reader gets when nothing clears their threshold: "note" or "skip" (theirs, else the
    setting)."""
    return reader.nothing_strong or settings.nothing_strong


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
    # One rank call per (candidate window, threshold): typically one or two calls in all.
    groups: dict[tuple[tuple[str, ...], float], list[PreparedReader]] = {}
    for p in prepared:
        groups.setdefault((windows[p.since], reader_threshold(settings, p.reader)), []).append(p)

    ranker: Ranker | None = None
    results: list[tuple[PreparedReader, list[ItemInfo], str]] = []
    for (ids, threshold), members in groups.items():
        pool = [pid for pid in ids if pid in papers]
        pool_set = set(pool)
        rankable: list[PreparedReader] = []
        for m in members:  # one pass: a membership test on the list would be quadratic in readers
            if pool_set and (len(m.seen) < len(pool_set) or not pool_set <= m.seen):
                rankable.append(m)
                continue
            since = m.since.strftime("%Y-%m-%d %H:%M UTC")
            note = (f"no new papers since {since}" if not pool else
                    f"all {len(pool)} new papers since {since} were already sent or rated")
            results.append((m, [], note))
        if not rankable:
            continue
        ranker = ranker or ranker_factory()
        frame = papers_frame([papers[pid] for pid in pool])
        k = max(m.reader.digest_size for m in rankable)
        exclude = {str(m.reader.id): m.seen & pool_set for m in rankable}
        ranked = _rank_sliced(ranker, [str(m.reader.id) for m in rankable], frame, k=k,
                              exclude=exclude, threshold=threshold)
        weak: list[PreparedReader] = []
        for m in rankable:
            items = _items(ranked.get(str(m.reader.id), []), papers, m)
            if not items and nothing_strong(settings, m.reader) == "note":
                weak.append(m)
                continue
            note = "" if items else (f"none of the {len(pool)} new papers reached a like probability"
                                     f" of {threshold:g} (the reader's threshold)")
            results.append((m, items, note))
        if weak:  # "nothing strong today": the best few, each marked as a weaker match
            best = _rank_sliced(ranker, [str(m.reader.id) for m in weak], frame, k=WEAK_PICKS,
                                exclude={str(m.reader.id): exclude[str(m.reader.id)] for m in weak})
            for m in weak:
                items = _items(best.get(str(m.reader.id), []), papers, m, weak=True)[:WEAK_PICKS]
                note = "" if items else (f"none of the {len(pool)} new papers reached a like probability"
                                         f" of {threshold:g} (the reader's threshold), nor ranked at all")
                results.append((m, items, note))
    if not dry_run:
        _record(store, results)
    return results


def _rank_sliced(ranker: Ranker, readers: list[str], frame: Any, *, k: int,
                 exclude: dict[str, set[str]], threshold: float | None = None) -> dict[str, list[Any]]:
    """``ranker.rank`` over ``readers`` in slices of :data:`RANK_SLICE` (each reader is scored alone)."""
    ranked: dict[str, list[Any]] = {}
    for part in chunked(readers, RANK_SLICE):
        ranked.update(ranker.rank(part, frame, k=k, exclude={r: exclude[r] for r in part},
                                  threshold=threshold))
    return ranked


def _items(recs: list[Any], papers: dict[str, Paper], m: PreparedReader, *,
           weak: bool = False) -> list[ItemInfo]:
    """Digest items of one reader's recommendations (known, unseen papers, up to their size)."""
    out = []
    for r in recs:
        if r.paper_id not in papers or r.paper_id in m.seen:
            continue
        prob = getattr(r, "probability", None)
        prob = None if prob is None or prob != prob else float(prob)  # NaN: no calibrator
        reason = str(r.reason or "")
        if weak:  # the mark travels with the stored reason, so every page shows it
            likely = f" ({prob:.0%} likely)" if prob is not None else ""
            reason = f"{WEAK_MARK}{likely} — {reason}" if reason else f"{WEAK_MARK}{likely}"
        highlight = str(getattr(r, "highlight", "") or "")
        out.append(ItemInfo(paper_info(papers[r.paper_id]), float(r.score), reason, prob, weak, highlight))
    return out[: m.reader.digest_size]


def _record(store: Store, results: list[tuple[PreparedReader, list[ItemInfo], str]]) -> None:
    for chunk in chunked(results, _CHUNK):
        filled = {p.digest_id: [NewItem(i.paper.id, i.score, i.reason, i.highlight) for i in items]
                  for p, items, _ in chunk if p.digest_id is not None and items}
        empty = {p.digest_id: note for p, items, note in chunk if p.digest_id is not None and not items}
        with store.transaction() as session:
            fill_pending(session, filled, empty)  # rows another run filled first are left alone
