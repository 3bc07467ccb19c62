"""Turning a :class:`~paperdigest.recommender.blend.ScoreBreakdown` into lists.

Exclusions, the like-probability threshold and MMR diversity here; the reason and highlight of each
pick come from :mod:`recommender.reasons`, the probability from the fitted calibrator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from paperdigest.recommender.blend import ScoreBreakdown
from paperdigest.recommender.calibration import profile_similarity
from paperdigest.recommender.data import Recommendation
from paperdigest.recommender.metrics import top_k_indices
from paperdigest.recommender.reasons import pick_reasons

__all__ = ["build_lists", "mmr_order", "probabilities"]


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

    reasons, highlights = pick_reasons(breakdown, top, n_valid)
    # Each row's list ends at its first excluded (-inf) slot; one flat pass builds every tuple.
    finite = np.isfinite(top_scores)
    finite &= np.arange(k_eff)[None, :] < n_valid[:, None]
    lengths = np.where(finite.all(axis=1), k_eff, finite.argmin(axis=1))
    keep = np.arange(k_eff)[None, :] < lengths[:, None]
    probs = probabilities(breakdown, top, top_scores)
    lights = np.empty(top.shape, dtype=object)
    lights[:] = highlights
    flat = list(map(Recommendation, np.array(ids, dtype=object)[top[keep]].tolist(),
                    top_scores[keep].tolist(), reasons[keep].tolist(), probs[keep].tolist(),
                    lights[keep].tolist()))
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

