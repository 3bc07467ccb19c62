"""Collaborative side: a reader-neighbour graph and implicit ALS on the reader x paper matrix.

Only positive feedback (likes, clicks) enters these models; dislikes steer the content side only,
because "readers with your taste" should be defined by what people chose to read.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

__all__ = ["fit_als", "neighbour_graph", "unit_rows"]


def _positive(prefs: sp.csr_matrix) -> sp.csr_matrix:
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
    return normalize(_positive(prefs), axis=1).astype(np.float32).tocsr()


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


def fit_als(
    prefs: sp.csr_matrix,
    factors: int = 64,
    regularization: float = 0.05,
    alpha: float = 10.0,
    iterations: int = 15,
    random_state: int = 0,
) -> Any:
    """Fit implicit's ALS on the positive part of ``prefs`` (readers x papers).

    Returns the fitted ``implicit.cpu.als.AlternatingLeastSquares`` model (CPU, float32).
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1, "blas"):
        warnings.simplefilter("ignore", RuntimeWarning)  # implicit's OpenBLAS thread advice
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=random_state,
            calculate_training_loss=False,
        )
        model.fit(_positive(prefs), show_progress=False)
    return model
