"""Baseline rankers the hybrid is measured against; same ``fit`` / ``score`` / ``rank`` contract.

Each baseline reads likes only (positive values) and scores candidates that may be unseen.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from paperdigest.recommender.collab import fit_als
from paperdigest.recommender.content import RidgeView, ridge_lambda
from paperdigest.recommender.data import (
    Recommendation,
    clean_interactions,
    clean_papers,
    paper_texts,
    preference_matrix,
)
from paperdigest.recommender.errors import InputError, NotFittedError
from paperdigest.recommender.text import TfidfEncoder, make_encoder
from sklearn.preprocessing import normalize

__all__ = [
    "BASELINES",
    "ALSContentMap",
    "BaselineRanker",
    "EmbeddingSimilarity",
    "LightFMRanker",
    "LogisticEmbedding",
    "PlainALS",
    "RandomRanker",
    "RidgeEmbedding",
    "Rocchio",
    "TfidfSVM",
]


class BaselineRanker:
    """Shared plumbing: indexes, the like matrix, and ``rank`` built on ``score``."""

    label = "baseline"

    def __init__(self, random_state: int = 0, cache_dir: Any = None) -> None:
        self.random_state = random_state
        self.cache_dir = cache_dir

    def fit(self, papers: pd.DataFrame, interactions: pd.DataFrame) -> BaselineRanker:
        """Index papers and likes, then call :meth:`_fit`. Returns ``self``."""
        self.papers_ = clean_papers(papers)
        inter = clean_interactions(interactions)
        inter = inter[inter["value"] > 0]
        self.paper_index_ = {p: i for i, p in enumerate(self.papers_["id"])}
        unknown = ~inter["paper"].isin(self.paper_index_)
        if unknown.any():
            raise InputError(f"interactions refer to unknown paper id {inter['paper'][unknown].iloc[0]!r}")
        self.reader_index_ = {r: i for i, r in enumerate(dict.fromkeys(inter["reader"]))}
        likes = preference_matrix(inter, self.reader_index_, self.paper_index_)
        likes.data[:] = 1.0
        self.likes_ = likes
        self._fit(paper_texts(self.papers_))
        return self

    def _fit(self, texts: list[str]) -> None:
        """Learn the method's state from paper texts and ``self.likes_``."""

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def score(self, readers: Sequence[str], candidates: pd.DataFrame) -> np.ndarray:
        """Scores ``(len(readers), n_candidates)``; readers without likes get zeros."""
        if not hasattr(self, "likes_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")
        cands = clean_papers(candidates, "candidates")
        rows = np.array([self.reader_index_.get(str(r), -1) for r in readers], dtype=np.int64)
        out = np.zeros((len(rows), len(cands)), dtype=np.float32)
        ok = rows >= 0
        if ok.any() and len(cands):
            out[ok] = self._score_known(rows[ok], paper_texts(cands), cands)
        return out

    def rank(
        self,
        readers: Sequence[str],
        candidates: pd.DataFrame,
        k: int = 10,
        exclude: Mapping[str, set[str]] | None = None,
    ) -> dict[str, list[Recommendation]]:
        """Top ``k`` candidates per reader, best first, minus liked and ``exclude`` papers."""
        readers = [str(r) for r in dict.fromkeys(readers)]
        cands = clean_papers(candidates, "candidates")
        scores = self.score(readers, cands).astype(np.float64)
        ids = cands["id"].tolist()
        out: dict[str, list[Recommendation]] = {}
        for i, reader in enumerate(readers):
            s = scores[i]
            banned = set(exclude.get(reader, ())) if exclude else set()
            r = self.reader_index_.get(reader)
            if r is not None:
                liked = self.likes_.indices[self.likes_.indptr[r] : self.likes_.indptr[r + 1]]
                banned |= {self.papers_["id"].iat[c] for c in liked}
            mask = np.array([p not in banned for p in ids], dtype=bool)
            order = [j for j in np.argsort(-s, kind="stable") if mask[j]][:k]
            out[reader] = [Recommendation(ids[j], float(s[j]), self.label) for j in order]
        return out


class RandomRanker(BaselineRanker):
    """Uniformly random scores (a floor for every metric)."""

    label = "random"

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        rng = np.random.default_rng(self.random_state)
        return rng.random((len(rows), len(texts))).astype(np.float32)


class Rocchio(BaselineRanker):
    """Cosine between a candidate and the mean TF-IDF vector of the reader's likes."""

    label = "rocchio"

    def _fit(self, texts: list[str]) -> None:
        self.tfidf_ = TfidfEncoder(max_features=200_000).fit(texts)
        self.profiles_ = normalize(self.likes_ @ self.tfidf_.transform(texts))

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        return np.asarray((self.profiles_[rows] @ self.tfidf_.transform(texts).T).toarray())


class TfidfSVM(BaselineRanker):
    """Per-reader linear SVM over TF-IDF, balanced classes, other papers as negatives."""

    label = "tfidf-svm"

    def _fit(self, texts: list[str]) -> None:
        self.tfidf_ = TfidfEncoder(max_features=200_000).fit(texts)
        self.x_ = self.tfidf_.transform(texts)

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        from sklearn.svm import LinearSVC

        xc = self.tfidf_.transform(texts)
        out = np.zeros((len(rows), xc.shape[0]), dtype=np.float32)
        for i, r in enumerate(rows):
            y = np.zeros(self.x_.shape[0])
            y[self.likes_.indices[self.likes_.indptr[r] : self.likes_.indptr[r + 1]]] = 1
            if y.sum() == len(y):
                continue
            clf = LinearSVC(class_weight="balanced", C=0.01, max_iter=10_000, tol=1e-6)
            out[i] = clf.fit(self.x_, y).decision_function(xc)
        return out


class _EmbeddingBase(BaselineRanker):
    def _fit(self, texts: list[str]) -> None:
        self.encoder_ = make_encoder("embedding", self.cache_dir)
        self.x_ = self.encoder_.transform(texts)


class EmbeddingSimilarity(_EmbeddingBase):
    """Mean cosine similarity to the reader's liked papers (zotero-arxiv-daily)."""

    label = "embedding-similarity"

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        mean = normalize(self.likes_[rows], norm="l1") @ self.x_
        return np.asarray(mean @ self.encoder_.transform(texts).T)


class LogisticEmbedding(_EmbeddingBase):
    """Per-reader logistic regression on embeddings with balanced classes (Scholar Inbox)."""

    label = "embedding-logreg"

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        xc = self.encoder_.transform(texts)
        out = np.zeros((len(rows), len(texts)), dtype=np.float32)
        for i, r in enumerate(rows):
            y = np.zeros(self.x_.shape[0])
            y[self.likes_.indices[self.likes_.indptr[r] : self.likes_.indptr[r + 1]]] = 1
            if y.sum() == len(y):
                continue
            clf = LogisticRegression(class_weight="balanced", max_iter=500)
            out[i] = clf.fit(self.x_, y).decision_function(xc)
        return out


class RidgeEmbedding(_EmbeddingBase):
    """Per-reader ridge regression on embeddings, all readers in one closed-form solve."""

    label = "embedding-ridge"

    def _fit(self, texts: list[str]) -> None:
        super()._fit(texts)
        self.view_ = RidgeView("embedding", alpha=1.0).fit(self.x_)

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        return self.view_.scores(self.likes_[rows], self.x_, self.encoder_.transform(texts))


class ALSContentMap(_EmbeddingBase):
    """Implicit ALS; a ridge map from content to item factors places unseen papers."""

    label = "als-content-map"

    def _fit(self, texts: list[str]) -> None:
        super()._fit(texts)
        self.als_ = fit_als(self.likes_, random_state=self.random_state)
        x = self.x_
        gram = x.T @ x
        a = gram + ridge_lambda(gram, 1.0) * np.eye(x.shape[1], dtype=np.float32)
        self.map_ = np.linalg.solve(a, x.T @ np.asarray(self.als_.item_factors))

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        item_f = self.encoder_.transform(texts) @ self.map_
        return np.asarray(self.als_.user_factors)[rows] @ item_f.T


class PlainALS(BaselineRanker):
    """Implicit ALS alone; papers without training feedback score 0 (warm mode only)."""

    label = "als"

    def _fit(self, texts: list[str]) -> None:
        self.als_ = fit_als(self.likes_, random_state=self.random_state)

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        cols = np.array([self.paper_index_.get(p, -1) for p in cands["id"]])
        item_f = np.zeros((len(cols), self.als_.factors), dtype=np.float32)
        item_f[cols >= 0] = np.asarray(self.als_.item_factors)[cols[cols >= 0]]
        return np.asarray(self.als_.user_factors)[rows] @ item_f.T


class LightFMRanker(BaselineRanker):
    """LightFM (WARP loss) with TF-IDF item features only, so unseen papers get vectors."""

    label = "lightfm"

    def _fit(self, texts: list[str]) -> None:
        from lightfm import LightFM

        self.tfidf_ = TfidfEncoder(max_features=20_000).fit(texts)
        feats = normalize(self.tfidf_.transform(texts)).tocsr()
        self.model_ = LightFM(loss="warp", no_components=64, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_.fit(sp.coo_matrix(self.likes_), item_features=feats, epochs=20, num_threads=2)

    def _score_known(self, rows: np.ndarray, texts: list[str], cands: pd.DataFrame) -> np.ndarray:
        feats = normalize(self.tfidf_.transform(texts)).astype(np.float32)
        item_repr = np.asarray(feats @ self.model_.item_embeddings)
        item_bias = np.asarray(feats @ self.model_.item_biases).ravel()
        users = self.model_.user_embeddings[rows]
        return users @ item_repr.T + item_bias[None, :]


BASELINES: dict[str, type[BaselineRanker]] = {
    "random": RandomRanker,
    "rocchio-tfidf": Rocchio,
    "svm-tfidf": TfidfSVM,
    "embedding-similarity": EmbeddingSimilarity,
    "logreg-embedding": LogisticEmbedding,
    "ridge-embedding": RidgeEmbedding,
    "als-content-map": ALSContentMap,
    "lightfm-tfidf": LightFMRanker,
    "als": PlainALS,
}
