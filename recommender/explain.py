"""Turning a :class:`~paperdigest.recommender.blend.ScoreBreakdown` into lists.

Exclusions, the like-probability threshold, MMR diversity, and the reason and probability shown
next to each paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from paperdigest.recommender.blend import FallbackInfo, ScoreBreakdown
from paperdigest.recommender.calibration import profile_similarity
from paperdigest.recommender.data import Recommendation
from paperdigest.recommender.metrics import top_k_indices

__all__ = ["build_lists", "mmr_order", "probabilities"]


def _short(title: str, limit: int = 80) -> str:
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def mmr_order(scores: np.ndarray, unit: np.ndarray, k: int, weight: float) -> list[int]:
    """Maximal marginal relevance: trade score for novelty against already chosen papers.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Relevance of the eligible candidates.
    unit : ndarray, shape (n, d)
        Unit-norm candidate vectors.
    k : int
        Items to choose.
    weight : float
        0 keeps the score order, 1 maximises novelty only.
    """
    n = len(scores)
    if n == 0 or k == 0:
        return []
    span = float(scores.max() - scores.min()) or 1.0
    rel = (scores - scores.min()) / span
    chosen: list[int] = [int(np.argmax(rel))]
    max_sim = unit @ unit[chosen[0]]
    available = np.ones(n, dtype=bool)
    available[chosen[0]] = False
    while len(chosen) < min(k, n):
        value = np.where(available, (1 - weight) * rel - weight * max_sim, -np.inf)
        pick = int(np.argmax(value))
        chosen.append(pick)
        available[pick] = False
        max_sim = np.maximum(max_sim, unit @ unit[pick])
    return chosen


def _similar_titles(pos: sp.csr_matrix, top: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """For each (reader, chosen candidate): the column of the reader's most similar liked paper.

    Vectorised over all likes at once: ``pos`` is the readers' likes ``(n_readers, n_known)``,
    ``sim`` is ``(n_known, n_candidates)``; returns an ``(n_readers, k)`` int array, -1 where
    the reader has no likes.
    """
    out = np.full(top.shape, -1, dtype=np.int64)
    if pos.nnz == 0 or top.size == 0:
        return out
    owner = np.repeat(np.arange(pos.shape[0]), np.diff(pos.indptr))
    values = sim[pos.indices[:, None], top[owner]]  # (n_likes, k)
    starts = pos.indptr[:-1][np.diff(pos.indptr) > 0]
    has = np.flatnonzero(np.diff(pos.indptr) > 0)
    best = np.maximum.reduceat(values, starts, axis=0)  # (readers with likes, k)
    seg = np.searchsorted(has, owner)
    entry = np.where(values >= best[seg], np.arange(len(owner))[:, None], len(owner))
    first = np.minimum.reduceat(entry, starts, axis=0)
    out[has] = pos.indices[np.minimum(first, len(owner) - 1)]
    return out


def build_lists(
    breakdown: ScoreBreakdown,
    readers: Sequence[str],
    k: int,
    exclude: Mapping[str, set[str]] | None,
    threshold: float | None,
    diversity: float,
) -> dict[str, list[Recommendation]]:
    """Apply exclusions, threshold and diversity to the breakdown's score rows and attach reasons.

    ``readers`` are the rows of ``breakdown.scores``, in order.
    """
    ids = breakdown.candidate_ids
    if not ids or k == 0 or not len(readers):
        return {r: [] for r in readers}
    out: dict[str, list[Recommendation]] = {}
    pos_of = {p: i for i, p in enumerate(ids)}
    scores = breakdown.scores.astype(np.float32, copy=True)
    # Papers the reader already reacted to (in the model) or that the caller excludes.
    scores[breakdown.seen.row, breakdown.seen.col] = -np.inf
    if exclude:
        for row, reader in enumerate(readers):
            cols = [pos_of[p] for p in exclude.get(reader, ()) if p in pos_of]
            scores[row, cols] = -np.inf
    cand_unit = breakdown.candidate_unit
    k_eff = min(k, len(ids))
    if threshold is not None:
        _apply_threshold(breakdown, scores, threshold, max(5 * k, 50))
    n_valid = np.full(len(readers), k_eff, dtype=np.int64)
    if diversity > 0:
        top = np.zeros((len(readers), k_eff), dtype=np.int64)
        for row in range(len(readers)):
            s = scores[row]
            pool = np.argsort(-s, kind="stable")[: max(5 * k, 50)]
            pool = pool[np.isfinite(s[pool])]
            chosen = pool[mmr_order(s[pool], cand_unit[pool], k_eff, diversity)]
            top[row, : len(chosen)] = chosen
            n_valid[row] = len(chosen)
    else:
        top = top_k_indices(scores, k_eff)
    top_scores = np.take_along_axis(scores, top, axis=1)

    personal = breakdown.personal
    liked_col = np.full(top.shape, -1, dtype=np.int64)
    if len(personal):
        known = breakdown.paper_vectors
        known = known.toarray() if hasattr(known, "toarray") else known
        sim = np.asarray(known @ cand_unit.T, dtype=np.float32)
        liked_col[personal] = _similar_titles(breakdown.history, top[personal], sim)
    n_like = None
    if breakdown.neighbours is not None and breakdown.candidate_likers is not None:
        graph, cand_pos = breakdown.neighbours, breakdown.candidate_likers
        active = np.flatnonzero(cand_pos.any(axis=0))
        if len(active):
            counts = (graph > 0).astype(np.float32) @ cand_pos[:, active]
            n_like = np.zeros((len(personal), len(ids)), dtype=np.int32)
            n_like[:, active] = np.asarray(counts).round().astype(np.int32)
    # Reasons as an object array, built with vectorised lookups (1M pairs for 100k readers).
    reasons = np.full(top.shape, "matches your reading history", dtype=object)
    has_title = liked_col >= 0
    if has_title.any():
        uniq, inverse = np.unique(liked_col[has_title], return_inverse=True)
        titles = breakdown.paper_titles[uniq]
        reasons[has_title] = np.array([f"similar to ‘{_short(t)}’" for t in titles], dtype=object)[inverse]
    if n_like is not None and len(personal):
        counts = np.take_along_axis(n_like, top[personal], axis=1)
        social = counts >= 2
        rows, cols = np.nonzero(social)
        reasons[personal[rows], cols] = [f"liked by {int(n)} readers with your taste" for n in counts[social]]
    fb = breakdown.fallback
    if fb is not None:
        for row in np.setdiff1d(np.arange(len(readers)), personal):
            reasons[row] = [_fallback_reason(fb, int(row), int(c)) for c in top[row]]
    # Each row's list ends at its first excluded (-inf) slot; one flat pass builds every tuple.
    finite = np.isfinite(top_scores)
    finite &= np.arange(k_eff)[None, :] < n_valid[:, None]
    lengths = np.where(finite.all(axis=1), k_eff, finite.argmin(axis=1))
    keep = np.arange(k_eff)[None, :] < lengths[:, None]
    probs = probabilities(breakdown, top, top_scores)
    flat = list(map(Recommendation, np.array(ids, dtype=object)[top[keep]].tolist(),
                    top_scores[keep].tolist(), reasons[keep].tolist(), probs[keep].tolist()))
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    for reader, s, e in zip(readers, starts, ends, strict=True):
        out[reader] = flat[s:e]
    return out


def probabilities(breakdown: ScoreBreakdown, cols: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Like probabilities of candidates ``cols`` (shape ``(n_r, m)``) with their ``scores``.

    Excluded entries (score -inf) get 0; NaN everywhere when the breakdown has no calibrator.
    """
    cal = breakdown.calibrator
    if cal is None or breakdown.profiles is None or breakdown.likes is None:
        return np.full(cols.shape, np.nan)
    finite = np.isfinite(scores)
    sim = profile_similarity(breakdown.profiles, breakdown.candidate_unit, cols)
    return np.where(finite, cal.predict(np.where(finite, scores, 0.0), sim, breakdown.likes), 0.0)


def _apply_threshold(breakdown: ScoreBreakdown, scores: np.ndarray, threshold: float, pool: int) -> None:
    """Exclude (set to -inf, in place) every candidate whose like probability is below ``threshold``.

    Probabilities are computed for each reader's ``pool`` best-scored candidates only (cheap for
    100k candidates); the rest could not reach a digest anyway and are excluded too.
    """
    if threshold <= 0:
        return
    cols = top_k_indices(scores, pool)
    probs = probabilities(breakdown, cols, np.take_along_axis(scores, cols, axis=1))
    keep = np.zeros(scores.shape, dtype=bool)
    rows = np.repeat(np.arange(len(cols)), cols.shape[1]).reshape(cols.shape)
    passed = np.isnan(probs) | (probs >= threshold)  # NaN: no calibrator, nothing to cut by
    keep[rows[passed], cols[passed]] = True
    scores[~keep] = -np.inf


def _fallback_reason(fb: FallbackInfo, row: int, cand: int) -> str:
    if row in fb.keyword:
        kws, best = fb.keyword[row]
        return f"matches your interest ‘{_short(kws[int(best[cand])], 60)}’"
    if fb.popular[cand]:
        return "popular in this batch"
    return "new in this batch"
