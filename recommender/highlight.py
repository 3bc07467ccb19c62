"""The personal highlight: the one abstract sentence closest to what the reader likes.

Each candidate's abstract is split into sentences and every sentence embedded once per batch
(the encoder caches by text, so once per paper across batches), whatever the number of readers.
For one pick the evidence is a single vector: the reader's liked paper most similar to the pick,
else the interest keywords it matched. The highlight is the sentence with the highest cosine to
that vector, computed only for the distinct (candidate, evidence) pairs of the whole batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from paperdigest.recommender.text import split_sentences

__all__ = ["CandidateSentences", "candidate_sentences", "pick_sentences"]

# A single-sentence abstract has nothing to choose between; it is no highlight.
_MIN_SENTENCES = 2


@dataclass(frozen=True)
class CandidateSentences:
    """Abstract sentences of a batch (``n_s`` sentences over ``n_c`` candidates).

    Attributes
    ----------
    texts : list of str, length n_s
        Sentences, candidate after candidate, in abstract order.
    vectors : ndarray of float32, shape (n_s, d)
        Their unit-norm embeddings.
    start : ndarray of int, shape (n_c + 1,)
        Sentences of candidate ``c`` are ``texts[start[c]:start[c + 1]]``.
    """

    texts: list[str]
    vectors: np.ndarray
    start: np.ndarray


def candidate_sentences(encoder: Any, abstracts: Sequence[str]) -> CandidateSentences:
    """Split ``abstracts`` into sentences and embed them all in one ``encoder.transform`` call."""
    per = [split_sentences(a) for a in abstracts]
    per = [s if len(s) >= _MIN_SENTENCES else [] for s in per]
    start = np.zeros(len(per) + 1, dtype=np.int64)
    start[1:] = np.cumsum([len(s) for s in per])
    texts = [s for sents in per for s in sents]
    vectors = np.asarray(encoder.transform(texts), dtype=np.float32) if texts else np.zeros((0, 0))
    return CandidateSentences(texts, vectors, start)


def pick_sentences(sentences: CandidateSentences, cands: np.ndarray, evidence: np.ndarray,
                   vectors: np.ndarray) -> list[str | None]:
    """The highlight of each pick: ``cands[i]`` read against ``vectors[evidence[i]]``.

    Parameters
    ----------
    cands : ndarray of int, shape (n,)
        Candidate column of each pick.
    evidence : ndarray of int, shape (n,)
        Row of ``vectors`` that stands for what the reader likes, -1 for none.
    vectors : ndarray of float32, shape (n_evidence, d)
        Unit-norm evidence vectors in the sentence embedding space.

    Returns
    -------
    list of str or None
        None where the pick has no evidence or its abstract has fewer than two sentences.
    """
    out = np.full(len(cands), None, dtype=object)
    counts = np.diff(sentences.start)
    ok = (evidence >= 0) & (counts[cands] > 0)
    if not ok.any():
        return out.tolist()
    # Distinct (candidate, evidence) pairs: many readers share both, the work is done once. One
    # int64 key per pair sorts by candidate first, so each candidate's pairs are one slice.
    n_ev = np.int64(len(vectors))
    keys, inverse = np.unique(cands[ok].astype(np.int64) * n_ev + evidence[ok], return_inverse=True)
    pair_c, pair_e = keys // n_ev, keys % n_ev
    best = np.empty(len(keys), dtype=np.int64)
    bounds = [0, *(np.flatnonzero(np.diff(pair_c)) + 1).tolist(), len(keys)]
    for a, b in itertools.pairwise(bounds):
        c = int(pair_c[a])
        lo, hi = int(sentences.start[c]), int(sentences.start[c + 1])
        sims = vectors[pair_e[a:b]] @ sentences.vectors[lo:hi].T  # (n_evidence, n_sentences)
        best[a:b] = lo + sims.argmax(axis=1)
    texts = np.array(sentences.texts, dtype=object)
    out[ok] = texts[best[np.ravel(inverse)]]
    return out.tolist()
