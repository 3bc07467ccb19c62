"""The blend: content views, content-to-ALS maps, neighbours and ALS summed into one score.

:func:`score_breakdown` scores a batch of candidates for a list of readers with a fitted
:class:`~paperdigest.recommender.hybrid.HybridRecommender` and returns a :class:`ScoreBreakdown`:
the blended scores plus exactly what the explainer needs to filter them and give reasons, so
the explainer never reads the model. Readers without likes get :func:`fallback_scores`
(interest keywords, else batch popularity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from paperdigest.recommender.calibration import Calibrator
from paperdigest.recommender.content import (
    KEYWORD_BACKGROUND,
    KEYWORD_FLOOR,
    KEYWORD_MIN_COSINE,
    SIMILARITY_FLOOR,
    keyword_scores,
    keyword_similarity,
    lead_view,
    map_view,
    unit_dense,
    zscore_rows,
)
from paperdigest.recommender.data import clean_papers, paper_texts
from paperdigest.recommender.highlight import CandidateSentences, candidate_sentences
from paperdigest.recommender.tuning import KNN_MAP_VIEW, MAP_VIEW, POP_VIEW
from sklearn.preprocessing import normalize

if TYPE_CHECKING:
    from paperdigest.recommender.hybrid import HybridRecommender

__all__ = [
    "FallbackInfo",
    "KeywordMatch",
    "KeywordTable",
    "ScoreBreakdown",
    "fallback_scores",
    "keyword_matches",
    "reader_profiles",
    "score_breakdown",
]


@dataclass(frozen=True)
class KeywordTable:
    """Every distinct interest keyword of one rank call, embedded and matched once.

    Attributes
    ----------
    keywords : list of str
        The distinct keywords, one per row.
    vectors : ndarray of float32, shape (n_keywords, d)
        The keywords in the similarity view, unit-norm (dense).
    similarity : ndarray of float32, shape (n_keywords, n_candidates)
        Each keyword's similarity to each candidate in standard deviations above its mean
        similarity to the corpus (see :func:`~paperdigest.recommender.content.keyword_similarity`).
    """

    keywords: list[str]
    vectors: np.ndarray
    similarity: np.ndarray


@dataclass(frozen=True)
class KeywordMatch:
    """How one reader's interest keywords matched the candidates.

    Attributes
    ----------
    keywords : list of str
        The reader's keywords, in their order.
    index : ndarray of int64, shape (n_keywords,)
        Each keyword's row in ``table`` (readers share the table: 100k readers do not each copy it).
    table : KeywordTable
        The rank call's keywords.
    floor : float
        Standardised similarity below which a candidate is not about a keyword (never cited below).
    part : ndarray of float32, shape (n_candidates,)
        What the keywords added to the reader's score row.
    """

    keywords: list[str]
    index: np.ndarray
    table: KeywordTable
    floor: float
    part: np.ndarray

    @property
    def similarity(self) -> np.ndarray:
        """The reader's keywords' rows of the table's similarity, ``(n_keywords, n_candidates)``."""
        return self.table.similarity[self.index]

    def vector(self, i: int) -> np.ndarray:
        """Keyword ``i`` (of :attr:`keywords`) in the similarity view, unit-norm."""
        return self.table.vectors[self.index[i]]


@dataclass(frozen=True)
class FallbackInfo:
    """Why readers without likes got their scores (their keywords are in ``ScoreBreakdown.keywords``).

    Attributes
    ----------
    popular : ndarray of bool, shape (n_candidates,)
        Candidates with upvotes or likes.
    """

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
    neighbours : scipy.sparse.csr_matrix or None, shape (n_p, n_needed)
        The personal readers' neighbour weights over the model readers that are personal readers
        or their neighbours (the only ones that matter); None when the neighbour score is not
        blended in or no candidate has likes.
    candidate_likers : ndarray of float32 or None, shape (n_needed, n_c)
        1 where one of those readers liked the candidate (with ``neighbours``: "liked by N readers").
    fallback : FallbackInfo or None
        Reasons of the fallback rows; None when every reader is personal.
    keywords : dict of int to KeywordMatch
        Per row of a reader with interest keywords (personal or not): how they matched.
    collab_cols : ndarray of int, shape (n_in,)
        Candidates the model has seen liked: the only columns a collaborative part can carry.
    collab_part : ndarray of float32 or None, shape (n_p, n_in)
        What neighbours' likes and ALS added to the personal rows' scores at ``collab_cols``.
    similarity_floor : float
        Cosine between papers below which "similar to" is never said (the similarity view's).
    sentences : CandidateSentences or None
        The candidates' abstract sentences and their embeddings (embedding backend only).
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
    keywords: Mapping[int, KeywordMatch] = field(default_factory=dict)
    collab_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    collab_part: np.ndarray | None = None
    similarity_floor: float = 1.0
    sentences: CandidateSentences | None = None
    calibrator: Calibrator | None = None
    likes: np.ndarray | None = None
    profiles: Any = None



# Weight of the keyword part in the score of a reader who also has likes: kw / (kw + n_likes), so
# keywords steer a reader with two likes and fade as the likes speak for themselves.
KEYWORD_PRIOR_LIKES = 5.0


def keyword_matches(
    model: HybridRecommender, readers: Sequence[str], rows: np.ndarray, cand_unit: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[dict[int, KeywordMatch], np.ndarray, np.ndarray]:
    """Keyword matches and score parts for the rows in ``rows`` whose reader has keywords.

    Keywords are embedded like papers (the similarity view: MiniLM when on, else TF-IDF) and
    compared with the unit-norm candidates ``cand_unit``; each distinct keyword is encoded and
    compared once, however many readers share it. A reader's part is
    :func:`~paperdigest.recommender.content.keyword_scores` of their keywords, standardised over
    the candidates and scaled by ``weights`` (one per entry of ``rows``; 1 when omitted), taken for
    every reader at once as products with a reader-by-keyword count matrix. Returns the matches
    by row, the rows that have keywords, and their parts ``(len(those rows), n_candidates)``.
    """
    picked = [i for i, r in enumerate(rows) if model.keywords_.get(readers[r])]
    with_kw = np.asarray(rows, dtype=np.int64)[picked]
    if not len(with_kw) or not len(cand_unit):
        return {}, np.zeros(0, dtype=np.int64), np.zeros((0, len(cand_unit)), dtype=np.float32)
    space = lead_view(model.features_)
    encode = model.encoder_ if space == "embedding" else model.tfidf_
    lists = [model.keywords_[readers[r]] for r in with_kw]
    unique = list(dict.fromkeys(kw for kws in lists for kw in kws))
    vectors = unit_dense(encode.transform(unique))
    corpus = model.features_[space]
    step = max(1, corpus.shape[0] // KEYWORD_BACKGROUND)
    # The candidates join the background so a tiny corpus still gives a usable spread.
    background = np.vstack([unit_dense(corpus[::step]), cand_unit])
    floor = KEYWORD_FLOOR
    sim = keyword_similarity(vectors, cand_unit, background, KEYWORD_MIN_COSINE[space])
    table = KeywordTable(unique, vectors, sim)
    where = {kw: i for i, kw in enumerate(unique)}
    index = [np.fromiter((where[k] for k in kws), dtype=np.int64, count=len(kws)) for kws in lists]
    lengths = np.array([len(kws) for kws in lists], dtype=np.int64)
    count = sp.csr_matrix((np.ones(int(lengths.sum()), dtype=np.float32),
                           (np.repeat(np.arange(len(lists)), lengths), np.concatenate(index))),
                          shape=(len(lists), len(unique)))  # repeats add up, as in a per-row sum
    parts = zscore_rows(keyword_scores(sim, floor, count))
    if weights is not None:
        parts *= np.asarray(weights, dtype=np.float32)[picked][:, None]
    matches = {int(r): KeywordMatch(kws, idx, table, floor, parts[i])
               for i, (r, kws, idx) in enumerate(zip(with_kw, lists, index, strict=True))}
    return matches, with_kw, parts


def fallback_scores(
    model: HybridRecommender,
    readers: Sequence[str],
    cands: pd.DataFrame,
    cidx: np.ndarray,
    cand_unit: np.ndarray,
) -> tuple[np.ndarray, FallbackInfo, dict[int, KeywordMatch]]:
    """Scores for readers without likes: interest keywords, else batch popularity.

    ``cidx`` is each candidate's model column (-1 if unseen) and ``cand_unit`` the unit-norm
    candidates in the similarity view. Returns scores of shape ``(len(readers), n_candidates)``,
    the popularity evidence and the keyword matches by row of ``readers``.
    """
    likes = np.zeros(len(cands), dtype=np.float32)
    if (cidx >= 0).any():
        pos = (model.prefs_[:, cidx[cidx >= 0]] > 0).sum(axis=0)
        likes[cidx >= 0] = np.asarray(pos).ravel()
    upvotes = cands["upvotes"].to_numpy(np.float32)
    popularity = np.log1p(np.maximum(upvotes, 0)) + np.log1p(likes)
    scores = np.tile(zscore_rows(popularity[None, :]), (len(readers), 1))
    matches, rows, parts = keyword_matches(model, readers, np.arange(len(readers)), cand_unit)
    # Keywords lead; popularity only breaks ties between equally matching papers.
    scores[rows] = parts + 0.01 * scores[rows]
    return scores, FallbackInfo(popularity > 0), matches


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
        # Each distinct keyword is encoded once (one transform call, not one per reader: at 100k
        # keyword readers that was most of `rank`); a reader's profile is the normalised mean of
        # their keywords' unit vectors, taken as one sparse product. TF-IDF stays sparse.
        lists = [model.keywords_[readers[i]] for i in keyword_rows]
        unique = list(dict.fromkeys(kw for kws in lists for kw in kws))
        where_kw = {kw: j for j, kw in enumerate(unique)}
        encoded = encode.transform(unique)
        unit = normalize(sp.csr_matrix(encoded, dtype=np.float32)) if sp.issparse(encoded) \
            else unit_dense(encoded)
        cols = np.fromiter((where_kw[kw] for kws in lists for kw in kws), dtype=np.int64)
        rows = np.repeat(np.arange(len(lists)), [len(kws) for kws in lists])
        member = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)),
                               shape=(len(lists), len(unique)))
        kw_block = normalize(member @ unit)
        parts.append(sp.csr_matrix(kw_block) if sp.issparse(vectors) else np.asarray(kw_block))
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
    like_counts = np.diff((model.prefs_ > 0).tocsr().indptr)
    has_pos[known] = like_counts[ridx[known]] > 0
    personal = np.flatnonzero(has_pos)
    space = lead_view(feats)
    cand_unit = unit_dense(feats[space])
    out = np.zeros((len(readers), n_c), dtype=np.float32)
    params = model.params_
    neighbours = likers = None
    keywords: dict[int, KeywordMatch] = {}
    collab_cols, collab = np.zeros(0, dtype=np.int64), None
    if len(personal) and n_c:
        needed_readers = ridx[personal]
        graph = model.graph_[needed_readers]
        mask = np.zeros(model.prefs_.shape[0], dtype=bool)  # faster than union1d on 5M ids
        mask[needed_readers] = True
        mask[graph.indices] = True
        needed = np.flatnonzero(mask)
        pos_in = np.searchsorted(needed, needed_readers)
        graph_needed = sp.csr_matrix(graph[:, needed])
        if params.smooth:
            blend = _content_blend(model, needed, feats)
            mixed = np.asarray(graph_needed @ blend)
            total = zscore_rows((1 - params.smooth) * blend[pos_in] + params.smooth * mixed)
        else:  # validation chose no neighbour mix: the neighbours' content scores are not needed
            total = zscore_rows(_content_blend(model, needed_readers, feats))
        in_model = cidx >= 0
        collab_cols = np.flatnonzero(in_model)
        collab = np.zeros((len(personal), len(collab_cols)), dtype=np.float32)
        if in_model.any():
            # Likes of the needed readers only: a (all readers x candidates) array would cost a
            # queue worker's chunk of 200 readers as much as ranking 100,000.
            cand_pos = np.zeros((len(needed), n_c), dtype=np.float32)
            cand_pos[:, in_model] = (model.prefs_[needed][:, cidx[in_model]] > 0).astype(np.float32).toarray()
            knn = np.asarray(graph_needed @ cand_pos, dtype=np.float32)
            if params.w_knn > 0:
                neighbours, likers = graph_needed, cand_pos
            knn_part = params.w_knn * zscore_rows(knn)
            total = total + knn_part
            collab += knn_part[:, collab_cols]
            als_cols = in_model & (cidx < model.n_als_papers_)
            if model.als_ is not None and params.w_als and als_cols.any():
                uf = np.asarray(model.als_.user_factors)[needed_readers]
                itf = np.zeros((n_c, uf.shape[1]), dtype=np.float32)
                itf[als_cols] = np.asarray(model.als_.item_factors)[cidx[als_cols]]
                als_part = params.w_als * zscore_rows(uf @ itf.T)
                total = total + als_part
                collab += als_part[:, collab_cols]
        out[personal] = total
        n_likes = like_counts[needed_readers].astype(np.float32)
        weight = KEYWORD_PRIOR_LIKES / (KEYWORD_PRIOR_LIKES + n_likes)
        keywords, kw_rows, kw_parts = keyword_matches(model, readers, personal, cand_unit, weight)
        out[kw_rows] += kw_parts
    cold = np.flatnonzero(~has_pos)
    fallback = None
    if len(cold) and n_c:
        cold_readers = [readers[i] for i in cold]
        out[cold], fallback, cold_kw = fallback_scores(model, cold_readers, cands, cidx, cand_unit)
        keywords.update({int(cold[i]): v for i, v in cold_kw.items()})
    # Highlights read sentences in the embedding space only: TF-IDF of one sentence is too thin.
    sentences = None
    if space == "embedding":
        sentences = candidate_sentences(model.encoder_, cands["abstract"].tolist())
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
        keywords=keywords,
        collab_cols=collab_cols,
        collab_part=collab,
        similarity_floor=SIMILARITY_FLOOR[space],
        sentences=sentences,
        calibrator=model.calibrator_,
        likes=likes,
        profiles=reader_profiles(model, readers, ridx, personal),
    )
