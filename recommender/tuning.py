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
    RidgeSolver,
    RidgeView,
    gram_matrix,
    lead_view,
    map_view,
    zscore_rows,
)
from paperdigest.recommender.metrics import ranking_metrics
from sklearn.preprocessing import normalize

__all__ = ["MAP_VIEW", "POP_VIEW", "BlendParams", "popularity_target", "tune_blend"]

_ALPHAS = (0.3, 1.0, 3.0)
# A view with fewer observed papers than features (a young store: 1,000 liked papers, 4,000 TF-IDF
# terms) reaches further: there the validation split keeps asking for more shrinkage (towards mean
# similarity to the likes). A full-rank view keeps the short grid: each extra alpha is one more
# features-sized solve per view, and on citeulike-a the long grid cost the fit 12 s (45 -> 61 s)
# for no gain on the cold validation criterion (0.855 -> 0.853).
_VIEW_ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# Held-out likes below which the validation criterion is averaged over more disjoint splits.
MIN_VALIDATION_LIKES = 2000
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


@dataclass
class _Fold:
    """One validation split: held-out papers ``val`` and what scoring them needs."""

    val: np.ndarray
    train: sp.csr_matrix
    obs_train: np.ndarray
    readers: np.ndarray  # evaluated readers (model rows)
    needed: np.ndarray  # readers whose scores are needed: the evaluated ones and their neighbours
    pos: np.ndarray  # position of each evaluated reader in ``needed``
    graph: sp.csr_matrix  # (len(readers), len(needed)) neighbour weights
    truth: sp.csr_matrix  # (len(readers), len(val)) held-out likes


def _fold(prefs: sp.csr_matrix, positive: sp.csc_matrix, observed: np.ndarray, val: np.ndarray,
          rng: np.random.Generator, n_neighbours: int, max_readers: int) -> _Fold | None:
    """The split holding out ``val``; None when fewer than 5 readers can be evaluated on it."""
    keep = np.ones(prefs.shape[1], dtype=bool)
    keep[val] = False
    train = sp.csr_matrix(prefs @ sp.diags(keep.astype(np.float32)))
    train.eliminate_zeros()
    truth_all = positive[:, val].tocsr()
    has_train = np.diff((train > 0).tocsr().indptr) > 0
    eligible = np.flatnonzero(has_train & (np.diff(truth_all.indptr) > 0))
    if len(eligible) < 5:
        return None
    readers = np.sort(rng.permutation(eligible)[:max_readers])
    graph_small = neighbour_graph(unit_rows(train), n_neighbours, rows=readers)
    needed = np.union1d(readers, graph_small.indices)
    return _Fold(val, train, np.intersect1d(observed, np.flatnonzero(keep)), readers, needed,
                 np.searchsorted(needed, readers), sp.csr_matrix(graph_small[:, needed]), truth_all[readers])


def _n_folds(positive: sp.csc_matrix, observed: np.ndarray, n_val: int, holdout: float) -> int:
    """Disjoint validation splits to use: one when it holds enough likes, else up to ``1 / holdout``.

    With a young store (200 readers with 5 likes each: about 200 held-out likes in one split) one
    split cannot tell options apart; averaging the criterion over more disjoint splits can.
    """
    likes_per_paper = positive.nnz / max(len(observed), 1)
    wanted = int(np.ceil(MIN_VALIDATION_LIKES / max(n_val * likes_per_paper, 1.0)))
    return int(max(1, min(wanted, round(1 / holdout), len(observed) // max(n_val, 1))))


def _mean_criterion(zs: list[np.ndarray], folds: list[_Fold]) -> float:
    return float(np.mean([_criterion(z[f.pos], f.truth) for z, f in zip(zs, folds, strict=True)]))


def _pick(options: Any, scores_of: Callable[[Any], list[np.ndarray]],
          folds: list[_Fold]) -> tuple[float, Any, list[np.ndarray]]:
    """The option whose z-scored validation scores (one array per fold) rank best on average.

    Returns ``(criterion, option, z-scores per fold)``; ties keep the earlier option.
    """
    best: tuple[float, Any, Any] = (-1.0, None, None)
    for option in options:
        zs = scores_of(option)
        crit = _mean_criterion(zs, folds)
        if crit > best[0]:
            best = (crit, option, zs)
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
        When one held-out share holds fewer than :data:`MIN_VALIDATION_LIKES` likes, up to
        ``1 / holdout`` disjoint shares are held out in turn and every criterion is their mean.
    max_readers : int
        Readers scored on validation (a random sample when there are more).
    samples : list, optional
        Receives a :class:`CalibrationSample` of the chosen blend's validation scores on the cold
        batch and, when the warm check runs, one of the warm scores of the unrevealed readers
        (both of the first split).

    Returns
    -------
    BlendParams
    """
    prefs = prefs.tocsr()
    n_readers, n_papers = prefs.shape
    positive = (prefs > 0).astype(np.float32).tocsc()
    observed = np.flatnonzero(np.diff(abs(prefs).tocsc().indptr) > 0)
    n_val = max(1, int(len(observed) * holdout))
    vals = [np.sort(rng.choice(observed, size=n_val, replace=False))]
    rest = np.setdiff1d(observed, vals[0])
    for _ in range(1, _n_folds(positive, observed, n_val, holdout)):
        vals.append(np.sort(rng.choice(rest, size=min(n_val, len(rest)), replace=False)))
        rest = np.setdiff1d(rest, vals[-1])
    first = _fold(prefs, positive, observed, vals[0], rng, n_neighbours, max_readers)
    if first is None:
        return BlendParams()
    folds = [first] + [f for v in vals[1:]
                       if (f := _fold(prefs, positive, observed, v, rng, n_neighbours, max_readers))]
    params = BlendParams(validation={"papers": len(first.val), "readers": len(first.readers),
                                     "folds": len(folds)})
    counts = np.diff(first.train.indptr)
    params.n_ref = float(np.median(counts[counts > 0]))

    zs: dict[str, list[np.ndarray]] = {}
    solvers: dict[str, list[RidgeSolver]] = {}
    for name, x in features.items():
        powers = _SIZE_POWERS if name in ADAPTIVE_VIEWS else (0.0,)
        solvers[name] = [RidgeSolver(x[f.obs_train]) for f in folds]
        grams = [gram_matrix(x[f.obs_train]) for f in folds] if any(powers) else []
        # Likes are the targets; a dislike is an observed zero at serving time (RidgeView.scores),
        # which the shared-solver path here does not model, so neither path counts dislikes.
        likes = [f.train[f.needed].maximum(0) for f in folds]
        profiles = [t @ x for t in likes]

        def view_scores(option: tuple[float, float]) -> list[np.ndarray]:
            alpha, power = option
            if not power:
                return [zscore_rows(s.scores(alpha, prof, x[f.val]))  # noqa: B023 (called at once)
                        for s, prof, f in zip(solvers[name], profiles, folds, strict=True)]  # noqa: B023
            out = []
            for gram, f, t in zip(grams, folds, likes, strict=True):  # noqa: B023
                view = RidgeView(name, alpha, power, params.n_ref).fit_gram(gram, len(f.obs_train))  # noqa: B023
                out.append(zscore_rows(view.scores(t, x, x[f.val])))  # noqa: B023
            return out

        alphas = _VIEW_ALPHAS if solvers[name][0].dual else _ALPHAS
        crit, (params.alphas[name], params.size_powers[name]), zs[name] = _pick(
            [(a, p) for a in alphas for p in powers], view_scores, folds)
        params.validation[f"view:{name}"] = round(crit, 4)

    # ALS on the training part, with content maps placing the held-out papers in its space: a
    # ridge from the map view's features, and the mean of the nearest seen papers' factors.
    mv = map_view(features)
    x = features[mv]
    knn_view = lead_view(features)
    map_solvers = solvers.get(mv) or [RidgeSolver(x[f.obs_train]) for f in folds]
    users, item_factors, targets = [], [], []
    for f in folds:
        als = als_factory(f.train)
        users.append(np.asarray(als.user_factors)[f.needed])
        item_factors.append(np.asarray(als.item_factors)[f.obs_train])
        # Popularity predicted from content (the same score for every reader): among equally
        # relevant papers, those resembling widely saved ones tend to be saved more. Fitted on the
        # observed training papers only, so papers nobody has seen never count as unpopular.
        targets.append(popularity_target(f.train)[f.obs_train][:, None])

    def ridge_map(alpha: float) -> list[np.ndarray]:
        return [zscore_rows(u @ FactorMap(alpha).fit(x[f.obs_train], v, solver=s).transform(x[f.val]).T)
                for u, v, s, f in zip(users, item_factors, map_solvers, folds, strict=True)]

    def nearest_map(k: int) -> list[np.ndarray]:
        return [zscore_rows(u @ NeighbourFactorMap(k).fit(features[knn_view][f.obs_train], v)
                            .transform(features[knn_view][f.val]).T)
                for u, v, f in zip(users, item_factors, folds, strict=True)]

    def popularity(alpha: float) -> list[np.ndarray]:
        out = []
        for t, s, f in zip(targets, map_solvers, folds, strict=True):
            pred = FactorMap(alpha).fit(x[f.obs_train], t, solver=s).transform(x[f.val]).reshape(1, -1)
            out.append(np.broadcast_to(zscore_rows(pred), (len(f.needed), len(f.val))))
        return out

    for name, options, scores_of in ((MAP_VIEW, _ALPHAS, ridge_map),
                                     (KNN_MAP_VIEW, _MAP_NEIGHBOURS, nearest_map),
                                     (POP_VIEW, _ALPHAS, popularity)):
        crit, params.alphas[name], zs[name] = _pick(options, scores_of, folds)
        params.validation[f"view:{name}"] = round(crit, 4)

    # The best single view leads (weight 1); the others join greedily, best first, if they help.
    crits = {name: params.validation[f"view:{name}"] for name in zs}
    lead = max(zs, key=lambda n: (crits[n], n == base_view))
    weights = {name: (1.0 if name == lead else 0.0) for name in zs}
    blend = [z.copy() for z in zs[lead]]
    for name in sorted(zs, key=lambda n: -crits[n]):
        if name == lead:
            continue
        trials = [(w, _mean_criterion([b + w * z for b, z in zip(blend, zs[name], strict=True)], folds))
                  for w in _WEIGHTS]
        weights[name] = max(trials, key=lambda t: t[1])[0]
        blend = [b + weights[name] * z for b, z in zip(blend, zs[name], strict=True)]
    params.weights = weights
    blend = [zscore_rows(b) for b in blend]

    # Smoothing needs the neighbours' scores: graph columns index ``needed``.
    def smoothed(beta: float) -> list[np.ndarray]:
        return [_smooth(b, f.graph, beta, f.pos) for b, f in zip(blend, folds, strict=True)]

    smooth_trials = [(b, float(np.mean([_criterion(z, f.truth)
                                        for z, f in zip(smoothed(b), folds, strict=True)])))
                     for b in _SMOOTH]
    params.smooth, cold = max(smooth_trials, key=lambda t: t[1])
    params.validation["cold"] = round(cold, 4)
    contents = smoothed(params.smooth)
    f0, content = folds[0], contents[0]
    likes = np.diff((f0.train[f0.readers] > 0).tocsr().indptr)
    if samples is not None:
        # Sparse x sparse for TF-IDF: a dense 1500 x 4000 x 3400 product would cost seconds.
        sim = _profiles((f0.train[f0.readers] > 0).astype(np.float32), features[knn_view]) @ normalize(
            features[knn_view][f0.val]).T
        similarity = np.asarray(sim.toarray() if sp.issparse(sim) else sim, dtype=np.float32)
        # A fixed seed: drawing from ``rng`` here would change the warm split chosen below.
        samples.append(CalibrationSample(content, similarity, likes, f0.truth.toarray() > 0, random_state=0))
        for i, (f, c) in enumerate(zip(folds[1:], contents[1:], strict=True), start=2):
            # Every split's cold scores calibrate: a small store has few held-out likes in each.
            s_f = _profiles((f.train[f.readers] > 0).astype(np.float32), features[knn_view]) @ normalize(
                features[knn_view][f.val]).T
            samples.append(CalibrationSample(
                c, np.asarray(s_f.toarray() if sp.issparse(s_f) else s_f, dtype=np.float32),
                np.diff((f.train[f.readers] > 0).tocsr().indptr), f.truth.toarray() > 0, random_state=i))

    # Warm check: a share of readers has reacted to the held-out papers already.
    warm = rng.random(n_readers) < warm_fraction
    parts = []
    for f, c in zip(folds, contents, strict=True):
        revealed = sp.diags(warm.astype(np.float32)) @ positive[:, f.val].tocsr()
        sel = np.flatnonzero(~warm[f.readers])
        if len(sel) < 5 or revealed.nnz == 0:
            if f is f0:
                return params
            continue
        full = sp.hstack([f.train, revealed]).tocsr()
        graph_w = neighbour_graph(unit_rows(full), n_neighbours, rows=f.readers)
        knn = zscore_rows(np.asarray(graph_w @ revealed.toarray(), dtype=np.float32))
        als = als_factory(full)
        item_f = np.asarray(als.item_factors)[n_papers:]
        als_z = zscore_rows(np.asarray(als.user_factors)[f.readers] @ item_f.T)
        parts.append((c[sel], knn[sel], als_z[sel], f.truth[sel], sel))
    best = (-1.0, 0.0, 0.0)
    for wk in _COLLAB:
        for wa in _COLLAB:
            crit = float(np.mean([_criterion(c + wk * k + wa * a, t) for c, k, a, t, _ in parts]))
            if crit > best[0]:
                best = (crit, wk, wa)
    params.validation["warm"] = round(best[0], 4)
    params.w_knn, params.w_als = best[1], best[2]
    if samples is not None:
        c, k, a, t, sel = parts[0]
        samples.append(CalibrationSample(c + best[1] * k + best[2] * a, similarity[sel], likes[sel],
                                         t.toarray() > 0, random_state=1))
    return params


def _profiles(likes: sp.csr_matrix, vectors: Any) -> Any:
    """Unit-norm centres of each row's liked papers (sparse stays sparse)."""
    return normalize(likes @ vectors)
