"""Reasons from the score itself, and the highlight sentence, for every pick of a batch.

A pick's score is a sum of parts (:class:`~paperdigest.recommender.blend.ScoreBreakdown`): the
content part (built from the reader's likes), the collaborative part (neighbours' likes and ALS,
only for papers the model has seen liked) and the keyword part. The reason names the largest
part that has true evidence to show:

- content: the liked paper most similar to the pick, only at or above the similarity floor;
- keywords: every interest keyword the pick matches at or above the keyword floor;
- collaborative: "liked by N readers with similar taste", when N >= 2 of the reader's neighbours
  liked it.

When the carrying part has no such evidence, the next part that has some is named; when none
has, the reason says so plainly instead of citing a weak match. Within one list a liked paper is
cited at most :data:`MAX_REPEATS` times while another true reason exists for the pick.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import scipy.sparse as sp
from paperdigest.recommender.blend import KeywordMatch, KeywordTable, ScoreBreakdown
from paperdigest.recommender.highlight import pick_sentences

__all__ = ["MAX_REPEATS", "pick_reasons"]

MAX_REPEATS = 2
_GENERIC = "matches your reading history"
_WEAK_KEYWORDS = "closest to your interests in this batch (no strong match)"


def _short(title: str, limit: int = 80) -> str:
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def _similar(title: str) -> str:
    return f"similar to ‘{_short(title)}’"


def _keywords_reason(kws: list[str]) -> str:
    quoted = [f"‘{_short(k, 60)}’" for k in kws[:3]]
    if len(quoted) == 1:
        return f"matches your interest {quoted[0]}"
    return f"matches your interests {', '.join(quoted[:-1])} and {quoted[-1]}"


def _matched_rows(kw: KeywordMatch, cols: np.ndarray) -> list[list[str]]:
    """Per candidate in ``cols``: the keywords it matches at or above the floor, best first."""
    sim = kw.similarity[:, cols]
    order = np.argsort(-sim, axis=0, kind="stable")
    ok = np.take_along_axis(sim, order, axis=0) >= kw.floor
    return [[kw.keywords[i] for i in order[ok[:, j], j]] for j in range(len(cols))]


def _best_liked(history: sp.csr_matrix, top: np.ndarray, sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (personal reader, pick): the most similar liked paper's column and its cosine.

    ``history`` is ``(n_p, n_papers)``, ``top`` ``(n_p, k)`` candidate columns, ``sim``
    ``(n_papers, n_candidates)``. Vectorised over all likes at once (1M picks for 100k readers);
    -1 and -inf where the reader has no likes.
    """
    col = np.full(top.shape, -1, dtype=np.int64)
    best = np.full(top.shape, -np.inf, dtype=np.float32)
    if history.nnz == 0 or top.size == 0:
        return col, best
    counts = np.diff(history.indptr)
    owner = np.repeat(np.arange(history.shape[0]), counts)
    values = sim[history.indices[:, None], top[owner]]  # (n_likes, k)
    has = np.flatnonzero(counts > 0)
    starts = history.indptr[:-1][has]
    best_has = np.maximum.reduceat(values, starts, axis=0)
    seg = np.searchsorted(has, owner)
    entry = np.where(values >= best_has[seg], np.arange(len(owner))[:, None], len(owner))
    first = np.minimum.reduceat(entry, starts, axis=0)
    col[has] = history.indices[np.minimum(first, len(owner) - 1)]
    best[has] = best_has
    return col, best


def _keyword_only_reasons(breakdown: ScoreBreakdown, rows: list[int], top: np.ndarray, n_valid: np.ndarray,
                          reasons: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, KeywordTable]]:
    """Reasons (in place) for the ``rows`` whose readers have keywords and no likes, all at once.

    A pick's reason quotes the (up to 3) keywords it matches at or above the floor, best first,
    else the weak note; the strings are built once per distinct quote. Returns, per group of rows
    sharing a keyword table and a keyword count, the rows, each pick's best keyword as a row of
    the table ``(n_rows, k)`` (the highlight's evidence) and the table.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for row in rows:
        kw = breakdown.keywords[row]
        groups.setdefault((id(kw.table), len(kw.index)), []).append(row)
    out = []
    k = top.shape[1]
    for members in groups.values():
        at = np.array(members, dtype=np.int64)
        first = breakdown.keywords[members[0]]
        table, floor = first.table, first.floor
        idx = np.vstack([breakdown.keywords[r].index for r in members])  # (g, n_kw)
        sim = table.similarity[idx[:, :, None], top[at][:, None, :]]  # (g, n_kw, k)
        order = np.argsort(-sim, axis=1, kind="stable")  # as _matched_rows: best first, stable
        ranked = np.take_along_axis(np.broadcast_to(idx[:, :, None], sim.shape), order, axis=1)
        ok = np.take_along_axis(sim, order, axis=1) >= floor
        quote = np.where(ok, ranked, -1)[:, :3, :]  # (g, <=3, k): the quoted keywords' rows
        if quote.shape[1] < 3:
            quote = np.pad(quote, ((0, 0), (0, 3 - quote.shape[1]), (0, 0)), constant_values=-1)
        valid = np.arange(k)[None, :] < n_valid[at][:, None]
        keys = quote.transpose(0, 2, 1)[valid]  # (n_picks, 3)
        if len(keys):
            uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
            texts = np.array([_keywords_reason([table.keywords[i] for i in key if i >= 0]) if key[0] >= 0
                              else _WEAK_KEYWORDS for key in uniq.tolist()], dtype=object)
            block = reasons[at]
            block[valid] = texts[np.ravel(inverse)]
            reasons[at] = block
        out.append((at, ranked[:, 0, :], table))
    return out


def pick_reasons(
    breakdown: ScoreBreakdown, top: np.ndarray, n_valid: np.ndarray
) -> tuple[np.ndarray, list[list[str | None]]]:
    """Reasons ``(n_r, k)`` (object array of str) and highlights (per row, per pick) for ``top``.

    ``top`` holds each row's picked candidate columns; only the first ``n_valid[row]`` count.
    """
    n_r, k = top.shape
    reasons = np.full(top.shape, _GENERIC, dtype=object)
    personal = breakdown.personal
    raw = np.take_along_axis(breakdown.scores, top, axis=1)
    floor = breakdown.similarity_floor
    liked_col = np.full(top.shape, -1, dtype=np.int64)
    liked_sim = np.full(top.shape, -np.inf, dtype=np.float32)
    sim = None
    if len(personal):
        # Cosines of the liked papers only (rows of the others stay 0 and are never read): all the
        # model's papers would cost a queue worker's small chunk more than its ranking.
        used = np.unique(breakdown.history.indices)
        known = breakdown.paper_vectors[used]
        known = known.toarray() if sp.issparse(known) else np.asarray(known)
        n_papers, n_c = breakdown.paper_vectors.shape[0], breakdown.candidate_unit.shape[0]
        sim = np.zeros((n_papers, n_c), dtype=np.float32)
        sim[used] = known @ breakdown.candidate_unit.T
        liked_col[personal], liked_sim[personal] = _best_liked(breakdown.history, top[personal], sim)
    # Collaborative part and "liked by N" count at each personal pick.
    collab = np.zeros(top.shape, dtype=np.float32)
    n_like = np.zeros(top.shape, dtype=np.int32)
    if len(personal) and breakdown.collab_part is not None and len(breakdown.collab_cols):
        where = np.full(len(breakdown.candidate_ids), -1, dtype=np.int64)
        where[breakdown.collab_cols] = np.arange(len(breakdown.collab_cols))
        at = where[top[personal]]
        part = np.take_along_axis(breakdown.collab_part, np.maximum(at, 0), axis=1)
        collab[personal] = np.where(at >= 0, part, 0.0)
        if breakdown.neighbours is not None and breakdown.candidate_likers is not None:
            likers = breakdown.candidate_likers[:, breakdown.collab_cols]
            counts = np.asarray((breakdown.neighbours > 0).astype(np.float32) @ likers).round()
            got = np.take_along_axis(counts, np.maximum(at, 0), axis=1).astype(np.int32)
            n_like[personal] = np.where(at >= 0, got, 0)
    social = n_like >= 2
    has_liked = liked_sim >= floor
    content = raw - collab
    # Vectorised choice for readers without keywords (the many); keyword rows are redone below.
    use_social = social & ((collab > content) | ~has_liked)
    is_personal = np.zeros(n_r, dtype=bool)
    is_personal[personal] = True
    use_liked = has_liked & ~use_social & is_personal[:, None]
    if use_liked.any():
        uniq, inverse = np.unique(liked_col[use_liked], return_inverse=True)
        titles = np.array([_similar(t) for t in breakdown.paper_titles[uniq]], dtype=object)
        reasons[use_liked] = titles[np.ravel(inverse)]
    if use_social.any():
        reasons[use_social] = [f"liked by {int(n)} readers with similar taste" for n in n_like[use_social]]
    fb = breakdown.fallback
    if fb is not None and (~is_personal).any():
        notes = np.array(["new in this batch", "popular in this batch"], dtype=object)
        reasons[~is_personal] = notes[fb.popular[top[~is_personal]].astype(np.int64)]
    # Rows needing per-pick care: keyword readers, and lists citing one liked paper too often.
    evidence_kw: dict[tuple[int, int], np.ndarray] = {}
    # Keyword-only readers (no likes: the keywords are all there is) are done in one pass.
    only_kw = [row for row in breakdown.keywords if not is_personal[row]]
    kw_best = _keyword_only_reasons(breakdown, only_kw, top, n_valid, reasons)
    redo = set(breakdown.keywords) - set(only_kw)
    valid = np.arange(k)[None, :] < n_valid[:, None]
    # Sorting each row's cited papers puts repeats side by side: MAX_REPEATS + 1 equal in a row.
    cited = np.sort(np.where(use_liked & valid, liked_col, -2 - np.arange(k)[None, :]), axis=1)
    if k > MAX_REPEATS:
        redo.update(np.flatnonzero((cited[:, MAX_REPEATS:] == cited[:, :-MAX_REPEATS]).any(axis=1)).tolist())
    history = breakdown.history
    for row in sorted(redo):
        kw = breakdown.keywords.get(row)
        p = int(np.searchsorted(personal, row)) if is_personal[row] else -1
        likes = history.indices[history.indptr[p]: history.indptr[p + 1]] if p >= 0 else np.zeros(0, np.int64)
        uses: Counter[int] = Counter()
        n = int(n_valid[row])
        # Per row once: the keywords each pick matches (best first), and the likes' similarities.
        matched = [[] for _ in range(n)] if kw is None else _matched_rows(kw, top[row, :n])
        like_sim = sim[likes][:, top[row, :n]] if p >= 0 and len(likes) else None
        for j in range(n):
            c = int(top[row, j])
            kw_part = float(kw.part[c]) if kw is not None else 0.0
            parts = {"content": float(raw[row, j] - collab[row, j] - kw_part) if p >= 0 else -np.inf,
                     "keywords": kw_part if kw is not None else -np.inf,
                     "social": float(collab[row, j]) if p >= 0 else -np.inf}
            options: dict[str, list[tuple[str, int]]] = {"content": [], "keywords": [], "social": []}
            if like_sim is not None and like_sim[:, j].max() >= floor:
                s = like_sim[:, j]
                for i in np.argsort(-s, kind="stable")[:5]:
                    if s[i] >= floor:
                        options["content"].append((_similar(breakdown.paper_titles[likes[i]]), int(likes[i])))
            if matched[j]:
                options["keywords"].append((_keywords_reason(matched[j]), -1))
            if social[row, j]:
                options["social"].append((f"liked by {int(n_like[row, j])} readers with similar taste", -1))
            true = [(name, o) for name in sorted(parts, key=parts.get, reverse=True) for o in options[name]]
            if not true:
                if p < 0:
                    reasons[row, j] = _WEAK_KEYWORDS if kw is not None else reasons[row, j]
                continue
            # The carrying part first; a liked paper already cited MAX_REPEATS times yields to the next
            # true reason, if there is one.
            fresh = [t for t in true if t[1][1] < 0 or uses[t[1][1]] < MAX_REPEATS]
            name, (text, paper) = (fresh or true)[0]
            reasons[row, j] = text
            if paper >= 0:
                uses[paper] += 1
                liked_col[row, j] = paper
            elif name == "keywords" and kw is not None:
                evidence_kw[(row, j)] = kw.vector(kw.keywords.index(matched[j][0]))
    return reasons, _highlights(breakdown, top, n_valid, liked_col, evidence_kw, kw_best)


def _highlights(breakdown: ScoreBreakdown, top: np.ndarray, n_valid: np.ndarray, liked_col: np.ndarray,
                evidence_kw: dict[tuple[int, int], np.ndarray],
                kw_best: list[tuple[np.ndarray, np.ndarray, KeywordTable]]) -> list[list[str | None]]:
    """Per pick, the abstract sentence closest to the evidence behind it (see :mod:`highlight`)."""
    n_r, k = top.shape
    sentences = breakdown.sentences
    if sentences is None or not len(sentences.texts):
        return [[None] * k for _ in range(n_r)]
    # Evidence rows: liked papers first, then keyword vectors (fallback readers' best keyword).
    evidence = liked_col.copy()
    used = np.unique(evidence[evidence >= 0])
    # (0, d) when no pick rests on a liked paper (a batch of keyword-only readers): keep d explicit.
    picked = breakdown.paper_vectors[used]
    picked = picked.toarray() if hasattr(picked, "toarray") else picked
    vectors = [np.asarray(picked, dtype=np.float32).reshape(len(used), breakdown.paper_vectors.shape[1])]
    remap = np.full(max(int(evidence.max()) + 1, 1), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    evidence = np.where(evidence >= 0, remap[np.maximum(evidence, 0)], -1)
    offset = len(used)
    for i, (row, j) in enumerate(evidence_kw):
        evidence[row, j] = offset + i
    if evidence_kw:
        vectors.append(np.vstack(list(evidence_kw.values())).astype(np.float32))
        offset += len(evidence_kw)
    # Keyword-only readers: each pick's best keyword (each keyword table joins once).
    starts: dict[int, int] = {}
    for rows, best, table in kw_best:
        if id(table) not in starts:
            starts[id(table)] = offset
            vectors.append(np.asarray(table.vectors, dtype=np.float32))
            offset += len(table.vectors)
        evidence[rows] = starts[id(table)] + best
    table = np.vstack(vectors)
    flat = pick_sentences(sentences, top.ravel(), evidence.ravel(), table)
    return [flat[r * k: r * k + int(n_valid[r])] + [None] * (k - int(n_valid[r])) for r in range(n_r)]
