"""Turning score matrices into digests: fallbacks, exclusions, threshold, MMR and reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from paperdigest.recommender.content import unit_dense, zscore_rows
from paperdigest.recommender.data import Recommendation

if TYPE_CHECKING:
    from paperdigest.recommender.hybrid import HybridRecommender

__all__ = ["build_lists", "fallback_scores", "mmr_order"]


def _short(title: str, limit: int = 80) -> str:
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def _similarity_space(model: HybridRecommender, feats: dict[str, Any]) -> str:
    return "embedding" if "embedding" in feats else "tfidf"


def fallback_scores(
    readers: Sequence[str],
    keywords: Mapping[str, list[str]],
    cands: pd.DataFrame,
    feats: dict[str, Any],
    model: HybridRecommender,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Scores for readers without likes: interest keywords, else batch popularity.

    Returns
    -------
    scores : ndarray, shape (len(readers), n_candidates)
    info : dict
        ``{"keyword": {row: (keywords, best keyword index per candidate)}, "popular": bool array}``.
    """
    n_c = len(cands)
    cidx = np.array([model.paper_index_.get(p, -1) for p in cands["id"]], dtype=np.int64)
    likes = np.zeros(n_c, dtype=np.float32)
    if (cidx >= 0).any():
        pos = (model.prefs_[:, cidx[cidx >= 0]] > 0).sum(axis=0)
        likes[cidx >= 0] = np.asarray(pos).ravel()
    upvotes = cands["upvotes"].to_numpy(np.float32)
    popularity = np.log1p(np.maximum(upvotes, 0)) + np.log1p(likes)
    scores = np.tile(zscore_rows(popularity[None, :]), (len(readers), 1))
    info: dict[str, Any] = {"keyword": {}, "popular": popularity > 0}
    space = _similarity_space(model, feats)
    cand_unit = unit_dense(feats[space])
    for row, reader in enumerate(readers):
        kws = keywords.get(reader) or []
        if not kws:
            continue
        kw_vec = model.encoder_.transform(kws) if space == "embedding" else model.tfidf_.transform(kws)
        sim = unit_dense(kw_vec) @ cand_unit.T  # (n_keywords, n_candidates)
        best = sim.argmax(axis=0)
        # Keywords lead; popularity only breaks ties between equally matching papers.
        scores[row] = zscore_rows(sim.max(axis=0)[None, :])[0] + 0.01 * scores[row]
        info["keyword"][row] = (kws, best)
    return scores, info


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


def _similar_titles(
    model: HybridRecommender, ridx: np.ndarray, top: np.ndarray, sim: np.ndarray
) -> np.ndarray:
    """For each (reader, chosen candidate): the column of the reader's most similar liked paper.

    Vectorised over all likes at once: ``sim`` is ``(n_known, n_candidates)``; returns an
    ``(len(ridx), k)`` int array, -1 where the reader has no likes.
    """
    pos = (model.prefs_[ridx] > 0).tocsr()
    out = np.full(top.shape, -1, dtype=np.int64)
    if pos.nnz == 0 or top.size == 0:
        return out
    owner = np.repeat(np.arange(len(ridx)), np.diff(pos.indptr))
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
    model: HybridRecommender,
    readers: Sequence[str],
    scores: np.ndarray,
    parts: dict[str, Any],
    k: int,
    exclude: Mapping[str, set[str]] | None,
    threshold: float | None,
    diversity: float,
) -> dict[str, list[Recommendation]]:
    """Apply exclusions, threshold and diversity to score rows and attach reasons."""
    cands: pd.DataFrame = parts["cands"]
    ids = cands["id"].tolist()
    if not ids or k == 0 or not len(readers):
        return {r: [] for r in readers}
    out: dict[str, list[Recommendation]] = {}
    pos_of = {p: i for i, p in enumerate(ids)}
    cidx = np.array([model.paper_index_.get(p, -1) for p in ids], dtype=np.int64)
    ridx = parts["ridx"]
    scores = scores.astype(np.float32, copy=True)
    # Papers the reader already reacted to (in the model) or that the caller excludes.
    known_r = np.flatnonzero(ridx >= 0)
    in_model = np.flatnonzero(cidx >= 0)
    if len(known_r) and len(in_model):
        seen = model.prefs_[ridx[known_r]][:, cidx[in_model]].tocoo()
        scores[known_r[seen.row], in_model[seen.col]] = -np.inf
    if exclude:
        for row, reader in enumerate(readers):
            cols = [pos_of[p] for p in exclude.get(reader, ()) if p in pos_of]
            scores[row, cols] = -np.inf
    if threshold is not None:
        scores[scores < threshold] = -np.inf
    space = _similarity_space(model, parts["feats"])
    cand_unit = unit_dense(parts["feats"][space])
    k_eff = min(k, len(ids))
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
        part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(scores, top, axis=1)

    personal = parts["personal"]
    liked_col = np.full(top.shape, -1, dtype=np.int64)
    if len(personal):
        known = model.features_[space]
        known = known.toarray() if hasattr(known, "toarray") else known
        sim = np.asarray(known @ cand_unit.T, dtype=np.float32)
        liked_col[personal] = _similar_titles(model, ridx[personal], top[personal], sim)
    n_like = None
    if parts.get("knn") is not None and model.params_.w_knn > 0:
        _, graph, cand_pos = parts["knn"]
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
        titles = model.papers_["title"].to_numpy()[uniq]
        reasons[has_title] = np.array([f"similar to ‘{_short(t)}’" for t in titles], dtype=object)[inverse]
    if n_like is not None and len(personal):
        counts = np.take_along_axis(n_like, top[personal], axis=1)
        social = counts >= 2
        rows, cols = np.nonzero(social)
        reasons[personal[rows], cols] = [f"liked by {int(n)} readers with your taste" for n in counts[social]]
    fb = parts.get("fallback")
    if fb is not None:
        for row in np.setdiff1d(np.arange(len(readers)), personal):
            reasons[row] = [_fallback_reason(fb, int(row), int(c)) for c in top[row]]
    # Each row's list ends at its first excluded (-inf) slot; one flat pass builds every tuple.
    finite = np.isfinite(top_scores)
    finite &= np.arange(k_eff)[None, :] < n_valid[:, None]
    lengths = np.where(finite.all(axis=1), k_eff, finite.argmin(axis=1))
    keep = np.arange(k_eff)[None, :] < lengths[:, None]
    flat = list(map(Recommendation, np.array(ids, dtype=object)[top[keep]].tolist(),
                    top_scores[keep].tolist(), reasons[keep].tolist()))
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    for reader, s, e in zip(readers, starts, ends, strict=True):
        out[reader] = flat[s:e]
    return out


def _fallback_reason(fb: dict[str, Any] | None, row: int, cand: int) -> str:
    if fb is not None and row in fb["keyword"]:
        kws, best = fb["keyword"][row]
        return f"matches your interest ‘{_short(kws[int(best[cand])], 60)}’"
    if fb is not None and fb["popular"][cand]:
        return "popular in this batch"
    return "new in this batch"
