"""Baseline policies as rankers: the digest pipeline stays the product's, only the ranking changes.

Each policy satisfies :class:`paperdigest.ranking.model_store.Ranker`. It reads reactions from the
store the way the product's model does (current likes and dislikes, never clicks: see
``store.feedback.trains_model``), folding in only the rows newer than what it saw last, so feedback
pressed an hour ago shapes the next tick as it does for the hybrid.

- ``content``: a per-reader linear SVM on TF-IDF (arxiv-sanity-lite's recipe: the reader's likes
  against other papers, balanced classes, C = 0.01; disliked papers join the negatives and, to keep a
  tick cheap, the other negatives are a fixed sample of 2,000 papers per reader).
- ``embedding``: mean cosine similarity to the reader's liked papers (zotero-arxiv-daily's).
- ``popular``: likes within the day (every candidate is today's), ties broken at random.
- ``random``: uniform.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from paperdigest.recommender import Recommendation
from paperdigest.store import Store
from paperdigest.store.digests import latest_interaction, papers_by_id, recommender_inputs
from paperdigest.store.feedback import interactions_frame

__all__ = ["BASELINE_POLICIES", "POLICIES", "StorePolicy", "make_policy"]

POLICIES = ("hybrid", "content", "embedding", "popular", "random")
BASELINE_POLICIES = POLICIES[1:]
_NEGATIVES = 2000


def _text(title: str, abstract: str) -> str:
    return f"{title}. {abstract}".strip() if abstract else title


class StorePolicy:
    """Shared plumbing: reactions read incrementally from the store, ``rank`` built on ``_scores``."""

    label = "baseline"

    def __init__(self, store: Store, *, random_state: int = 0, content: str = "auto",
                 cache_dir: Any = None) -> None:
        self.store = store
        self.random_state = random_state
        self.content = content
        self.cache_dir = cache_dir
        self._mark = 0
        self.reactions_: dict[str, dict[str, float]] = {}
        self._texts: dict[str, str] = {}

    def _refresh(self) -> set[str]:
        """Fold in reactions newer than the last call; returns the readers whose reactions changed."""
        with self.store.transaction() as session:
            mark = int(latest_interaction(session)[0] or 0)
            fresh = interactions_frame(session, after_id=self._mark) if mark > self._mark else None
            missing = [] if fresh is None else [p for p in set(fresh["paper"]) if p not in self._texts]
            for pid, paper in papers_by_id(session, missing).items():
                self._texts[pid] = _text(paper.title, paper.abstract or "")
        self._mark = max(self._mark, mark)
        if fresh is None:
            return set()
        for reader, paper, kind in zip(fresh["reader"], fresh["paper"], fresh["kind"], strict=True):
            self.reactions_.setdefault(str(reader), {})[paper] = 1.0 if kind == "like" else -1.0
        return {str(r) for r in fresh["reader"]}

    def _corpus_rows(self) -> tuple[list[str], list[str]]:
        """Ids and texts of every paper in the store: the corpus a baseline's vocabulary is fitted on."""
        with self.store.transaction() as session:
            papers, _ = recommender_inputs(session)
            return [p.id for p in papers], [_text(p.title, p.abstract or "") for p in papers]

    def _scores(self, reader: str, ids: list[str], texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _prepare(self, ids: list[str], texts: list[str]) -> None:
        """Per-call work shared by every reader (e.g. encoding the candidates once)."""

    def rank(self, readers: Sequence[str], candidates: pd.DataFrame, k: int = 10,
             exclude: Mapping[str, set[str]] | None = None, threshold: float | None = None,
             diversity: float = 0.0) -> dict[str, list[Recommendation]]:
        """Top ``k`` candidates per reader, minus papers they reacted to or were sent (``exclude``)."""
        self._changed = self._refresh()
        ids = [str(i) for i in candidates["id"]]
        abstracts = candidates["abstract"] if "abstract" in candidates else [""] * len(ids)
        texts = [_text(t, a or "") for t, a in zip(candidates["title"], abstracts, strict=True)]
        self._prepare(ids, texts)
        out: dict[str, list[Recommendation]] = {}
        for reader in dict.fromkeys(str(r) for r in readers):
            banned = set(exclude.get(reader, ())) if exclude else set()
            banned |= set(self.reactions_.get(reader, {}))
            scores = self._scores(reader, ids, texts)
            order = [j for j in np.argsort(-scores, kind="stable") if ids[j] not in banned][:k]
            out[reader] = [Recommendation(ids[j], float(scores[j]), self.label) for j in order]
        return out

    def _tiebreak(self, reader: str, n: int) -> np.ndarray:
        seed = zlib.crc32(f"{self.random_state}:{reader}:{n}".encode())
        return np.random.default_rng(seed).random(n)


class RandomPolicy(StorePolicy):
    label = "random"

    def _scores(self, reader: str, ids: list[str], texts: list[str]) -> np.ndarray:
        return self._tiebreak(reader, len(ids))


class PopularPolicy(StorePolicy):
    """Likes so far on each candidate (all candidates are today's batch): popularity within the day."""

    label = "popular today"

    def _prepare(self, ids: list[str], texts: list[str]) -> None:
        where = {pid: j for j, pid in enumerate(ids)}
        self._likes = np.zeros(len(ids))
        for reacted in self.reactions_.values():
            for pid, value in reacted.items():
                if value > 0 and pid in where:
                    self._likes[where[pid]] += 1

    def _scores(self, reader: str, ids: list[str], texts: list[str]) -> np.ndarray:
        return self._likes + 0.5 * self._tiebreak(reader, len(ids))


class EmbeddingPolicy(StorePolicy):
    """Mean cosine similarity of a candidate to the reader's liked papers."""

    label = "similar to your likes"

    def _encoder(self) -> Any:
        if not hasattr(self, "encoder_"):
            from paperdigest.recommender.text import make_encoder

            # Without sentence-transformers this is TF-IDF, which needs the corpus vocabulary.
            self.encoder_ = make_encoder(self.content, self.cache_dir).fit(self._corpus())
        return self.encoder_

    def _corpus(self) -> list[str]:
        return self._corpus_rows()[1]

    def _vectors(self, texts: list[str]) -> np.ndarray:
        x = self._encoder().transform(texts)
        x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float32)

    def _prepare(self, ids: list[str], texts: list[str]) -> None:
        self._cand = self._vectors(texts)
        self._profiles: dict[str, np.ndarray] = getattr(self, "_profiles", {})
        for reader in self._changed:
            self._profiles.pop(reader, None)

    def _scores(self, reader: str, ids: list[str], texts: list[str]) -> np.ndarray:
        if reader not in self._profiles:
            liked = [p for p, v in self.reactions_.get(reader, {}).items() if v > 0 and p in self._texts]
            if not liked:
                return self._tiebreak(reader, len(ids))
            self._profiles[reader] = self._vectors([self._texts[p] for p in liked]).mean(axis=0)
        return self._cand @ self._profiles[reader]


class ContentPolicy(StorePolicy):
    """Per-reader linear SVM on TF-IDF (arxiv-sanity-lite), refitted when the reader's reactions change."""

    label = "tf-idf svm"

    def _setup(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        corpus_ids, corpus = self._corpus_rows()
        # arxiv-sanity-lite's vectorizer settings: word uni/bigrams, sublinear tf, rare terms cut.
        self.tfidf_ = TfidfVectorizer(ngram_range=(1, 2), max_features=20_000, min_df=2,
                                      sublinear_tf=True, strip_accents="unicode")
        self.x_ = self.tfidf_.fit_transform(corpus)
        self.row_ = {pid: i for i, pid in enumerate(corpus_ids)}
        self.models_: dict[str, Any] = {}

    def _prepare(self, ids: list[str], texts: list[str]) -> None:
        if not hasattr(self, "tfidf_"):
            self._setup()
        self._cand = self.tfidf_.transform(texts)
        for reader in self._changed:
            self.models_.pop(reader, None)

    def _features(self, ids: list[str]) -> Any:
        import scipy.sparse as sp

        known = [self.row_[p] for p in ids if p in self.row_]
        new = [self._texts[p] for p in ids if p not in self.row_ and p in self._texts]
        return sp.vstack([self.x_[known], self.tfidf_.transform(new)]).tocsr() if new else self.x_[known]

    def _scores(self, reader: str, ids: list[str], texts: list[str]) -> np.ndarray:
        import scipy.sparse as sp
        from sklearn.svm import LinearSVC

        if reader not in self.models_:
            reacted = self.reactions_.get(reader, {})
            pos = self._features([p for p, v in reacted.items() if v > 0])
            if pos.shape[0] == 0:
                return self._tiebreak(reader, len(ids))
            neg = self._features([p for p, v in reacted.items() if v < 0])
            rng = np.random.default_rng(zlib.crc32(f"{self.random_state}:{reader}".encode()))
            liked = {self.row_.get(p) for p, v in reacted.items() if v > 0}
            sample = [i for i in rng.choice(self.x_.shape[0], size=min(_NEGATIVES, self.x_.shape[0]),
                                            replace=False) if i not in liked]
            x = sp.vstack([pos, neg, self.x_[sample]]).tocsr()
            y = np.zeros(x.shape[0])
            y[:pos.shape[0]] = 1
            clf = LinearSVC(class_weight="balanced", C=0.01, max_iter=10_000, tol=1e-6)
            self.models_[reader] = clf.fit(x, y)
        return np.asarray(self.models_[reader].decision_function(self._cand), dtype=np.float64)


_CLASSES: dict[str, type[StorePolicy]] = {
    "content": ContentPolicy, "embedding": EmbeddingPolicy, "popular": PopularPolicy, "random": RandomPolicy,
}


def make_policy(name: str, store: Store, *, random_state: int = 0, content: str = "auto",
                cache_dir: Any = None) -> StorePolicy:
    """The baseline ranker called ``name`` (one of :data:`BASELINE_POLICIES`) over ``store``."""
    return _CLASSES[name](store, random_state=random_state, content=content, cache_dir=cache_dir)
