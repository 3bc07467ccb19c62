"""The hybrid on toy corpora where the right answer is obvious."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paperdigest.recommender import HybridRecommender, Recommendation
from paperdigest.recommender.text import embeddings_available

from tests._recommender_helpers import (
    synthetic_corpus,
    toy_candidates,
    toy_interactions,
    toy_papers,
)


@pytest.fixture(scope="module")
def model() -> HybridRecommender:
    readers = pd.DataFrame({"reader": ["newcomer"], "keywords": [["image segmentation"]]})
    return HybridRecommender(content="tfidf").fit(toy_papers(), toy_interactions(), readers)


def test_graph_reader_gets_graph_papers_first(model: HybridRecommender) -> None:
    ranked = model.rank(["graph-fan-0", "vision-fan-0"], toy_candidates(), k=4)
    assert {r.paper_id for r in ranked["graph-fan-0"][:2]} == {"new-g1", "new-g2"}
    assert {r.paper_id for r in ranked["vision-fan-0"][:2]} == {"new-v1", "new-v2"}
    assert all(isinstance(r, Recommendation) for r in ranked["graph-fan-0"])
    scores = [r.score for r in ranked["graph-fan-0"]]
    assert scores == sorted(scores, reverse=True)


def test_reasons_name_a_liked_title(model: HybridRecommender) -> None:
    top = model.rank(["graph-fan-0"], toy_candidates(), k=1)["graph-fan-0"][0]
    assert top.reason.startswith("similar to ‘")
    assert any(t in top.reason for t in toy_papers()["title"].str[:30])


def test_keyword_reader_and_unknown_reader(model: HybridRecommender) -> None:
    cands = toy_candidates().assign(upvotes=[0, 0, 0, 50])
    ranked = model.rank(["newcomer", "stranger"], cands, k=4)
    assert ranked["newcomer"][0].paper_id in {"new-v1", "new-v2"}
    assert ranked["newcomer"][0].reason == "matches your interest ‘image segmentation’"
    assert ranked["stranger"][0].paper_id == "new-v2"  # most upvoted
    assert ranked["stranger"][0].reason == "popular in this batch"


def test_exclusions_threshold_and_k(model: HybridRecommender) -> None:
    cands = pd.concat([toy_candidates(), toy_papers().iloc[[0]]], ignore_index=True)
    ranked = model.rank(["graph-fan-0"], cands, k=10, exclude={"graph-fan-0": {"new-g1"}})
    ids = [r.paper_id for r in ranked["graph-fan-0"]]
    assert "new-g1" not in ids and "g0" not in ids  # excluded, and already liked
    assert len(ids) == 3
    assert len(model.rank(["graph-fan-0"], toy_candidates(), k=4, threshold=0.0)["graph-fan-0"]) == 4
    # The threshold is a like probability: a cut between the 2nd and 3rd keeps the first two.
    probs = sorted(model.probability(["graph-fan-0"], toy_candidates())[0], reverse=True)
    cut = (probs[1] + probs[2]) / 2
    high = model.rank(["graph-fan-0"], toy_candidates(), k=4, threshold=cut)["graph-fan-0"]
    assert len(high) == 2 and all(r.probability >= cut for r in high)


def test_diversity_mixes_topics() -> None:
    papers, inter = toy_papers(), toy_interactions()
    # A reader who likes both topics, but graphs more.
    extra = pd.DataFrame(
        [("both", "g0", "like"), ("both", "g1", "like"), ("both", "g2", "like"), ("both", "v0", "like")],
        columns=["reader", "paper", "kind"],
    )
    model = HybridRecommender(content="tfidf").fit(papers, pd.concat([inter, extra]))
    cands = toy_candidates()
    plain = [r.paper_id for r in model.rank(["both"], cands, k=2)["both"]]
    mixed = [r.paper_id for r in model.rank(["both"], cands, k=2, diversity=0.9)["both"]]
    assert plain[0] == mixed[0]
    assert {p[4] for p in mixed} == {"g", "v"}


def test_update_makes_a_new_like_count() -> None:
    model = HybridRecommender(content="tfidf").fit(toy_papers(), toy_interactions())
    cands = toy_candidates()
    before = model.rank(["late"], cands, k=4)["late"]
    assert before[0].reason in {"new in this batch", "popular in this batch"}
    model.update(interactions=pd.DataFrame({"reader": ["late"], "paper": ["v3"], "kind": ["like"]}))
    after = model.rank(["late"], cands, k=2)["late"]
    assert {r.paper_id for r in after} == {"new-v1", "new-v2"}
    # A new paper can be added and liked without a refit; it is then excluded for that reader.
    model.update(
        papers=cands.iloc[[0]],
        interactions=pd.DataFrame({"reader": ["late"], "paper": ["new-g1"], "kind": ["like"]}),
    )
    assert "new-g1" not in {r.paper_id for r in model.rank(["late"], cands, k=4)["late"]}


def test_collaborative_signal_lifts_what_similar_readers_liked() -> None:
    papers, inter = synthetic_corpus(seed=1)
    model = HybridRecommender(content="tfidf", random_state=0).fit(papers, inter)
    assert model.params_.validation  # tuned on a validation split
    # A batch paper liked by the readers closest to r0 comes first for r0.
    liked = set(inter.loc[inter.reader == "r0", "paper"])
    twin = inter[inter.paper.isin(liked)].groupby("reader").size().drop("r0").idxmax()
    cands = pd.DataFrame({"id": ["hot", "cold"], "title": ["market price labor", "market price labor"]})
    model.update(papers=cands)
    model.update(interactions=pd.DataFrame({"reader": [twin], "paper": ["hot"], "kind": ["like"]}))
    top = model.rank(["r0"], cands, k=2)["r0"]
    assert top[0].paper_id == "hot"


def test_early_likes_of_a_new_paper_reach_similar_readers_through_als(tmp_path: Path) -> None:
    papers, inter = synthetic_corpus(seed=1)
    model = HybridRecommender(content="tfidf", random_state=0).fit(papers, inter)
    model.params_.w_knn, model.params_.w_als = 0.0, 1.0  # the ALS part alone carries the lift
    liked = set(inter.loc[inter.reader == "r0", "paper"])
    twins = inter[inter.paper.isin(liked)].groupby("reader").size().drop("r0").nlargest(3).index
    cands = pd.DataFrame({"id": ["hot", "cold"], "title": ["market price labor", "market price labor"]})
    model.update(papers=cands)
    even = model.score(["r0"], cands)[0]
    assert even[0] == pytest.approx(even[1])  # same text, nobody's reaction yet
    n_before = model.n_als_papers_
    model.update(interactions=pd.DataFrame({"reader": list(twins), "paper": "hot", "kind": "like"}))
    hot = model.paper_index_["hot"]
    assert model.n_als_papers_ == hot + 1 > n_before
    assert np.abs(model.als_.item_factors[hot]).sum() > 0
    assert model.paper_index_["cold"] >= model.n_als_papers_  # nobody liked it: no factors
    lifted = model.score(["r0"], cands)[0]
    assert lifted[0] > lifted[1]
    model.save(tmp_path / "m.bin")  # the folded-in factors persist
    again = HybridRecommender.load(tmp_path / "m.bin").score(["r0"], cands)[0]
    assert np.allclose(again, lifted, atol=1e-5)


def test_als_fold_in_takes_papers_without_likes_at_the_fit_only() -> None:
    papers, inter = synthetic_corpus(seed=1)
    unliked = sorted(set(papers["id"]) - set(inter["paper"]))[0]  # in the fit, liked by nobody
    liked = inter["paper"].value_counts().index[0]
    model = HybridRecommender(content="tfidf", random_state=0).fit(papers, inter)
    col_unliked, col_liked = model.paper_index_[unliked], model.paper_index_[liked]
    before = np.array(model.als_.item_factors)
    fans = set(inter.loc[inter.paper == liked, "reader"])
    likers = [r for r in inter["reader"].unique() if r not in fans][:3]
    model.update(interactions=pd.DataFrame({"reader": likers * 2, "paper": [unliked] * 3 + [liked] * 3,
                                            "kind": "like"}))
    after = np.asarray(model.als_.item_factors)
    assert not np.allclose(after[col_unliked], before[col_unliked])  # a batch liked after the refit
    assert np.array_equal(after[col_liked], before[col_liked])  # the fit learnt this one already


def test_save_and_load_round_trip(tmp_path: Path, model: HybridRecommender) -> None:
    path = tmp_path / "model.bin"
    model.save(path)
    loaded = HybridRecommender.load(path)
    cands = toy_candidates()
    assert loaded.rank(["graph-fan-1"], cands, k=4) == model.rank(["graph-fan-1"], cands, k=4)
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


@pytest.mark.skipif(not embeddings_available(), reason="sentence-transformers not installed")
def test_embedding_backend_ranks_by_meaning(tmp_path: Path) -> None:
    model = HybridRecommender(content="embedding", cache_dir=tmp_path).fit(toy_papers(), toy_interactions())
    assert "embedding" in model.views_
    cands = pd.DataFrame(
        {"id": ["a", "b"], "title": ["Learning on molecular graphs", "Photographs of street scenes"]}
    )
    ranked = model.rank(["graph-fan-0", "vision-fan-0"], cands, k=2)
    assert ranked["graph-fan-0"][0].paper_id == "a"
    assert ranked["vision-fan-0"][0].paper_id == "b"
    assert any((tmp_path / "embeddings").rglob("shard-*.npz"))  # encodings cached on disk
