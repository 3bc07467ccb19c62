"""Turning blended scores into the probability that a reader likes a paper.

Blended scores are per-reader z-scores: they rank one reader's candidates but say nothing absolute
(the best paper of a batch of off-topic papers still gets a high z-score). The calibrator therefore
reads three features per (reader, paper) pair:

- ``score``: the blended score (where the paper stands in this batch, for this reader);
- ``similarity``: cosine between the paper and the centre of the reader's likes (for readers
  without likes: their best keyword), an absolute measure a weak batch cannot inflate;
- ``log1p(likes)``: how much the model knows about the reader (and how much they save).

A logistic regression on those (Platt scaling with two extra inputs) is fitted on the validation
split inside ``fit``: held-out papers scored for readers who never saw them, labelled by whether
the reader saved them. When enough positives exist, an isotonic regression on the logistic's
log-odds then corrects its shape (the top of the ranking is often likelier than a logistic
curve says). Corpora too small for that split are calibrated by leaving each like out in turn
(:func:`leave_one_out_sample`); with no reader holding two likes there is nothing to learn from,
and every probability is NaN (a threshold then cuts nothing). ``source_`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CalibrationSample",
    "Calibrator",
    "check_threshold",
    "expected_calibration_error",
    "leave_one_out_sample",
    "profile_similarity",
    "reliability_bins",
]

# Unliked pairs kept per sample (all liked pairs are kept; the unliked ones are re-weighted).
_MAX_NEGATIVES = 200_000
# Below this many positives the isotonic step would follow noise: logistic only.
_MIN_ISOTONIC_POSITIVES = 50


class CalibrationSample:
    """Validation pairs of one scoring situation: every liked pair and a weighted share of the rest.

    Parameters
    ----------
    scores, similarity : ndarray, shape (n_readers, n_papers)
        Blended scores and profile similarities of held-out papers.
    likes : ndarray, shape (n_readers,)
        Each reader's number of likes the model was trained on.
    liked : ndarray of bool, shape (n_readers, n_papers)
        Whether the reader saved the held-out paper.
    max_negatives : int
        Unliked pairs kept (uniformly drawn, weighted up so the base rate stays right).
    random_state : int
        Seed of that draw.
    """

    def __init__(self, scores: np.ndarray, similarity: np.ndarray, likes: np.ndarray,
                 liked: np.ndarray, max_negatives: int = _MAX_NEGATIVES, random_state: int = 0) -> None:
        scores = np.asarray(scores)
        liked = np.asarray(liked, dtype=bool).reshape(-1)
        if liked.size != scores.size or np.shape(similarity) != scores.shape or len(likes) != len(scores):
            raise ValueError("scores, similarity and liked must have one shape, likes one value per row")
        pos, neg = np.flatnonzero(liked), np.flatnonzero(~liked)
        rate = min(1.0, max_negatives / max(len(neg), 1))
        if rate < 1.0:
            neg = np.random.default_rng(random_state).choice(neg, size=max_negatives, replace=False)
        flat = np.concatenate([pos, neg])
        row = flat // max(scores.shape[1], 1)
        self.features = _features(scores.reshape(-1)[flat], np.asarray(similarity).reshape(-1)[flat],
                                  np.asarray(likes)[row])
        self.liked = liked[flat]
        self.index = flat  # flat positions of the kept pairs in ``scores``
        self.weight = np.concatenate([np.ones(len(pos)), np.full(len(neg), 1.0 / rate)])


def _features(scores: Any, similarity: Any, likes: Any) -> np.ndarray:
    """Stack the three inputs as ``(..., 3)``; ``likes`` is per reader (row)."""
    s = np.asarray(scores, dtype=np.float64)
    sim = np.broadcast_to(np.asarray(similarity, dtype=np.float64), s.shape)
    n = np.log1p(np.maximum(np.asarray(likes, dtype=np.float64), 0))
    n = n.reshape(-1, *([1] * (s.ndim - 1))) if s.ndim > 1 else n  # per row, or per pair (1-D)
    return np.stack([s, sim, np.broadcast_to(n, s.shape)], axis=-1)


class Calibrator:
    """Logistic (then isotonic) map from (score, similarity, likes) to a like probability.

    Attributes
    ----------
    coef_ : ndarray, shape (3,)
        Logistic weights of score, similarity and ``log1p(likes)``.
    intercept_ : float
    iso_x_, iso_y_ : ndarray, shape (m,)
        Isotonic knots (log-odds → probability); empty when the isotonic step was skipped.
    source_ : str
        "validation" (held-out batch inside ``fit``), "leave-one-out" (small corpora) or "none".
    n_pairs_, n_positive_ : int
        Size of the fitting sample.
    """

    def __init__(self, C: float = 10.0, random_state: int = 0) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, samples: Sequence[CalibrationSample]) -> Calibrator:
        """Fit on the pooled validation pairs; returns ``self``."""
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        x = np.concatenate([s.features for s in samples])
        y = np.concatenate([s.liked for s in samples])
        weight = np.concatenate([s.weight for s in samples])
        if y.all() or not y.any():
            raise ValueError("calibration needs liked and unliked pairs")
        # More score or more similarity must never lower the probability. When the two are nearly
        # collinear (leave-one-out scores are z-scored similarities) one weight can come out
        # negative; that input is then dropped and the rest refitted.
        used = [0, 1, 2]
        while True:
            logistic = LogisticRegression(C=self.C, max_iter=500).fit(x[:, used], y, sample_weight=weight)
            coef = dict(zip(used, logistic.coef_.ravel(), strict=True))
            negative = [i for i in (0, 1) if i in coef and coef[i] < 0]
            if not negative:
                break
            used.remove(min(negative, key=lambda i: coef[i]))
        self.coef_ = np.array([coef.get(i, 0.0) for i in range(3)], dtype=np.float64)
        self.intercept_ = float(logistic.intercept_[0])
        self.iso_x_ = self.iso_y_ = np.zeros(0)
        if y.sum() >= _MIN_ISOTONIC_POSITIVES:
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(x @ self.coef_ + self.intercept_, y, sample_weight=weight)
            self.iso_x_, self.iso_y_ = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
        self.source_ = "validation"
        self.n_pairs_, self.n_positive_ = round(float(weight.sum())), int(y.sum())
        return self

    def predict(self, scores: Any, similarity: Any, likes: Any) -> np.ndarray:
        """Like probabilities of the shape of ``scores``; ``likes`` has one value per row."""
        if self.source_ == "none":
            return np.full(np.shape(scores), np.nan)
        logit = _features(scores, similarity, likes) @ self.coef_ + self.intercept_
        if len(self.iso_x_):
            return np.interp(logit, self.iso_x_, self.iso_y_)
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able scalars and named arrays (see :mod:`recommender.persist`)."""
        meta = {"C": self.C, "random_state": self.random_state, "intercept": self.intercept_,
                "source": self.source_, "n_pairs": self.n_pairs_, "n_positive": self.n_positive_}
        return meta, {"coef": self.coef_, "iso_x": self.iso_x_, "iso_y": self.iso_y_}

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Calibrator:
        """Rebuild a calibrator written by :meth:`to_state`."""
        cal = cls(C=meta["C"], random_state=meta["random_state"])
        cal.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        cal.intercept_ = float(meta["intercept"])
        cal.iso_x_ = np.asarray(arrays["iso_x"], dtype=np.float64)
        cal.iso_y_ = np.asarray(arrays["iso_y"], dtype=np.float64)
        cal.source_ = str(meta["source"])
        cal.n_pairs_, cal.n_positive_ = int(meta["n_pairs"]), int(meta["n_positive"])
        return cal

    @classmethod
    def uncalibrated(cls) -> Calibrator:
        """A calibrator for models with no liked pairs to learn from: every probability is NaN."""
        cal = cls()
        cal.coef_, cal.intercept_ = np.zeros(3), 0.0
        cal.iso_x_ = cal.iso_y_ = np.zeros(0)
        cal.source_, cal.n_pairs_, cal.n_positive_ = "none", 0, 0
        return cal


def leave_one_out_sample(likes: Any, vectors: Any, papers: np.ndarray | None = None,
                         max_likes: int = 1000, max_papers: int = 5000,
                         random_state: int = 0) -> CalibrationSample | None:
    """Validation pairs for corpora too small for the held-out-batch split (the demo, a new lab).

    Each like of a reader with two or more is held out in turn: the reader's profile is the centre
    of their *other* likes, and the held-out paper (liked) and every paper they did not like
    (unliked) are scored by cosine to it; the score is that cosine z-scored over the papers.
    Returns None when no reader has two likes. At most ``max_likes`` likes are held out and at
    most ``max_papers`` unliked papers drawn per reader, so a large untuned model stays cheap.

    Parameters
    ----------
    likes : sparse matrix of bool, shape (n_readers, n_papers)
    vectors : ndarray or sparse matrix, shape (n_papers, d)
        Unit-norm paper vectors in the similarity view.
    papers : ndarray of int, optional
        Papers that may serve as unliked ones: those someone reacted to (a paper nobody has seen
        yet, e.g. today's batch, is not evidence against anyone). Default: all.
    """
    import scipy.sparse as sp

    likes = sp.csr_matrix(likes, dtype=np.float32)
    readers = np.flatnonzero(np.diff(likes.indptr) >= 2)
    if not len(readers):
        return None
    rng = np.random.default_rng(random_state)
    readers = rng.permutation(readers)
    dense = np.asarray(vectors.toarray() if sp.issparse(vectors) else vectors, dtype=np.float32)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for r in readers:
        liked = likes.indices[likes.indptr[r]:likes.indptr[r + 1]]
        total = dense[liked].sum(axis=0)
        if len(parts) >= max_likes:
            break
        others = np.setdiff1d(np.arange(len(dense)) if papers is None else papers, liked)
        share = 1.0
        if len(others) > max_papers:  # a uniform share of the unliked papers, re-weighted below
            share = len(others) / max_papers
            others = rng.choice(others, size=max_papers, replace=False)
        for held in liked:
            centre = total - dense[held]
            centre /= max(float(np.linalg.norm(centre)), 1e-12)
            sim = dense[np.concatenate([[held], others])] @ centre
            std = float(sim.std())
            z = (sim - sim.mean()) / (std if std > 1e-6 else np.inf)
            is_held = np.arange(len(sim)) == 0
            parts.append((z, sim, np.full(len(sim), len(liked) - 1), is_held, np.where(is_held, 1.0, share)))
    scores, sim, n, y, w = (np.concatenate([p[i] for p in parts])[None, :] for i in range(5))
    sample = CalibrationSample(scores, sim, np.zeros(1), y, random_state=random_state)
    # Built as one row, so the per-row likes above were a placeholder: each pair has its own count.
    sample.features[:, 2] = np.log1p(n[0][sample.index])
    sample.weight = sample.weight * w[0][sample.index]
    return sample


def check_threshold(threshold: float | None) -> None:
    """Raise ``ValueError`` unless ``threshold`` is None or a probability in [0, 1]."""
    if threshold is None:
        return
    if not isinstance(threshold, int | float) or not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold is a like probability and must be in [0, 1], got {threshold!r}")


def reliability_bins(prob: np.ndarray, outcome: np.ndarray, bins: int = 10) -> dict[str, np.ndarray]:
    """Per probability bin (equal width on [0, 1]): pairs, mean predicted, observed like rate.

    Returns arrays ``count``, ``predicted``, ``observed`` of shape ``(bins,)`` (NaN where empty)
    and ``edges`` of shape ``(bins + 1,)``.
    """
    p = np.asarray(prob, dtype=np.float64).ravel()
    y = np.asarray(outcome, dtype=np.float64).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(which, weights=p, minlength=bins) / count
        observed = np.bincount(which, weights=y, minlength=bins) / count
    return {"edges": edges, "count": count, "predicted": predicted, "observed": observed}


def expected_calibration_error(prob: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """ECE: the pair-weighted mean of |observed like rate − mean probability| over the bins."""
    table = reliability_bins(prob, outcome, bins)
    used = table["count"] > 0
    gap = np.abs(table["observed"][used] - table["predicted"][used])
    return float((table["count"][used] * gap).sum() / max(table["count"].sum(), 1.0))


def profile_similarity(profiles: Any, cand_unit: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
    """Cosine between each reader's unit profile and candidates.

    Parameters
    ----------
    profiles : ndarray or sparse matrix, shape (n_readers, d)
        Unit-norm reader profiles (zero rows for readers the model knows nothing about).
    cand_unit : ndarray, shape (n_candidates, d)
        Unit-norm candidates.
    cols : ndarray of int, shape (n_readers, m), optional
        Only these candidates per reader (a short list: cheap for 100k candidates); all when None.

    Returns
    -------
    ndarray of float32, shape (n_readers, m) or (n_readers, n_candidates)
    """
    n, d = profiles.shape
    width = cand_unit.shape[0] if cols is None else cols.shape[1]
    # Dense blocks of readers keep memory bounded (TF-IDF profiles are 4000 wide): ~16M floats
    # in the profile block, the gathered candidates or the block's scores, whichever is largest.
    per_row = d * (width if cols is not None else 1) + cand_unit.shape[0]
    chunk = max(1, 16_000_000 // max(1, per_row))
    out = np.zeros((n, width), dtype=np.float32)
    for start in range(0, n, chunk):
        block = profiles[start:start + chunk]
        block = np.asarray(block.toarray() if hasattr(block, "toarray") else block, dtype=np.float32)
        if cols is None:
            out[start:start + chunk] = block @ cand_unit.T
        elif cand_unit.shape[0] <= 10 * width:  # few candidates: one BLAS product beats a gather
            full = block @ cand_unit.T
            out[start:start + chunk] = np.take_along_axis(full, cols[start:start + chunk], axis=1)
        else:
            out[start:start + chunk] = np.einsum("rd,rmd->rm", block, cand_unit[cols[start:start + chunk]])
    return out
