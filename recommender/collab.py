"""Collaborative side: a reader-neighbour graph and implicit ALS on the reader x paper matrix.

Only positive feedback (likes, clicks) enters these models; dislikes steer the content side only,
because "readers with your taste" should be defined by what people chose to read.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

__all__ = ["als_from_factors", "fit_als", "neighbour_graph", "positive_part", "unit_rows"]

# implicit's ALS settings; shared by the fit and by rebuilding a saved model's ALS from its factors.
_ALS_REGULARIZATION = 0.05
_ALS_ALPHA = 10.0
_ALS_ITERATIONS = 15


def positive_part(prefs: sp.csr_matrix) -> sp.csr_matrix:
    """The likes (and clicks) of ``prefs`` as float32 CSR: negative entries (dislikes) dropped."""
    pos = prefs.copy().tocsr()
    pos.data = np.maximum(pos.data, 0).astype(np.float32)
    pos.eliminate_zeros()
    return pos


def _top_k_rows(sim: sp.csr_matrix, k: int) -> sp.csr_matrix:
    sim = sim.tocsr()
    indptr = sim.indptr
    keep = np.zeros(sim.nnz, dtype=bool)
    for u in range(sim.shape[0]):
        s, e = indptr[u], indptr[u + 1]
        if e - s <= k:
            keep[s:e] = True
        else:
            keep[s + np.argpartition(-sim.data[s:e], k)[:k]] = True
    sim.data = np.where(keep, sim.data, 0).astype(np.float32)
    sim.eliminate_zeros()
    return sim


def unit_rows(prefs: sp.csr_matrix) -> sp.csr_matrix:
    """Row-normalised positive feedback, the basis of reader-reader cosine similarity."""
    return normalize(positive_part(prefs), axis=1).astype(np.float32).tocsr()


def neighbour_graph(
    unit: sp.csr_matrix, k: int = 50, rows: np.ndarray | None = None, block: int = 2048
) -> sp.csr_matrix:
    """Each reader's ``k`` most similar readers (cosine of positive feedback), rows sum to 1.

    Parameters
    ----------
    unit : scipy.sparse.csr_matrix, shape (n_readers, n_papers)
        Output of :func:`unit_rows`.
    k : int
        Neighbours kept per reader.
    rows : ndarray of int, optional
        Compute only these readers' rows (the light update path); default all readers.
    block : int
        Readers per block, bounding memory to ``block x n_readers`` similarities.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (len(rows), n_readers)
        Row-stochastic weights; readers with no positive feedback have empty rows.
    """
    rows = np.arange(unit.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    parts = []
    for start in range(0, len(rows), block):
        ids = rows[start : start + block]
        # Few rows (the light update): one pass over ``unit`` instead of transposing all of it.
        sim = (unit @ unit[ids].T).T.tocoo() if len(ids) <= 64 else (unit[ids] @ unit.T).tocoo()
        off_diag = ids[sim.row] != sim.col  # a reader is not their own neighbour
        sim = sp.csr_matrix((sim.data[off_diag], (sim.row[off_diag], sim.col[off_diag])), shape=sim.shape)
        parts.append(_top_k_rows(sim, k))
    if not parts:
        return sp.csr_matrix((0, unit.shape[0]), dtype=np.float32)
    graph = sp.vstack(parts).tocsr()
    return normalize(graph, norm="l1", axis=1).astype(np.float32).tocsr()


def _new_als(factors: int, random_state: int) -> Any:
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares(
        factors=factors,
        regularization=_ALS_REGULARIZATION,
        alpha=_ALS_ALPHA,
        iterations=_ALS_ITERATIONS,
        random_state=random_state,
        calculate_training_loss=False,
    )


def fit_als(prefs: sp.csr_matrix, factors: int = 64, random_state: int = 0) -> Any:
    """Fit implicit's ALS on the positive part of ``prefs`` (readers x papers).

    Returns the fitted ``implicit.cpu.als.AlternatingLeastSquares`` model (CPU, float32).
    """
    from threadpoolctl import threadpool_limits

    # implicit runs its own threads; a threaded BLAS underneath would oversubscribe the cores.
    with warnings.catch_warnings(), threadpool_limits(1, "blas"):
        warnings.simplefilter("ignore", RuntimeWarning)  # implicit's OpenBLAS thread advice
        model = _new_als(factors, random_state)
        model.fit(positive_part(prefs), show_progress=False)
    return model


def als_from_factors(user_factors: np.ndarray, item_factors: np.ndarray, random_state: int = 0) -> Any:
    """Rebuild a fitted ALS model from its ``(n_readers, f)`` and ``(n_papers, f)`` factors.

    What a saved model stores instead of implicit's object: enough for ``partial_fit_users``
    (the light update) and for scoring.
    """
    model = _new_als(user_factors.shape[1], random_state)
    model.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
    model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    return model
