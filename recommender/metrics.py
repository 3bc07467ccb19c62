"""Ranking metrics over score matrices: recall@K and binary-gain nDCG@K."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["ranking_metrics", "top_k_indices"]


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` largest scores, best first, shape ``(n_rows, k')``."""
    k = min(k, scores.shape[1])
    if k <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def ranking_metrics(
    scores: np.ndarray, truth: sp.csr_matrix, ks: Sequence[int] = (10, 20, 50, 100)
) -> dict[str, float]:
    """Mean recall@K and nDCG@K over rows with at least one positive.

    Parameters
    ----------
    scores : ndarray, shape (n_readers, n_candidates)
        Higher is better; ``-inf`` marks excluded candidates.
    truth : sparse matrix, shape (n_readers, n_candidates)
        Non-zero entries are the reader's held-out positives.
    ks : sequence of int
        Cut-offs.

    Returns
    -------
    dict
        ``{"recall@K": float, "ndcg@K": float, ..., "readers": int}``.
    """
    truth = sp.csr_matrix(truth)
    n_pos = np.diff(truth.indptr)
    rows = np.flatnonzero(n_pos > 0)
    out: dict[str, float] = {"readers": float(len(rows))}
    if len(rows) == 0:
        for k in ks:
            out[f"recall@{k}"] = out[f"ndcg@{k}"] = 0.0
        return out
    top = top_k_indices(scores[rows], max(ks))
    hits = np.take_along_axis((truth[rows] != 0).toarray(), top, axis=1).astype(np.float64)
    discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    pos = n_pos[rows].astype(np.float64)
    for k in ks:
        h = hits[:, :k]
        out[f"recall@{k}"] = float(np.mean(h.sum(axis=1) / pos))
        ideal = np.cumsum(discount)[np.minimum(pos, min(k, top.shape[1])).astype(int) - 1]
        out[f"ndcg@{k}"] = float(np.mean((h * discount[: h.shape[1]]).sum(axis=1) / ideal))
    return out
