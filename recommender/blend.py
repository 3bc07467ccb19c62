"""The blend: content views, content-to-ALS maps, neighbours and ALS summed into one score.

:func:`score_breakdown` scores a batch of candidates for a list of readers with a fitted
:class:`~paperdigest.recommender.hybrid.HybridRecommender` and returns a :class:`ScoreBreakdown`:
the blended scores plus exactly what the explainer needs to filter them and give reasons, so
the explainer never reads the model. Readers without likes get :func:`fallback_scores`
(interest keywords, else batch popularity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from paperdigest.recommender.calibration import Calibrator
from paperdigest.recommender.content import lead_view, map_view, unit_dense, zscore_rows
from paperdigest.recommender.data import clean_papers, paper_texts
from paperdigest.recommender.tuning import KNN_MAP_VIEW, MAP_VIEW, POP_VIEW
from sklearn.preprocessing import normalize

if TYPE_CHECKING:
    from paperdigest.recommender.hybrid import HybridRecommender

__all__ = ["FallbackInfo", "ScoreBreakdown", "fallback_scores", "reader_profiles", "score_breakdown"]


@dataclass(frozen=True)
class FallbackInfo:
    """Why readers without likes got their scores.

    Attributes
    ----------
    keyword : dict of int to (list of str, ndarray of int, shape (n_candidates,))
        Per reader row (index into the ranked readers): their keywords and, per candidate, the
        index of the keyword it matches best.
    popular : ndarray of bool, shape (n_candidates,)
        Candidates with upvotes or likes.
    """

    keyword: Mapping[int, tuple[list[str], np.ndarray]]
    popular: np.ndarray


@dataclass(frozen=True)
class ScoreBreakdown:
    """Blended scores of one batch and the evidence behind them (``n_r`` readers, ``n_c`` candidates).

    Attributes
    ----------
    candidate_ids : list of str, length n_c
        Cleaned candidate ids, column order of every ``n_c`` axis below.
    scores : ndarray of float32, shape (n_r, n_c)
        Blended scores, before exclusions; comparable within a row only.
    seen : scipy.sparse.coo_matrix, shape (n_r, n_c)
        Non-zero where the model saw the reader react to the candidate (never recommended again).
    candidate_unit : ndarray of float32, shape (n_c, d)
        Unit-norm candidate vectors in the similarity view (MMR diversity, "similar to").
    personal : ndarray of int, shape (n_p,)
        Rows of readers scored from their own likes; every other row used the fallback.
    history : scipy.sparse.csr_matrix of bool, shape (n_p, n_papers)
        The personal readers' likes over the model's papers.
    paper_vectors : ndarray or sparse matrix, shape (n_papers, d)
        The model's papers in the similarity view, rows unit-norm.
    paper_titles : ndarray of str, shape (n_papers,)
        Titles of the model's papers (for "similar to ‘…’").
    neighbours : scipy.sparse.csr_matrix or None, shape (n_p, n_model_readers)
        The personal readers' neighbour weights; None when the neighbour score is not blended
        in or no candidate has likes.
    candidate_likers : ndarray of float32 or None, shape (n_model_readers, n_c)
        1 where a model reader liked the candidate (with ``neighbours``: "liked by N readers").
    fallback : FallbackInfo or None
        Reasons of the fallback rows; None when every reader is personal.
    calibrator : Calibrator or None
        Maps (score, profile similarity, likes) to a like probability.
    likes : ndarray of int, shape (n_r,)
        Each reader's number of likes in the model (0 for fallback readers).
    profiles : ndarray or sparse matrix or None, shape (n_r, d)
        Unit-norm reader profiles in the similarity view: the centre of their likes, else of
        their keywords, else zero.
    """

    candidate_ids: list[str]
    scores: np.ndarray
    seen: sp.coo_matrix
    candidate_unit: np.ndarray
    personal: np.ndarray
    history: sp.csr_matrix
    paper_vectors: Any
    paper_titles: np.ndarray
    neighbours: sp.csr_matrix | None = None
    candidate_likers: np.ndarray | None = None
    fallback: FallbackInfo | None = None
    calibrator: Calibrator | None = None
    likes: np.ndarray | None = None
    profiles: Any = None


def fallback_scores(
    model: HybridRecommender,
    readers: Sequence[str],
    cands: pd.DataFrame,
    cidx: np.ndarray,
    cand_unit: np.ndarray,
) -> tuple[np.ndarray, FallbackInfo]:
    """Scores for readers without likes: interest keywords, else batch popularity.

    ``cidx`` is each candidate's model column (-1 if unseen) and ``cand_unit`` the unit-norm
    candidates in the similarity view. Returns scores of shape ``(len(readers), n_candidates)``.
    """
    likes = np.zeros(len(cands), dtype=np.float32)
    if (cidx >= 0).any():
        pos = (model.prefs_[:, cidx[cidx >= 0]] > 0).sum(axis=0)
        likes[cidx >= 0] = np.asarray(pos).ravel()
    upvotes = cands["upvotes"].to_numpy(np.float32)
    popularity = np.log1p(np.maximum(upvotes, 0)) + np.log1p(likes)
    scores = np.tile(zscore_rows(popularity[None, :]), (len(readers), 1))
    keyword: dict[int, tuple[list[str], np.ndarray]] = {}
    encode = model.encoder_ if lead_view(model.features_) == "embedding" else model.tfidf_
    for row, reader in enumerate(readers):
        kws = model.keywords_.get(reader) or []
        if not kws:
            continue
        sim = unit_dense(encode.transform(kws)) @ cand_unit.T  # (n_keywords, n_candidates)
        # Keywords lead; popularity only breaks ties between equally matching papers.
        scores[row] = zscore_rows(sim.max(axis=0)[None, :])[0] + 0.01 * scores[row]
        keyword[row] = (kws, sim.argmax(axis=0))
    return scores, FallbackInfo(keyword, popularity > 0)


def reader_profiles(model: HybridRecommender, readers: Sequence[str], ridx: np.ndarray,
                    personal: np.ndarray) -> Any:
    """Unit-norm profiles ``(len(readers), d)`` in the similarity view (see :class:`ScoreBreakdown`).

    ``ridx`` are the readers' model rows (-1 if unknown), ``personal`` the rows scored from likes.
    Sparse for TF-IDF (a dense 100k x 4000 block would not fit), dense for embeddings.
    """
    space = lead_view(model.features_)
    vectors = model.features_[space]
    centres = (model.prefs_[ridx[personal]] > 0).astype(np.float32) @ vectors
    parts = [normalize(centres) if len(personal) else centres]
    where = np.full(len(readers), -1, dtype=np.int64)
    where[personal] = np.arange(len(personal))
    encode = model.encoder_ if space == "embedding" else model.tfidf_
    keyword_rows = [i for i in range(len(readers)) if where[i] < 0 and model.keywords_.get(readers[i])]
    if keyword_rows:
        kw = [unit_dense(encode.transform(model.keywords_[readers[i]])).mean(axis=0) for i in keyword_rows]
        kw_block = normalize(np.vstack(kw))
        parts.append(sp.csr_matrix(kw_block) if sp.issparse(vectors) else kw_block)
        where[keyword_rows] = len(personal) + np.arange(len(keyword_rows))
    zero = np.zeros((1, vectors.shape[1]), dtype=np.float32)
    parts.append(sp.csr_matrix(zero) if sp.issparse(vectors) else zero)
    where[where < 0] = len(personal) + len(keyword_rows)
    stacked = sp.vstack(parts).tocsr() if sp.issparse(vectors) else np.vstack([np.asarray(p) for p in parts])
    return stacked[where]


def _content_blend(model: HybridRecommender, needed: np.ndarray, feats: Mapping[str, Any]) -> np.ndarray:
    """Weighted sum of the z-scored content views for model readers ``needed``, z-scored."""
    params = model.params_
    blend = np.zeros((len(needed), feats["tfidf"].shape[0]), dtype=np.float32)
    for name, view in model.views_.items():
        w = params.weights.get(name, 1.0 if name == model.base_view_ else 0.0)
        blend += w * zscore_rows(view.scores(model.prefs_[needed], model.features_[name], feats[name]))
    # New papers placed in ALS space: by the ridge map and by their nearest seen papers.
    users = None
    for name, fmap, view_name in ((MAP_VIEW, model.factor_map_, map_view(feats)),
                                  (KNN_MAP_VIEW, model.knn_map_, lead_view(feats))):
        if fmap is not None:
            if users is None:
                users = np.asarray(model.als_.user_factors)[needed]
            blend += params.weights[name] * zscore_rows(users @ fmap.transform(feats[view_name]).T)
    if model.pop_map_ is not None:
        pop = model.pop_map_.transform(feats[map_view(feats)]).reshape(1, -1)
        blend += params.weights[POP_VIEW] * zscore_rows(pop)
    return zscore_rows(blend)


def score_breakdown(
    model: HybridRecommender, readers: Sequence[str], candidates: pd.DataFrame
) -> ScoreBreakdown:
    """Score ``candidates`` (a papers frame, may be unseen) for ``readers`` with a fitted model."""
    cands = clean_papers(candidates, "candidates")
    n_c = len(cands)
    feats = model.featurize(paper_texts(cands))
    ridx = np.array([model.reader_index_.get(r, -1) for r in readers], dtype=np.int64)
    cidx = np.array([model.paper_index_.get(p, -1) for p in cands["id"]], dtype=np.int64)
    known = ridx >= 0
    has_pos = np.zeros(len(readers), dtype=bool)
    has_pos[known] = np.diff((model.prefs_ > 0).tocsr().indptr)[ridx[known]] > 0
    personal = np.flatnonzero(has_pos)
    space = lead_view(feats)
    cand_unit = unit_dense(feats[space])
    out = np.zeros((len(readers), n_c), dtype=np.float32)
    params = model.params_
    neighbours = likers = None
    if len(personal) and n_c:
        needed_readers = ridx[personal]
        graph = model.graph_[needed_readers]
        mask = np.zeros(model.prefs_.shape[0], dtype=bool)  # faster than union1d on 5M ids
        mask[needed_readers] = True
        mask[graph.indices] = True
        needed = np.flatnonzero(mask)
        pos_in = np.searchsorted(needed, needed_readers)
        blend = _content_blend(model, needed, feats)
        if params.smooth:
            mixed = np.asarray(graph[:, needed] @ blend)
            total = zscore_rows((1 - params.smooth) * blend[pos_in] + params.smooth * mixed)
        else:  # validation chose no neighbour mix: skip the 100k x 500 sparse product
            total = zscore_rows(blend[pos_in])
        in_model = cidx >= 0
        if in_model.any():
            cand_pos = np.zeros((model.prefs_.shape[0], n_c), dtype=np.float32)
            cand_pos[:, in_model] = (model.prefs_[:, cidx[in_model]] > 0).astype(np.float32).toarray()
            knn = np.asarray(graph @ cand_pos, dtype=np.float32)
            if params.w_knn > 0:
                neighbours, likers = graph, cand_pos
            total = total + params.w_knn * zscore_rows(knn)
            als_cols = in_model & (cidx < model.n_als_papers_)
            if model.als_ is not None and params.w_als and als_cols.any():
                uf = np.asarray(model.als_.user_factors)[needed_readers]
                itf = np.zeros((n_c, uf.shape[1]), dtype=np.float32)
                itf[als_cols] = np.asarray(model.als_.item_factors)[cidx[als_cols]]
                total = total + params.w_als * zscore_rows(uf @ itf.T)
        out[personal] = total
    cold = np.flatnonzero(~has_pos)
    fallback = None
    if len(cold) and n_c:
        out[cold], info = fallback_scores(model, [readers[i] for i in cold], cands, cidx, cand_unit)
        fallback = FallbackInfo({int(cold[i]): v for i, v in info.keyword.items()}, info.popular)
    likes = np.zeros(len(readers), dtype=np.int64)
    likes[personal] = np.diff((model.prefs_[ridx[personal]] > 0).tocsr().indptr)
    known_r, in_cols = np.flatnonzero(known), np.flatnonzero(cidx >= 0)
    seen = sp.coo_matrix((len(readers), n_c), dtype=np.float32)
    if len(known_r) and len(in_cols):
        part = model.prefs_[ridx[known_r]][:, cidx[in_cols]].tocoo()
        seen = sp.coo_matrix((part.data, (known_r[part.row], in_cols[part.col])), shape=(len(readers), n_c))
    return ScoreBreakdown(
        candidate_ids=cands["id"].tolist(),
        scores=out,
        seen=seen,
        candidate_unit=cand_unit,
        personal=personal,
        history=(model.prefs_[ridx[personal]] > 0).tocsr(),
        paper_vectors=model.features_[space],
        paper_titles=model.papers_["title"].to_numpy(),
        neighbours=neighbours,
        candidate_likers=likers,
        fallback=fallback,
        calibrator=model.calibrator_,
        likes=likes,
        profiles=reader_profiles(model, readers, ridx, personal),
    )
