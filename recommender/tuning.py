"""Choosing the hybrid's hyperparameters on a validation split inside the training data.

Some papers with feedback are held out as if they were a new batch. The content views, their
regularisation and blend weights and the neighbour smoothing are chosen for that *cold* batch;
then a random share of readers is "revealed" on the held-out papers (they reacted early) and the
weights of the collaborative scores are chosen for everyone else. The criterion is
recall@50 + nDCG@10 on the held-out papers. Nothing here is specific to one corpus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from paperdigest.recommender.calibration import CalibrationSample
from paperdigest.recommender.collab import neighbour_graph, unit_rows
from paperdigest.recommender.content import (
    FactorMap,
    NeighbourFactorMap,
    RidgeView,
    lead_view,
    map_view,
    zscore_rows,
)
from paperdigest.recommender.metrics import ranking_metrics
from sklearn.preprocessing import normalize

__all__ = ["MAP_VIEW", "POP_VIEW", "BlendParams", "popularity_target", "tune_blend"]

_ALPHAS = (0.3, 1.0, 3.0)
_SIZE_POWERS = (0.0, 0.5, 1.0)
# Views cheap enough for per-reader regularisation (readers x features stays small).
ADAPTIVE_VIEWS = ("embedding",)
# Name of the "view" that scores papers through ALS factors predicted from content.
MAP_VIEW = "als_map"
# Name of the "view" that places new papers in ALS space by their nearest seen papers.
KNN_MAP_VIEW = "als_knn"
# Name of the "view" that scores papers by how many readers they are predicted to attract.
POP_VIEW = "popularity"
_MAP_NEIGHBOURS = (5, 10, 30, 100)
_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75)
_SMOOTH = (0.0, 0.15, 0.3, 0.45, 0.6)
_COLLAB = (0.0, 0.15, 0.3, 0.5, 0.8, 1.2, 2.0, 3.0)


@dataclass
class BlendParams:
    """Hyperparameters of the hybrid, as chosen by :func:`tune_blend` (or defaults)."""

    alphas: dict[str, float] = field(default_factory=dict)
    size_powers: dict[str, float] = field(default_factory=dict)
    n_ref: float = 10.0
    weights: dict[str, float] = field(default_factory=dict)
    smooth: float = 0.3
    w_knn: float = 0.3
    w_als: float = 0.15
    validation: dict[str, Any] = field(default_factory=dict)


def popularity_target(prefs: sp.csr_matrix) -> np.ndarray:
    """Per paper, ``log(1 + readers who liked it)``: what the popularity view learns to predict."""
    counts = np.asarray((prefs > 0).sum(axis=0), dtype=np.float32).ravel()
    return np.log1p(counts)


def _criterion(scores: np.ndarray, truth: sp.csr_matrix) -> float:
    m = ranking_metrics(scores, truth, ks=(10, 50))
    return m["recall@50"] + m["ndcg@10"]


def _pick(options: Any, scores_of: Callable[[Any], np.ndarray], rows: np.ndarray,
          truth: sp.csr_matrix) -> tuple[float, Any, np.ndarray]:
    """The option whose z-scored validation scores (``rows`` are the evaluated readers) rank best.

    Returns ``(criterion, option, z-scores)``; ties keep the earlier option.
    """
    best: tuple[float, Any, Any] = (-1.0, None, None)
    for option in options:
        z = scores_of(option)
        crit = _criterion(z[rows], truth)
        if crit > best[0]:
            best = (crit, option, z)
    return best


def _smooth(z: np.ndarray, graph: sp.csr_matrix, beta: float, rows: np.ndarray) -> np.ndarray:
    """Mix each reader's z-scores with their neighbours' (``graph`` columns index ``z`` rows)."""
    mixed = (1 - beta) * z[rows] + beta * np.asarray(graph @ z, dtype=np.float32)
    return zscore_rows(mixed)


def tune_blend(
    prefs: sp.csr_matrix,
    features: dict[str, Any],
    base_view: str,
    rng: np.random.Generator,
    als_factory: Callable[[sp.csr_matrix], Any],
    n_neighbours: int = 50,
    holdout: float = 0.2,
    warm_fraction: float = 0.2,
    max_readers: int = 1500,
    samples: list[CalibrationSample] | None = None,
) -> BlendParams:
    """Pick view regularisation, view weights, smoothing and collaborative weights.

    Parameters
    ----------
    prefs : csr_matrix, shape (n_readers, n_papers)
        Interaction values (likes > 0, dislikes < 0).
    features : dict of str to matrix
        Per view, the ``(n_papers, n_features)`` paper features.
    base_view : str
        Preferred lead view when two views validate equally well.
    rng : numpy Generator
        Source of the validation split.
    als_factory : callable
        Fits ALS on a preference matrix (so tuning and the final fit share settings).
    holdout, warm_fraction : float
        Share of papers held out, and of readers revealed on them for the warm check.
    max_readers : int
        Readers scored on validation (a random sample when there are more).
    samples : list, optional
        Receives a :class:`CalibrationSample` of the chosen blend's validation scores on the cold
        batch and, when the warm check runs, one of the warm scores of the unrevealed readers.

    Returns
    -------
    BlendParams
    """
    prefs = prefs.tocsr()
    n_readers, n_papers = prefs.shape
    positive = (prefs > 0).astype(np.float32).tocsc()
    observed = np.flatnonzero(np.diff(abs(prefs).tocsc().indptr) > 0)
    val = np.sort(rng.choice(observed, size=max(1, int(len(observed) * holdout)), replace=False))
    keep = np.ones(n_papers, dtype=bool)
    keep[val] = False
    train = prefs @ sp.diags(keep.astype(np.float32))
    train = sp.csr_matrix(train)
    train.eliminate_zeros()
    truth_all = positive[:, val].tocsr()
    has_train = np.diff((train > 0).tocsr().indptr) > 0
    eligible = np.flatnonzero(has_train & (np.diff(truth_all.indptr) > 0))
    if len(eligible) < 5:
        return BlendParams()
    readers = np.sort(rng.permutation(eligible)[:max_readers])
    unit = unit_rows(train)
    graph_small = neighbour_graph(unit, n_neighbours, rows=readers)
    # Scores are needed for the sampled readers and for their neighbours (smoothing).
    needed = np.union1d(readers, graph_small.indices)
    pos_in_needed = np.searchsorted(needed, readers)
    graph = sp.csr_matrix(graph_small[:, needed])
    truth = truth_all[readers]
    obs_train = np.intersect1d(observed, np.flatnonzero(keep))
    params = BlendParams(validation={"papers": len(val), "readers": len(readers)})
    counts = np.diff(train.indptr)
    params.n_ref = float(np.median(counts[counts > 0]))

    zs: dict[str, np.ndarray] = {}
    for name, x in features.items():
        gram_x = x[obs_train]
        gram = gram_x.T @ gram_x
        gram = np.asarray(gram.toarray() if sp.issparse(gram) else gram, dtype=np.float64)
        powers = _SIZE_POWERS if name in ADAPTIVE_VIEWS else (0.0,)

        def view_scores(option: tuple[float, float]) -> np.ndarray:
            view = RidgeView(name, option[0], option[1], params.n_ref).fit_gram(gram, len(obs_train))  # noqa: B023
            return zscore_rows(view.scores(train[needed], x, x[val]))  # noqa: B023 (called at once)

        crit, (params.alphas[name], params.size_powers[name]), zs[name] = _pick(
            [(a, p) for a in _ALPHAS for p in powers], view_scores, pos_in_needed, truth)
        params.validation[f"view:{name}"] = round(crit, 4)

    # ALS on the training part, with content maps placing the held-out papers in its space: a
    # ridge from the map view's features, and the mean of the nearest seen papers' factors.
    x = features[map_view(features)]
    knn_view = lead_view(features)
    als = als_factory(train)
    users = np.asarray(als.user_factors)[needed]
    item_factors = np.asarray(als.item_factors)[obs_train]
    # Popularity predicted from content (the same score for every reader): among equally
    # relevant papers, those resembling widely saved ones tend to be saved more. Fitted on the
    # observed training papers only, so papers nobody has seen never count as unpopular.
    target = popularity_target(train)[obs_train][:, None]

    def ridge_map(alpha: float) -> np.ndarray:
        fmap = FactorMap(alpha).fit(x[obs_train], item_factors)
        return zscore_rows(users @ fmap.transform(x[val]).T)

    def nearest_map(k: int) -> np.ndarray:
        fmap = NeighbourFactorMap(k).fit(features[knn_view][obs_train], item_factors)
        return zscore_rows(users @ fmap.transform(features[knn_view][val]).T)

    def popularity(alpha: float) -> np.ndarray:
        pred = FactorMap(alpha).fit(x[obs_train], target).transform(x[val]).reshape(1, -1)
        return np.broadcast_to(zscore_rows(pred), (len(needed), len(val)))

    for name, options, scores_of in ((MAP_VIEW, _ALPHAS, ridge_map),
                                     (KNN_MAP_VIEW, _MAP_NEIGHBOURS, nearest_map),
                                     (POP_VIEW, _ALPHAS, popularity)):
        crit, params.alphas[name], zs[name] = _pick(options, scores_of, pos_in_needed, truth)
        params.validation[f"view:{name}"] = round(crit, 4)

    # The best single view leads (weight 1); the others join greedily, best first, if they help.
    crits = {name: params.validation[f"view:{name}"] for name in zs}
    lead = max(zs, key=lambda n: (crits[n], n == base_view))
    weights = {name: (1.0 if name == lead else 0.0) for name in zs}
    blend = zs[lead].copy()
    for name in sorted(zs, key=lambda n: -crits[n]):
        if name == lead:
            continue
        trials = [(w, _criterion((blend + w * zs[name])[pos_in_needed], truth)) for w in _WEIGHTS]
        weights[name] = max(trials, key=lambda t: t[1])[0]
        blend = blend + weights[name] * zs[name]
    params.weights = weights
    blend = zscore_rows(blend)

    # Smoothing needs the neighbours' scores: graph columns index ``needed``.
    smooth_trials = [(b, _criterion(_smooth(blend, graph, b, pos_in_needed), truth)) for b in _SMOOTH]
    params.smooth, cold = max(smooth_trials, key=lambda t: t[1])
    params.validation["cold"] = round(cold, 4)
    content = _smooth(blend, graph, params.smooth, pos_in_needed)
    likes = np.diff((train[readers] > 0).tocsr().indptr)
    if samples is not None:
        # Sparse x sparse for TF-IDF: a dense 1500 x 4000 x 3400 product would cost seconds.
        sim = _profiles((train[readers] > 0).astype(np.float32), features[knn_view]) @ normalize(
            features[knn_view][val]).T
        similarity = np.asarray(sim.toarray() if sp.issparse(sim) else sim, dtype=np.float32)
        # A fixed seed: drawing from ``rng`` here would change the warm split chosen below.
        samples.append(CalibrationSample(content, similarity, likes, truth.toarray() > 0, random_state=0))

    # Warm check: a share of readers has reacted to the held-out papers already.
    warm = rng.random(n_readers) < warm_fraction
    revealed = sp.diags(warm.astype(np.float32)) @ positive[:, val].tocsr()
    full = sp.hstack([train, revealed]).tocsr()
    cold_readers = ~warm[readers]
    if cold_readers.sum() < 5 or revealed.nnz == 0:
        return params
    unit_full = unit_rows(full)
    graph_w = neighbour_graph(unit_full, n_neighbours, rows=readers)
    knn = zscore_rows(np.asarray(graph_w @ revealed.toarray(), dtype=np.float32))
    als = als_factory(full)
    user_f = np.asarray(als.user_factors)[readers]
    item_f = np.asarray(als.item_factors)[n_papers:]
    als_z = zscore_rows(user_f @ item_f.T)
    sel = np.flatnonzero(cold_readers)
    t_sel = truth[sel]
    best = (-1.0, 0.0, 0.0)
    for wk in _COLLAB:
        for wa in _COLLAB:
            crit = _criterion(content[sel] + wk * knn[sel] + wa * als_z[sel], t_sel)
            if crit > best[0]:
                best = (crit, wk, wa)
    params.validation["warm"] = round(best[0], 4)
    params.w_knn, params.w_als = best[1], best[2]
    if samples is not None:
        warm_scores = content[sel] + best[1] * knn[sel] + best[2] * als_z[sel]
        samples.append(CalibrationSample(warm_scores, similarity[sel], likes[sel], t_sel.toarray() > 0,
                                         random_state=1))
    return params


def _profiles(likes: sp.csr_matrix, vectors: Any) -> Any:
    """Unit-norm centres of each row's liked papers (sparse stays sparse)."""
    return normalize(likes @ vectors)
