"""The hybrid recommender: content ridge views + reader neighbours + implicit ALS.

See :mod:`recommender` for the public API and docs/recommender.md for how it works and what
was measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from paperdigest.recommender import explain, persist
from paperdigest.recommender.blend import score_breakdown
from paperdigest.recommender.calibration import (
    CalibrationSample,
    Calibrator,
    check_threshold,
    leave_one_out_sample,
    profile_similarity,
)
from paperdigest.recommender.collab import fit_als, neighbour_graph, positive_part, unit_rows
from paperdigest.recommender.content import (
    FactorMap,
    NeighbourFactorMap,
    RandomFourierMap,
    RidgeView,
    lead_view,
    map_view,
)
from paperdigest.recommender.data import (
    Recommendation,
    clean_interactions,
    clean_papers,
    clean_readers,
    paper_texts,
    preference_matrix,
)
from paperdigest.recommender.errors import InputError, NotFittedError
from paperdigest.recommender.sparse_edit import grow, replace_rows, set_entries
from paperdigest.recommender.text import TfidfEncoder, make_encoder
from paperdigest.recommender.tuning import (
    KNN_MAP_VIEW,
    MAP_VIEW,
    POP_VIEW,
    BlendParams,
    popularity_target,
    tune_blend,
)

__all__ = ["FORMAT_VERSION", "HybridRecommender"]

FORMAT_VERSION = persist.FORMAT_VERSION


class HybridRecommender:
    """Rank new papers for readers from paper text and reader feedback.

    Parameters
    ----------
    content : {"auto", "embedding", "tfidf"}
        Content backend; "auto" uses MiniLM embeddings when installed, else TF-IDF only.
    n_neighbours : int
        Readers in each reader's neighbourhood ("readers with your taste").
    als_factors : int
        Latent factors of the ALS model.
    tune : bool
        Choose view regularisation and blend weights on a validation split of the training data;
        when False (or too little data) fixed defaults are used.
    warm_fraction : float
        Share of readers simulated as having reacted early in the warm validation.
    tfidf_features : int
        Vocabulary size of the TF-IDF view.
    cache_dir : str, Path or None
        Folder of the on-disk embedding cache; None keeps encodings in memory only. Not saved
        with the model: :meth:`load` takes it again.
    random_state : int
        Seed of every random choice.
    """

    def __init__(
        self,
        content: str = "auto",
        n_neighbours: int = 50,
        als_factors: int = 64,
        tune: bool = True,
        warm_fraction: float = 0.2,
        tfidf_features: int = 4000,
        cache_dir: str | Path | None = None,
        random_state: int = 0,
    ) -> None:
        self.content = content
        self.n_neighbours = n_neighbours
        self.als_factors = als_factors
        self.tune = tune
        self.warm_fraction = warm_fraction
        self.tfidf_features = tfidf_features
        self.cache_dir = cache_dir
        self.random_state = random_state

    # ----------------------------------------------------------------------------- fitting
    def fit(
        self,
        papers: pd.DataFrame,
        interactions: pd.DataFrame,
        readers: pd.DataFrame | None = None,
    ) -> HybridRecommender:
        """Learn from papers (id, title[, abstract, upvotes]) and feedback (reader, paper, kind...).

        Parameters
        ----------
        papers : DataFrame
            Columns ``id``, ``title``, optional ``abstract``, ``authors``, ``upvotes``.
        interactions : DataFrame
            Columns ``reader``, ``paper``, optional ``kind`` (like/dislike/click), ``weight``,
            ``time``. Every ``paper`` must be in ``papers``.
        readers : DataFrame, optional
            Columns ``reader``, ``keywords`` (list of str or comma-separated str).

        Returns
        -------
        HybridRecommender
            ``self``.
        """
        if self.content not in ("auto", "embedding", "tfidf"):
            raise InputError(f"content must be 'auto', 'embedding' or 'tfidf', got {self.content!r}")
        if self.n_neighbours < 1 or self.als_factors < 1:
            raise InputError("n_neighbours and als_factors must be positive")
        papers = clean_papers(papers)
        inter = clean_interactions(interactions)
        unknown = ~inter["paper"].isin(papers["id"])
        if unknown.any():
            raise InputError(f"interactions refer to unknown paper id {inter['paper'][unknown].iloc[0]!r}")
        self.keywords_ = clean_readers(readers)
        self.papers_ = papers
        self.paper_index_ = {p: i for i, p in enumerate(papers["id"])}
        reader_ids = list(dict.fromkeys([*inter["reader"], *self.keywords_]))
        self.readers_ = reader_ids
        self.reader_index_ = {r: i for i, r in enumerate(reader_ids)}
        self.prefs_ = preference_matrix(inter, self.reader_index_, self.paper_index_)

        texts = paper_texts(papers)
        self.tfidf_ = TfidfEncoder(self.tfidf_features).fit(texts)
        self.encoder_ = make_encoder(self.content, self.cache_dir)
        self.rff_ = RandomFourierMap(random_state=self.random_state).fit(384)
        self.features_ = self.featurize(texts)
        self.base_view_ = lead_view(self.features_)

        rng = np.random.default_rng(self.random_state)
        samples: list[CalibrationSample] = []
        if self.tune and self.prefs_.nnz >= 200 and len(papers) >= 50:
            self.params_ = tune_blend(
                self.prefs_,
                self.features_,
                self.base_view_,
                rng,
                self._fit_als,
                self.n_neighbours,
                warm_fraction=self.warm_fraction,
                samples=samples,
            )
        else:
            self.params_ = BlendParams()
        self.calibrator_ = self._fit_calibrator(samples)
        self._refit_collab_and_views()
        return self

    def _fit_calibrator(self, samples: list[CalibrationSample]) -> Calibrator:
        """Calibrate on the validation pairs; small corpora leave each like out instead."""
        if samples and sum(int(s.liked.sum()) for s in samples) >= 20:
            return Calibrator(random_state=self.random_state).fit(samples)
        observed = np.flatnonzero(np.diff(abs(self.prefs_).tocsc().indptr) > 0)
        loo = leave_one_out_sample(self.prefs_ > 0, self.features_[self.base_view_], observed,
                                   random_state=self.random_state)
        if loo is None or loo.liked.all() or not loo.liked.any():
            return Calibrator.uncalibrated()
        # Weaker regularisation than on a large validation split: a few dozen held-out likes that
        # similarity separates well should give a steep curve, not one shrunk towards the base rate.
        cal = Calibrator(C=100.0, random_state=self.random_state).fit([loo])
        cal.source_ = "leave-one-out"
        return cal

    def featurize(self, texts: Sequence[str]) -> dict[str, Any]:
        """Per view name, the ``(len(texts), n_features)`` features of ``texts`` (fitted encoders)."""
        if not texts:  # an empty batch: zero-row features of the right width
            return {name: x[:0] for name, x in self.features_.items()}
        feats: dict[str, Any] = {"tfidf": self.tfidf_.transform(texts)}
        if self.encoder_.name == "embedding":
            emb = np.asarray(self.encoder_.transform(texts), dtype=np.float32)
            feats["embedding"] = emb
            feats["embedding_rbf"] = self.rff_.transform(emb)
        return feats

    def _fit_als(self, prefs: sp.csr_matrix) -> Any:
        return fit_als(prefs, factors=self.als_factors, random_state=self.random_state)

    def _refit_collab_and_views(self) -> None:
        observed = np.flatnonzero(np.diff(abs(self.prefs_).tocsc().indptr) > 0)
        self.views_ = {}
        for name, x in self.features_.items():
            if self.params_.weights.get(name, 1.0 if name == self.base_view_ else 0.0) == 0:
                continue
            rows = x[observed] if len(observed) else x[:0]
            self.views_[name] = RidgeView(
                name,
                self.params_.alphas.get(name, 1.0),
                self.params_.size_powers.get(name, 0.0),
                self.params_.n_ref,
            ).fit(rows)
        self.unit_ = unit_rows(self.prefs_)
        self.graph_ = neighbour_graph(self.unit_, self.n_neighbours)
        self.als_ = self._fit_als(self.prefs_) if self.prefs_.nnz else None
        self.n_als_papers_ = self.prefs_.shape[1]
        self.fit_liked_ = np.diff((self.prefs_ > 0).tocsc().indptr) > 0  # papers the ALS fit learnt from
        self.factor_map_ = None
        if self.als_ is not None and self.params_.weights.get(MAP_VIEW, 0) > 0 and len(observed):
            x = self.features_[map_view(self.features_)]
            factors = np.asarray(self.als_.item_factors)[observed]
            alpha = self.params_.alphas.get(MAP_VIEW, 1.0)
            self.factor_map_ = FactorMap(alpha).fit(x[observed], factors)
        self.knn_map_ = None
        if self.als_ is not None and self.params_.weights.get(KNN_MAP_VIEW, 0) > 0 and len(observed):
            factors = np.asarray(self.als_.item_factors)[observed]
            k = int(self.params_.alphas.get(KNN_MAP_VIEW, 30))
            self.knn_map_ = NeighbourFactorMap(k).fit(self.features_[self.base_view_][observed], factors)
        self.pop_map_ = None
        if self.params_.weights.get(POP_VIEW, 0) > 0 and len(observed):
            x = self.features_[map_view(self.features_)]
            target = popularity_target(self.prefs_)[observed][:, None]
            self.pop_map_ = FactorMap(self.params_.alphas.get(POP_VIEW, 1.0)).fit(x[observed], target)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError("HybridRecommender is not fitted: call fit() or load() first")

    # ----------------------------------------------------------------------------- ranking
    def score(self, readers: Sequence[str], candidates: pd.DataFrame) -> np.ndarray:
        """Blended scores, shape ``(len(readers), n_candidates)``, without exclusions.

        Readers without positive history get keyword or popularity scores.
        """
        self._check_fitted()
        return score_breakdown(self, [str(r) for r in readers], candidates).scores

    def rank(
        self,
        readers: Sequence[str],
        candidates: pd.DataFrame,
        k: int = 10,
        exclude: Mapping[str, set[str]] | None = None,
        threshold: float | None = None,
        diversity: float = 0.0,
    ) -> dict[str, list[Recommendation]]:
        """Rank ``candidates`` for each reader, best first.

        Parameters
        ----------
        readers : sequence of str
            Reader ids; unknown ones get keyword or popularity rankings.
        candidates : DataFrame
            Papers with ``id``, ``title`` (optional ``abstract``, ``upvotes``); may be new.
        k : int
            Maximum recommendations per reader.
        exclude : mapping of reader id to set of paper ids, optional
            Papers never to return (already liked, disliked or sent). Papers the model saw the
            reader react to are excluded as well.
        threshold : float, optional
            Leave out papers whose like probability is below this value, in [0, 1]; a list may
            then hold fewer than ``k`` papers, or none.
        diversity : float
            MMR weight in [0, 1]; 0 ranks by score only.

        Returns
        -------
        dict of str to list of Recommendation
            One entry per distinct reader, at most ``k`` items each.
        """
        self._check_fitted()
        if k < 0:
            raise InputError(f"k must be >= 0, got {k}")
        if not 0.0 <= diversity <= 1.0:
            raise InputError(f"diversity must be in [0, 1], got {diversity}")
        try:
            check_threshold(threshold)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        readers = [str(r) for r in dict.fromkeys(readers)]
        breakdown = score_breakdown(self, readers, candidates)
        return explain.build_lists(breakdown, readers, k, exclude, threshold, diversity)

    def probability(self, readers: Sequence[str], candidates: pd.DataFrame) -> np.ndarray:
        """Like probabilities, shape ``(len(readers), n_candidates)``, without exclusions."""
        self._check_fitted()
        breakdown = score_breakdown(self, [str(r) for r in readers], candidates)
        sim = profile_similarity(breakdown.profiles, breakdown.candidate_unit)
        return self.calibrator_.predict(breakdown.scores, sim, breakdown.likes)

    # ----------------------------------------------------------------------------- updates
    def update(
        self,
        interactions: pd.DataFrame | None = None,
        papers: pd.DataFrame | None = None,
        readers: pd.DataFrame | None = None,
    ) -> HybridRecommender:
        """Fold in new papers, feedback and keywords without a full refit.

        New feedback replaces the reader's earlier value for that paper, refreshes the reader's
        neighbours and their ALS factors, and the ALS factors of the papers it is about (so early
        readers' likes of a new batch reach readers of similar taste); ridge weights are shared.

        Returns
        -------
        HybridRecommender
            ``self``.
        """
        self._check_fitted()
        if readers is not None:
            self.keywords_.update(clean_readers(readers))
        if papers is not None:
            new = clean_papers(papers)
            new = new[~new["id"].isin(self.paper_index_)]
            if len(new):
                feats = self.featurize(paper_texts(new))
                for name, x in feats.items():
                    stack = sp.vstack if sp.issparse(x) else np.vstack
                    self.features_[name] = stack([self.features_[name], x])
                    if sp.issparse(x):
                        self.features_[name] = sp.csr_matrix(self.features_[name])
                start = len(self.papers_)
                self.papers_ = pd.concat([self.papers_, new], ignore_index=True)
                self.paper_index_.update({p: start + i for i, p in enumerate(new["id"])})
                self._resize(len(self.readers_), len(self.papers_))
        if interactions is None:
            return self
        inter = clean_interactions(interactions)
        papers_idx = [self.paper_index_.get(p, -1) for p in inter["paper"]]
        if -1 in papers_idx:
            missing = inter["paper"].iloc[papers_idx.index(-1)]
            raise InputError(f"interactions refer to unknown paper id {missing!r}")
        for r in inter["reader"]:
            if r not in self.reader_index_:
                self.reader_index_[r] = len(self.readers_)
                self.readers_.append(r)
        self._resize(len(self.readers_), len(self.papers_))
        rows = np.array([self.reader_index_[r] for r in inter["reader"]], dtype=np.int64)
        cols = np.array(papers_idx, dtype=np.int64)
        self.prefs_ = set_entries(self.prefs_, rows, cols, inter["value"].to_numpy(np.float32))
        touched = np.unique(rows)
        self.unit_ = replace_rows(self.unit_, touched, unit_rows(self.prefs_[touched]))
        neighbours = neighbour_graph(self.unit_, self.n_neighbours, touched)
        self.graph_ = replace_rows(self.graph_, touched, neighbours)
        if self.als_ is not None:
            self.als_.partial_fit_users(touched, positive_part(self.prefs_[touched][:, : self.n_als_papers_]))
            self._fold_in_papers(np.unique(cols))
        return self

    def _fold_in_papers(self, papers: np.ndarray) -> None:
        """Give the papers whose feedback changed ALS factors from their likers (one ALS half-step).

        A paper added after the fit had no factors, so the ALS part could not carry early readers'
        likes of a new batch to readers of similar taste, although the warm check in tuning
        (``tune_blend``) chose ``w_als`` for exactly that case. Papers between the old and the new
        end of the factor table that nobody liked get zero factors (an ALS score of 0). Only papers
        that no one liked at the last full fit are folded in (new ones, and a batch ingested before
        the nightly refit but liked after it): one more like changes little in the factors of a
        paper the fit learnt from, and each fold-in recomputes implicit's user Gram matrix (about
        20 ms at 100,000 readers: it tripled the cost of an update with one like).
        """
        seen = papers < len(self.fit_liked_)
        fitted = np.zeros(len(papers), dtype=bool)
        fitted[seen] = self.fit_liked_[papers[seen]]
        papers = papers[~fitted]
        if not len(papers):
            return
        self.als_.partial_fit_items(papers, positive_part(self.prefs_[:, papers].T))
        self.n_als_papers_ = max(self.n_als_papers_, int(papers.max()) + 1)

    def _resize(self, n_readers: int, n_papers: int) -> None:
        self.prefs_ = grow(self.prefs_.tocsr(), (n_readers, n_papers))
        self.unit_ = grow(self.unit_.tocsr(), (n_readers, n_papers))
        self.graph_ = grow(self.graph_.tocsr(), (n_readers, n_readers))

    # ----------------------------------------------------------------------------- persistence
    def save(self, path: str | Path, *, extra: Mapping[str, Any] | None = None) -> None:
        """Write the fitted model to one ``.npz`` file, atomically (see :mod:`recommender.persist`).

        ``extra`` is JSON-able metadata stored in the same file (read back with
        :func:`recommender.persist.read_extra`), so it changes together with the model.
        """
        self._check_fitted()
        persist.save_model(self, path, extra=extra)

    @classmethod
    def load(cls, path: str | Path, *, cache_dir: str | Path | None = None) -> HybridRecommender:
        """Read a model written by :meth:`save`; the file holds arrays and JSON only, no code.

        Raises
        ------
        ModelFormatError
            The file is not a paperdigest model, is of another format version, or is truncated.
        """
        return persist.load_model(cls, path, cache_dir=cache_dir)
