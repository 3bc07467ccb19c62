"""Content side: ridge regressions from paper features to every reader's preferences.

Each *view* turns papers into feature rows ``x`` (TF-IDF terms, MiniLM embeddings, or random
Fourier features of the embeddings, i.e. an RBF kernel). For one view, every reader ``u`` gets
the ridge solution ``w_u = (X'X + lam I)^-1 X' y_u`` over the papers that anybody interacted
with; all readers share one ``(X'X + lam I)^-1`` so the whole fit is one matrix inverse. The score
of a candidate paper ``c`` is then ``x_c' w_u = y_u' X P x_c``, computed as
``Y @ (X @ (P @ X_c'))`` so nothing of size readers x features is ever materialised: ranking a
batch costs one sparse product with the preference matrix, whatever the number of readers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

__all__ = [
    "KEYWORD_BACKGROUND",
    "KEYWORD_FLOOR",
    "KEYWORD_MIN_COSINE",
    "SIMILARITY_FLOOR",
    "FactorMap",
    "NeighbourFactorMap",
    "RandomFourierMap",
    "RidgeSolver",
    "RidgeView",
    "gram_matrix",
    "keyword_scores",
    "keyword_similarity",
    "lead_view",
    "map_view",
    "ridge_lambda",
    "unit_dense",
    "zscore_rows",
]


# Cosine similarity below which two papers are not called similar ("similar to X" needs at least
# this), per similarity view. Measured (docs/recommender.md, "Reasons"): on citeulike-a titles a
# random pair of papers reaches 0.6 in 0.1% of cases (MiniLM; TF-IDF 0.2: 0.4%), and on the seed
# pages (title + abstract, all machine learning, so typical pairs are already close) in about 2.5%
# (TF-IDF 0.2: under 1%), while 4% of pairs saved by one citeulike-a reader do (TF-IDF: 7%).
SIMILARITY_FLOOR: dict[str, float] = {"embedding": 0.6, "tfidf": 0.2}
# Keywords are matched in standard deviations above their own typical similarity to papers of the
# corpus ("interpretability" is a cosine of 0.1 to a typical paper, "sparse autoencoders" 0.3, so one
# cosine floor for both favours the broad one): a paper is about a keyword when it is at least
# KEYWORD_FLOOR deviations above the keyword's mean AND at least KEYWORD_MIN_COSINE close.
# Measured with citeulike-a tags as keywords (docs/recommender.md, "Reasons"): 40% of tagged papers
# pass both and 3% of random papers (MiniLM); with TF-IDF 23% and 1.1%.
KEYWORD_FLOOR: float = 2.0
KEYWORD_MIN_COSINE: dict[str, float] = {"embedding": 0.25, "tfidf": 0.05}
# Papers of the fitted corpus the keyword statistics are taken over (an even sample of at most this).
KEYWORD_BACKGROUND = 2000


def keyword_similarity(
    vectors: np.ndarray, cand_unit: np.ndarray, background: np.ndarray, min_cosine: float
) -> np.ndarray:
    """Standardised keyword-to-candidate similarity, shape ``(n_keywords, n_candidates)``.

    ``vectors`` are unit-norm keywords, ``cand_unit`` unit-norm candidates and ``background``
    unit-norm papers of the corpus, all in one similarity view. Each keyword's cosines are
    expressed in standard deviations above its mean cosine to the background; a cosine below
    ``min_cosine`` is capped just under :data:`KEYWORD_FLOOR`, so it never counts as a match.
    """
    cos = np.asarray(vectors @ cand_unit.T, dtype=np.float32)
    bg = np.asarray(vectors @ background.T, dtype=np.float32)
    mean = bg.mean(axis=1, keepdims=True)
    std = np.maximum(bg.std(axis=1, keepdims=True), 1e-3)
    z = (cos - mean) / std
    return np.where(cos >= min_cosine, z, np.minimum(z, KEYWORD_FLOOR - 1e-3)).astype(np.float32)


def keyword_scores(sim: np.ndarray, floor: float = KEYWORD_FLOOR, members: Any = None) -> np.ndarray:
    """Topical scores per candidate from ``sim``, the standardised ``(n_keywords, n_candidates)``.

    Every keyword counts, with equal weight, and a match saturates: a candidate earns
    ``1 - exp(-(sim - floor))`` (below 1) from each keyword it matches above the floor. So a paper
    about two of the reader's topics beats a paper that matches one of them very strongly (a
    pruning paper for "sparse autoencoders" + "interpretability"), and a near miss never
    outweighs a real match. The mean of the positive similarities (at most 0.01) orders the
    papers that match nothing.

    Without ``members`` all rows of ``sim`` are one reader's keywords and the result has shape
    ``(n_candidates,)``. With ``members``, a sparse ``(n_readers, n_keywords)`` count of each
    reader's keywords among the rows of ``sim``, it is ``(n_readers, n_candidates)``: every reader
    at once, each keyword's terms computed once.
    """
    if sim.size == 0:
        return np.zeros(sim.shape[1], dtype=np.float32)
    single = members is None
    if single:
        members = sp.csr_matrix(np.ones((1, sim.shape[0]), dtype=np.float32))
    above = 1 - np.exp(-np.maximum(sim - floor, 0))
    low = np.clip(sim, 0, floor) / floor
    n_kw = np.asarray(members.sum(axis=1), dtype=np.float32)
    out = (np.asarray(members @ above) + 0.01 * np.asarray(members @ low) / n_kw).astype(np.float32)
    return out[0] if single else out


def lead_view(features: Any) -> str:
    """The view that measures paper-to-paper similarity: embeddings when present, else TF-IDF.

    ``features`` is any mapping (or set) of view names; it leads the blend on ties, places new
    papers by their nearest seen papers, matches keywords, and picks "similar to" titles.
    """
    return "embedding" if "embedding" in features else "tfidf"


def map_view(features: Any) -> str:
    """The view whose features are regressed onto ALS factors and popularity (RBF when present)."""
    return "embedding_rbf" if "embedding_rbf" in features else "tfidf"


def ridge_lambda(gram: np.ndarray, alpha: float, n_rows: int | None = None) -> float:
    """Ridge penalty relative to the mean non-zero eigenvalue of ``X'X`` (``gram``, shape ``(f, f)``).

    ``lam = alpha * trace(X'X) / rank`` transfers between corpora of different size. The rank is at
    most ``min(n_rows, f)``: with fewer observed papers than features (a young store: 1,000 liked
    papers, 4,000 TF-IDF terms) most eigenvalues are zero, and dividing by ``f`` would make the
    penalty a fraction of every real eigenvalue, i.e. almost no shrinkage. Without ``n_rows`` the
    rank is taken as ``f``. The floor keeps an all-zero view (no vocabulary) solvable.
    """
    f = gram.shape[0]
    rank = min(f, n_rows) if n_rows is not None else f
    return alpha * max(float(np.trace(gram)) / max(rank, 1), 1e-6)


def unit_dense(x: Any) -> np.ndarray:
    """Dense float32 copy of ``x`` (array or sparse) with unit-norm rows; zero rows stay zero."""
    arr = np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32)
    return normalize(arr) if len(arr) else arr  # sklearn refuses zero rows


def zscore_rows(scores: np.ndarray) -> np.ndarray:
    """Standardise each row (reader) over its columns (candidates); constant rows become 0."""
    out = np.array(scores, dtype=np.float32)  # one copy, then in-place (large batches)
    if out.size == 0:
        return out
    out -= out.mean(axis=1, keepdims=True)
    std = np.sqrt(np.einsum("ij,ij->i", out, out) / max(out.shape[1], 1))[:, None]
    out /= np.where(std > 1e-6, std, np.inf)  # constant rows become 0
    return out


class RandomFourierMap:
    """Random Fourier features approximating the RBF kernel ``exp(-gamma |a - b|^2)``.

    Parameters
    ----------
    n_components : int
        Output dimension.
    gamma : float
        Kernel width; with unit-norm inputs, 1.0 is a moderate bandwidth.
    random_state : int
        Seed of the random projection.
    """

    def __init__(self, n_components: int = 2048, gamma: float = 1.0, random_state: int = 0) -> None:
        self.n_components = n_components
        self.gamma = gamma
        self.random_state = random_state

    def fit(self, dim: int) -> RandomFourierMap:
        """Draw the projection for inputs of dimension ``dim``."""
        rng = np.random.default_rng(self.random_state)
        self.weights_ = (rng.normal(size=(dim, self.n_components)) * np.sqrt(2 * self.gamma)).astype(
            np.float32
        )
        self.offset_ = rng.uniform(0, 2 * np.pi, self.n_components).astype(np.float32)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Map ``(n, dim)`` rows to ``(n, n_components)`` features."""
        scale = np.float32(np.sqrt(2.0 / self.n_components))
        return scale * np.cos(np.asarray(x, np.float32) @ self.weights_ + self.offset_)


# Dislikes whose corrections are computed together (readers are grouped until their dislikes reach
# this): bounds the (disliked papers x features) arrays, ~64 MB at 4,000 TF-IDF terms.
_DISLIKE_ROWS = 2048


def _times_dense(x: Any, m: np.ndarray) -> np.ndarray:
    """``x @ m`` as float32; sparse ``x`` stays sparse (TF-IDF rows have a few dozen terms: densifying
    them first made a 500-paper batch cost a 4,000 x 4,000 x 500 product per call)."""
    if sp.issparse(x):
        return np.asarray(sp.csr_matrix(x, dtype=np.float32) @ m, dtype=np.float32)
    return np.asarray(np.asarray(x, dtype=np.float32) @ m, dtype=np.float32)


def _dense(x: Any, dtype: Any = np.float64) -> np.ndarray:
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=dtype)


def gram_matrix(x: Any) -> np.ndarray:
    """``X'X`` as a dense float64 array (sparse or dense ``x``)."""
    return _dense(x.T @ x)


class RidgeSolver:
    """Ridge solves ``(X'X + lam I)^-1`` over one set of observed rows ``X``, for any penalty.

    With fewer rows than features (``n < f``) everything goes through the ``n x n`` kernel ``XX'``
    instead of the ``f x f`` Gram matrix, by the push-through identity
    ``(X'X + lam I)^-1 = (I - X'(XX' + lam I)^-1 X) / lam``: the same solution, at a cost of
    ``n^3`` instead of ``f^3``. The penalty is :func:`ridge_lambda` of ``alpha``.
    """

    def __init__(self, x_observed: Any) -> None:
        self.x = x_observed
        n, f = x_observed.shape
        self.dual = n < f
        if self.dual:
            k = x_observed @ x_observed.T
            self.matrix = _dense(k)
        else:
            self.matrix = gram_matrix(x_observed)
        trace = float(np.trace(self.matrix))
        self.scale = max(trace / max(min(n, f), 1), 1e-6)

    def lam(self, alpha: float) -> float:
        return alpha * self.scale

    def _solve(self, alpha: float, rhs: np.ndarray) -> np.ndarray:
        a = self.matrix + self.lam(alpha) * np.eye(self.matrix.shape[0])
        return np.linalg.solve(a, rhs)

    def precision(self, alpha: float) -> np.ndarray:
        """``(X'X + lam I)^-1``, shape ``(f, f)``, float32."""
        f = self.x.shape[1]
        if not self.dual:
            return self._solve(alpha, np.eye(f)).astype(np.float32)
        xd = _dense(self.x)
        inner = self._solve(alpha, xd)  # (n, f)
        out = -(xd.T @ inner)
        out[np.diag_indices(f)] += 1.0
        return (out / self.lam(alpha)).astype(np.float32)

    def coefficients(self, alpha: float, target: np.ndarray) -> np.ndarray:
        """``(X'X + lam I)^-1 X' target`` for ``target`` of shape ``(n, t)``: shape ``(f, t)``."""
        if self.dual:
            return np.asarray(self.x.T @ self._solve(alpha, np.asarray(target, dtype=np.float64)))
        return self._solve(alpha, np.asarray(self.x.T @ target, dtype=np.float64))

    def scores(self, alpha: float, profiles: Any, x_cand: Any) -> np.ndarray:
        """``profiles (X'X + lam I)^-1 x_cand'``: ``profiles`` are ``Y X_known``, shape ``(r, f)``."""
        if not self.dual:
            right = self._solve(alpha, _dense(x_cand).T)
            return np.asarray(profiles @ right, dtype=np.float32)
        direct = _dense(profiles @ x_cand.T)
        through = _dense(profiles @ self.x.T) @ self._solve(alpha, _dense(self.x @ x_cand.T))
        return ((direct - through) / self.lam(alpha)).astype(np.float32)


class RidgeView:
    """Shared-inverse ridge regression for one feature view.

    Parameters
    ----------
    name : str
        View name used in weights and reports.
    alpha : float
        Regularisation relative to the mean non-zero eigenvalue of ``X'X`` (so it transfers
        between corpora of different size): :func:`ridge_lambda`.
    """

    def __init__(
        self, name: str, alpha: float = 1.0, size_power: float = 0.0, n_ref: float = 10.0
    ) -> None:
        self.name = name
        self.alpha = alpha
        self.size_power = size_power
        self.n_ref = n_ref

    def fit(self, x_observed: Any) -> RidgeView:
        """Prepare the solve from the ``(n_papers, n_features)`` observed rows."""
        if self.size_power:
            return self.fit_gram(gram_matrix(x_observed), x_observed.shape[0])
        return self.fit_solver(RidgeSolver(x_observed))

    def fit_solver(self, solver: RidgeSolver) -> RidgeView:
        """Same as :meth:`fit` from a prepared :class:`RidgeSolver` (no per-reader penalty)."""
        self.lam_ = solver.lam(self.alpha)
        self.precision_ = solver.precision(self.alpha)
        return self

    def fit_gram(self, gram: np.ndarray, n_rows: int | None = None) -> RidgeView:
        """Same as :meth:`fit` from a precomputed Gram matrix of ``n_rows`` observed rows."""
        f = gram.shape[0]
        self.lam_ = ridge_lambda(gram, self.alpha, n_rows)
        if self.size_power:
            # Per-reader regularisation needs the eigenbasis: lam_u = lam (n_ref / n_u)^power,
            # so readers with few likes are shrunk more than readers with long histories.
            eigval, eigvec = np.linalg.eigh(gram)
            self.eigval_ = np.maximum(eigval, 0).astype(np.float32)
            self.eigvec_ = eigvec.astype(np.float32)
            self.precision_ = None
        else:
            a = gram + self.lam_ * np.eye(f)
            self.precision_ = np.linalg.solve(a, np.eye(f)).astype(np.float32)
        return self

    def item_kernel(self, x_known: Any, x_cand: Any) -> np.ndarray:
        """Return ``X_known P X_cand'`` of shape ``(n_known, n_cand)``."""
        right = _times_dense(x_cand, self.precision_).T  # P is symmetric: (X_cand P)' = P X_cand'
        return np.asarray(x_known @ right, dtype=np.float32)

    def scores(self, prefs: sp.csr_matrix, x_known: Any, x_cand: Any) -> np.ndarray:
        """Return ``(n_readers, n_cand)`` ridge scores for the readers in ``prefs`` rows.

        Positive entries of ``prefs`` are targets; a negative entry (a dislike) is an observed
        zero of that reader's own regression (see :func:`dislike_correction`), not a target of -1.
        """
        prefs = sp.csr_matrix(prefs, dtype=np.float32)
        pos, neg = split_dislikes(prefs)
        rows = np.flatnonzero(np.diff(neg.indptr))  # readers with a dislike
        if self.precision_ is not None:
            out = np.asarray(pos @ self.item_kernel(x_known, x_cand), dtype=np.float32)
            for block in _blocks(rows, np.diff(neg.indptr)[rows]):
                disliked = x_known[np.unique(neg[block].indices)]
                corr = dislike_correction(
                    neg[block], _dense(pos[block] @ x_known, np.float32),
                    _times_dense(disliked, self.precision_), _dense(disliked, np.float32))
                out[block] -= _times_dense(x_cand, corr.T).T
            return out
        n_u = np.maximum(np.diff(pos.indptr), 1).astype(np.float32)  # likes (and clicks) only
        lam_u = self.lam_ * (self.n_ref / n_u) ** self.size_power
        inv = 1.0 / (self.eigval_[None, :] + lam_u[:, None])
        profile = _times_dense(pos @ x_known, self.eigvec_)
        cand = _times_dense(x_cand, self.eigvec_)
        out = (profile * inv) @ cand.T
        for block in _blocks(rows, np.diff(neg.indptr)[rows]):
            rotated = _times_dense(x_known[np.unique(neg[block].indices)], self.eigvec_)
            corr = dislike_correction(neg[block], profile[block], rotated, rotated, inv[block])
            out[block] -= corr @ cand.T
        return out


def _blocks(rows: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """``rows`` cut into runs whose ``sizes`` sum to at most :data:`_DISLIKE_ROWS` (one row may exceed)."""
    out, start, total = [], 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > _DISLIKE_ROWS:
            out.append(rows[start:i])
            start, total = i, 0
        total += size
    if start < len(rows):
        out.append(rows[start:])
    return out


def split_dislikes(prefs: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``prefs`` split into its positive part and the sizes of its negative entries (dislikes)."""
    pos = prefs.maximum(0).tocsr()
    neg = (-prefs).maximum(0).tocsr()
    pos.eliminate_zeros()
    neg.eliminate_zeros()
    neg.sort_indices()
    return pos, neg


def dislike_correction(
    neg: sp.csr_matrix, profile: np.ndarray, coords: np.ndarray, known: np.ndarray,
    inv: np.ndarray | None = None,
) -> np.ndarray:
    """Per reader, what a dislike changes in the ridge weights when it is an observed zero.

    The shared ridge fits every reader's likes against all observed papers (target 1 on a like,
    0 elsewhere). A dislike adds, for that reader only, one more observation of the disliked paper
    with target 0, weighted by the dislike's size ``c`` (1 for a "Less like this"). By the Woodbury
    identity the reader's weights become ``w - P X_D' b`` with
    ``b = (diag(1/c) + X_D P X_D')^-1 X_D w`` (``X_D`` the disliked papers' rows,
    ``P = (X'X + lam I)^-1``, ``w`` the likes-only weights): the model is pulled towards 0 on
    the disliked papers in proportion to how much the likes favoured them, and so are papers
    like them. ``b`` is clipped at 0: a dislike never raises what the likes scored below zero.
    Measured against a target of -1 (which undid the likes of readers whose digests hold one hit
    and a dislike next to their own topic) in ``benchmarks/bench_sim_proxy.py``.

    ``neg`` holds each reader's dislike sizes ``c > 0`` (one row per reader, columns: paper
    indices, sorted);
    ``coords`` are the rows ``X_U P`` of the union ``U = unique(neg.indices)`` (or ``X_U V`` in an
    eigenbasis, with the readers' inverse eigenvalues ``inv``), ``known`` the rows ``X_U`` in the
    same basis, and ``profile`` the readers' likes-only ``Y X`` (rotated when ``inv`` is given).
    Returns each reader's correction in that basis: the scores drop by ``corr @ x_cand'``.
    """
    union = np.unique(neg.indices)
    corr = np.zeros((neg.shape[0], coords.shape[1]), dtype=np.float32)
    for i in range(neg.shape[0]):
        d = np.searchsorted(union, neg.indices[neg.indptr[i]:neg.indptr[i + 1]])
        q = coords[d] if inv is None else coords[d] * inv[i]
        gram = q @ known[d].T
        gram[np.diag_indices(len(d))] += 1.0 / neg.data[neg.indptr[i]:neg.indptr[i + 1]]
        b = np.maximum(np.linalg.solve(gram, q @ profile[i]), 0)
        corr[i] = b @ q
    return corr


class FactorMap:
    """Ridge map from paper features to ALS item factors, so unseen papers get factors.

    Parameters
    ----------
    alpha : float
        Regularisation relative to the mean non-zero eigenvalue of ``X'X`` (:func:`ridge_lambda`).
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, x_observed: Any, item_factors: np.ndarray,
            solver: RidgeSolver | None = None) -> FactorMap:
        """Fit ``M`` with ``X M ~ V`` over papers that have factors; returns ``self``.

        ``solver``, a :class:`RidgeSolver` of ``x_observed``, lets callers fit many maps cheaply.
        """
        solver = solver or RidgeSolver(x_observed)
        self.map_ = solver.coefficients(self.alpha, item_factors).astype(np.float32)
        return self

    def transform(self, x: Any) -> np.ndarray:
        """Predicted item factors, shape ``(n_papers, n_factors)``."""
        return np.asarray(x @ self.map_, dtype=np.float32)


class NeighbourFactorMap:
    """Place unseen papers in ALS space as the similarity-weighted mean of their nearest seen papers.

    A local alternative to :class:`FactorMap`: the factors of the ``k`` most similar observed
    papers (cosine of the content vectors), weighted by similarity.

    Parameters
    ----------
    k : int
        Neighbours per paper.
    """

    def __init__(self, k: int = 30) -> None:
        self.k = k

    def fit(self, x_observed: Any, item_factors: np.ndarray) -> NeighbourFactorMap:
        """Remember unit-norm observed content and its factors; returns ``self``."""
        self.unit_ = unit_dense(x_observed)
        self.factors_ = np.asarray(item_factors, dtype=np.float32)
        return self

    def transform(self, x: Any) -> np.ndarray:
        """Predicted item factors, shape ``(n_papers, n_factors)``."""
        sim = np.asarray(unit_dense(x) @ self.unit_.T, dtype=np.float32)
        if sim.size == 0:
            return np.zeros((sim.shape[0], self.factors_.shape[1]), dtype=np.float32)
        k = min(self.k, sim.shape[1])
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        w = np.maximum(np.take_along_axis(sim, top, axis=1), 0)
        w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-6)
        return np.einsum("nk,nkf->nf", w, self.factors_[top])

