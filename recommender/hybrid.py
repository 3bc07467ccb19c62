"""The hybrid recommender: content ridge views + reader neighbours + implicit ALS.

See :mod:`recommender` for the public API and docs/recommender.md for how it works and what
was measured.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from paperdigest.recommender import explain
from paperdigest.recommender.collab import fit_als, neighbour_graph, unit_rows
from paperdigest.recommender.content import (
    FactorMap,
    NeighbourFactorMap,
    RandomFourierMap,
    RidgeView,
    zscore_rows,
)
from paperdigest.recommender.data import (
    Recommendation,
    clean_interactions,
    clean_papers,
    clean_readers,
    paper_texts,
    preference_matrix,
)
from paperdigest.recommender.errors import InputError, ModelFormatError, NotFittedError
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

FORMAT_VERSION = 1
_MAGIC = b"PAPERDIGEST-RECOMMENDER\n"


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
    cache_dir : str, Path, None or False
        Embedding cache root (None: ``$PAPERDIGEST_CACHE_DIR`` or ``~/.cache/paperdigest``).
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
        cache_dir: str | Path | bool | None = None,
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
        self.features_ = self._featurize(texts)
        self.base_view_ = "embedding" if "embedding" in self.features_ else "tfidf"

        rng = np.random.default_rng(self.random_state)
        if self.tune and self.prefs_.nnz >= 200 and len(papers) >= 50:
            self.params_ = tune_blend(
                self.prefs_,
                self.features_,
                self.base_view_,
                rng,
                self._fit_als,
                self.n_neighbours,
                warm_fraction=self.warm_fraction,
            )
        else:
            self.params_ = BlendParams()
        self._refit_collab_and_views()
        return self

    def _featurize(self, texts: Sequence[str]) -> dict[str, Any]:
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
        self.factor_map_ = None
        if self.als_ is not None and self.params_.weights.get(MAP_VIEW, 0) > 0 and len(observed):
            x = self.features_[self._map_view()]
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
            x = self.features_[self._map_view()]
            target = popularity_target(self.prefs_)[observed][:, None]
            self.pop_map_ = FactorMap(self.params_.alphas.get(POP_VIEW, 1.0)).fit(x[observed], target)

    def _map_view(self) -> str:
        return "embedding_rbf" if "embedding_rbf" in self.features_ else "tfidf"

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError("HybridRecommender is not fitted: call fit() or load() first")

    # ----------------------------------------------------------------------------- ranking
    def score(self, readers: Sequence[str], candidates: pd.DataFrame) -> np.ndarray:
        """Blended scores, shape ``(len(readers), n_candidates)``, without exclusions.

        Readers without positive history get keyword or popularity scores.
        """
        return self._scores_and_parts([str(r) for r in readers], candidates)[0]

    def _scores_and_parts(
        self, readers: Sequence[str], candidates: pd.DataFrame
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self._check_fitted()
        cands = clean_papers(candidates, "candidates")
        n_c = len(cands)
        texts = paper_texts(cands)
        feats = self._featurize(texts)
        ridx = np.array([self.reader_index_.get(r, -1) for r in readers], dtype=np.int64)
        known = ridx >= 0
        has_pos = np.zeros(len(readers), dtype=bool)
        pos_counts = np.diff((self.prefs_ > 0).tocsr().indptr)
        has_pos[known] = pos_counts[ridx[known]] > 0
        personal = np.flatnonzero(has_pos)
        out = np.zeros((len(readers), n_c), dtype=np.float32)
        parts: dict[str, Any] = {"cands": cands, "feats": feats, "ridx": ridx, "knn": None}
        if len(personal) and n_c:
            needed_readers = ridx[personal]
            graph = self.graph_[needed_readers]
            mask = np.zeros(self.prefs_.shape[0], dtype=bool)  # faster than union1d on 5M ids
            mask[needed_readers] = True
            mask[graph.indices] = True
            needed = np.flatnonzero(mask)
            pos_in = np.searchsorted(needed, needed_readers)
            blend = np.zeros((len(needed), n_c), dtype=np.float32)
            users = None
            for name, view in self.views_.items():
                w = self.params_.weights.get(name, 1.0 if name == self.base_view_ else 0.0)
                s = view.scores(self.prefs_[needed], self.features_[name], feats[name])
                blend += w * zscore_rows(s)
            # New papers placed in ALS space: by the ridge map and by their nearest seen papers.
            for name, fmap, view in ((MAP_VIEW, self.factor_map_, self._map_view()),
                                     (KNN_MAP_VIEW, getattr(self, "knn_map_", None), self.base_view_)):
                if fmap is not None:
                    if users is None:
                        users = np.asarray(self.als_.user_factors)[needed]
                    mapped = fmap.transform(feats[view])
                    blend += self.params_.weights[name] * zscore_rows(users @ mapped.T)
            if getattr(self, "pop_map_", None) is not None:
                pop = self.pop_map_.transform(feats[self._map_view()]).reshape(1, -1)
                blend += self.params_.weights[POP_VIEW] * zscore_rows(pop)
            blend = zscore_rows(blend)
            beta = self.params_.smooth
            if beta:
                mixed = np.asarray(graph[:, needed] @ blend)
                content = zscore_rows((1 - beta) * blend[pos_in] + beta * mixed)
            else:  # validation chose no neighbour mix: skip the 100k x 500 sparse product
                content = zscore_rows(blend[pos_in])
            total = content
            cidx = np.array([self.paper_index_.get(p, -1) for p in cands["id"]], dtype=np.int64)
            in_model = cidx >= 0
            if in_model.any():
                cand_pos = np.zeros((self.prefs_.shape[0], n_c), dtype=np.float32)
                sub = (self.prefs_[:, cidx[in_model]] > 0).astype(np.float32).toarray()
                cand_pos[:, in_model] = sub
                knn = np.asarray(graph @ cand_pos, dtype=np.float32)
                parts["knn"] = (personal, graph, cand_pos)
                total = total + self.params_.w_knn * zscore_rows(knn)
                als_cols = in_model & (cidx < self.n_als_papers_)
                if self.als_ is not None and self.params_.w_als and als_cols.any():
                    uf = np.asarray(self.als_.user_factors)[needed_readers]
                    itf = np.zeros((n_c, uf.shape[1]), dtype=np.float32)
                    itf[als_cols] = np.asarray(self.als_.item_factors)[cidx[als_cols]]
                    total = total + self.params_.w_als * zscore_rows(uf @ itf.T)
            out[personal] = total
        cold = np.flatnonzero(~has_pos)
        if len(cold) and n_c:
            fb_scores, info = explain.fallback_scores(
                [readers[i] for i in cold], self.keywords_, cands, feats, self
            )
            out[cold] = fb_scores
            info["keyword"] = {int(cold[i]): v for i, v in info["keyword"].items()}
            parts["fallback"] = info
        parts["personal"] = personal
        return out, parts

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
            Leave out papers scoring below this value.
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
        readers = [str(r) for r in dict.fromkeys(readers)]
        scores, parts = self._scores_and_parts(readers, candidates)
        return explain.build_lists(self, readers, scores, parts, k, exclude, threshold, diversity)

    # ----------------------------------------------------------------------------- updates
    def update(
        self,
        interactions: pd.DataFrame | None = None,
        papers: pd.DataFrame | None = None,
        readers: pd.DataFrame | None = None,
    ) -> HybridRecommender:
        """Fold in new papers, feedback and keywords without a full refit.

        New feedback replaces the reader's earlier value for that paper, refreshes the reader's
        neighbours and their ALS factors; ridge weights are shared and need no refit.

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
                feats = self._featurize(paper_texts(new))
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
            user_items = sp.csr_matrix(self.prefs_[touched][:, : self.n_als_papers_])
            user_items.data = np.maximum(user_items.data, 0)
            user_items.eliminate_zeros()
            self.als_.partial_fit_users(touched, user_items)
        return self

    def _resize(self, n_readers: int, n_papers: int) -> None:
        self.prefs_ = grow(self.prefs_.tocsr(), (n_readers, n_papers))
        self.unit_ = grow(self.unit_.tocsr(), (n_readers, n_papers))
        self.graph_ = grow(self.graph_.tocsr(), (n_readers, n_readers))

    # ----------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """Write the fitted model atomically (temp file in the same folder, then rename)."""
        self._check_fitted()
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC)
                fh.write(FORMAT_VERSION.to_bytes(4, "big"))
                pickle.dump(self.__dict__, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> HybridRecommender:
        """Read a model written by :meth:`save`; only load files you trust (pickle).

        Raises
        ------
        ModelFormatError
            The file is not a paperdigest model, is of another format version, or is truncated.
        """
        try:
            with open(path, "rb") as fh:
                magic = fh.read(len(_MAGIC))
                if magic != _MAGIC:
                    raise ModelFormatError(f"{path} is not a paperdigest recommender model")
                version = int.from_bytes(fh.read(4), "big")
                if version != FORMAT_VERSION:
                    raise ModelFormatError(
                        f"{path} has model format version {version}; this paperdigest reads "
                        f"version {FORMAT_VERSION} (refit and save the model again)"
                    )
                state = pickle.load(fh)
        except (EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError) as exc:
            raise ModelFormatError(f"{path} is truncated or corrupt ({type(exc).__name__})") from exc
        except OSError as exc:
            raise ModelFormatError(f"cannot read model file {path}: {exc.strerror}") from exc
        model = cls.__new__(cls)
        model.__dict__.update(state)
        return model
