"""Like probabilities: calibrated on validation pairs, a threshold that can leave a list short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paperdigest.recommender import HybridRecommender, InputError
from paperdigest.recommender.calibration import (
    CalibrationSample,
    Calibrator,
    expected_calibration_error,
    reliability_bins,
)

from tests._recommender_helpers import synthetic_corpus, toy_candidates, toy_interactions, toy_papers

_LANGUAGE = [
    "language token translation corpus grammar",
    "sentence parsing grammar language corpus",
    "token language translation sentence parsing",
    "corpus grammar token sentence language",
    "translation parsing language corpus token",
    "grammar sentence token translation language",
    "language corpus parsing sentence grammar",
    "token translation grammar corpus sentence",
    "parsing language token grammar translation",
    "sentence corpus translation token language",
]
OFF_TOPIC = "Few-Shot Medical Image Segmentation with Foundation Features: pixel camera scene detection"


def _true_probability(z: np.ndarray, sim: np.ndarray, likes: np.ndarray) -> np.ndarray:
    logit = 1.2 * z + 5.0 * sim + 0.3 * np.log1p(likes)[:, None] - 7.0
    return 1 / (1 + np.exp(-logit))


def _draw(rng: np.random.Generator, n_readers: int = 400, n_papers: int = 300):
    z = rng.standard_normal((n_readers, n_papers))
    sim = np.clip(0.3 + 0.1 * z + 0.1 * rng.standard_normal(z.shape), -1, 1)
    likes = rng.integers(1, 200, n_readers)
    p = _true_probability(z, sim, likes)
    return z, sim, likes, p, rng.random(p.shape) < p


def test_calibrator_recovers_a_known_like_probability() -> None:
    rng = np.random.default_rng(0)
    z, sim, likes, _, liked = _draw(rng)
    # Negatives subsampled (and re-weighted) as inside fit: the base rate must survive that.
    cal = Calibrator().fit([CalibrationSample(z, sim, likes, liked, max_negatives=30_000)])
    z2, sim2, likes2, p2, liked2 = _draw(rng)
    est = cal.predict(z2, sim2, likes2)
    assert est.shape == p2.shape
    assert np.abs(est.mean() - p2.mean()) < 0.1 * p2.mean()
    assert expected_calibration_error(est, liked2) < 0.01
    # Against the known probability, bin by bin, not only on average.
    assert expected_calibration_error(est, p2) < 0.01
    assert np.corrcoef(est.ravel(), p2.ravel())[0, 1] > 0.95


def test_a_miscalibrated_estimate_has_a_large_ece() -> None:
    rng = np.random.default_rng(1)
    _, _, _, p, liked = _draw(rng)
    assert expected_calibration_error(np.sqrt(p), liked) > 0.05  # overconfident
    assert expected_calibration_error(np.full(5, 0.5), np.zeros(5, dtype=bool)) == pytest.approx(0.5)
    table = reliability_bins(np.array([0.05, 0.05, 0.95]), np.array([0, 1, 1]), bins=10)
    assert table["count"].tolist() == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert table["observed"][0] == 0.5 and table["observed"][9] == 1.0


@pytest.fixture(scope="module")
def topic_model() -> HybridRecommender:
    papers, inter = synthetic_corpus(seed=3)
    lang = [f"lang{i}" for i in range(len(_LANGUAGE))]
    papers = pd.concat([papers, pd.DataFrame({"id": lang, "title": _LANGUAGE})], ignore_index=True)
    cleo = pd.DataFrame({"reader": "cleo", "paper": lang, "kind": "like"})
    return HybridRecommender(content="tfidf").fit(papers, pd.concat([inter, cleo], ignore_index=True))


def _batch() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["lm-1", "lm-2", "med", "econ"],
        "title": ["Speculative decoding of language tokens for translation of a sentence corpus",
                  "Grammar parsing with a language corpus of tokens",
                  OFF_TOPIC,
                  "Market price auction demand and labor trade policy"],
    })


def test_topic_papers_clear_the_threshold_and_off_topic_ones_do_not(topic_model: HybridRecommender) -> None:
    assert topic_model.calibrator_.source_ == "validation"
    probs = dict(zip(_batch()["id"], topic_model.probability(["cleo"], _batch())[0], strict=True))
    assert min(probs["lm-1"], probs["lm-2"]) > 5 * max(probs["med"], probs["econ"])
    cut = (min(probs["lm-1"], probs["lm-2"]) + max(probs["med"], probs["econ"])) / 2
    ranked = topic_model.rank(["cleo"], _batch(), k=4, threshold=cut)["cleo"]
    assert sorted(r.paper_id for r in ranked) == ["lm-1", "lm-2"]
    assert all(r.probability >= cut for r in ranked)
    assert ranked == sorted(ranked, key=lambda r: -r.score)
    # Without a threshold the list is padded, and each item still says how likely it is.
    full = topic_model.rank(["cleo"], _batch(), k=4)["cleo"]
    assert len(full) == 4
    assert {r.paper_id: round(r.probability, 9) for r in full} == {
        p: round(float(v), 9) for p, v in probs.items()}


def test_a_batch_with_nothing_on_topic_gives_an_empty_list(topic_model: HybridRecommender) -> None:
    # z-scores would put the best off-topic paper on top; the probability does not.
    off = _batch().iloc[[2, 3]].reset_index(drop=True)
    lm = topic_model.probability(["cleo"], _batch())[0][:2].min()
    assert topic_model.rank(["cleo"], off, k=4, threshold=lm / 2)["cleo"] == []
    assert len(topic_model.rank(["cleo"], off, k=4, threshold=0.0)["cleo"]) == 2


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5"])
def test_threshold_outside_zero_one_is_refused(topic_model: HybridRecommender, bad: object) -> None:
    with pytest.raises(InputError, match=r"threshold is a like probability and must be in \[0, 1\]"):
        topic_model.rank(["cleo"], _batch(), k=4, threshold=bad)  # type: ignore[arg-type]


def test_calibrator_round_trips_through_the_model_file(tmp_path: Path, topic_model: HybridRecommender,
                                                       ) -> None:
    path = tmp_path / "m.npz"
    topic_model.save(path)
    loaded = HybridRecommender.load(path)
    cal, back = topic_model.calibrator_, loaded.calibrator_
    np.testing.assert_array_equal(back.coef_, cal.coef_)
    np.testing.assert_array_equal(back.iso_x_, cal.iso_x_)
    assert (back.intercept_, back.source_, back.n_positive_) == (cal.intercept_, cal.source_, cal.n_positive_)
    readers = ["cleo", "r0", "stranger"]
    batch = _batch()
    np.testing.assert_array_equal(loaded.probability(readers, batch), topic_model.probability(readers, batch))
    for m in (loaded, topic_model):
        assert m.rank(readers, batch, k=3, threshold=0.05) == loaded.rank(readers, batch, k=3, threshold=0.05)


def test_small_corpora_are_calibrated_by_leaving_likes_out() -> None:
    model = HybridRecommender(content="tfidf").fit(toy_papers(), toy_interactions())
    assert model.calibrator_.source_ == "leave-one-out"
    probs = model.probability(["graph-fan-0"], toy_candidates())[0]
    assert ((probs >= 0) & (probs <= 1)).all()
    assert probs[[0, 2]].min() > probs[[1, 3]].max()  # graph papers likelier for a graph reader


def test_nothing_to_learn_from_gives_nan_and_no_cut() -> None:
    one_like = toy_interactions().groupby("reader").head(1)
    model = HybridRecommender(content="tfidf").fit(toy_papers(), one_like)
    assert model.calibrator_.source_ == "none"
    ranked = model.rank(["graph-fan-0"], toy_candidates(), k=4, threshold=0.5)["graph-fan-0"]
    assert len(ranked) == 4 and all(np.isnan(r.probability) for r in ranked)


def test_profile_similarity_of_chosen_candidates_matches_the_full_product() -> None:
    import scipy.sparse as sp
    from paperdigest.recommender.calibration import profile_similarity

    rng = np.random.default_rng(2)
    profiles = rng.standard_normal((7, 5)).astype(np.float32)
    for n_cands, width in ((40, 3), (12, 3)):  # a gather, then one product (few candidates)
        cands = rng.standard_normal((n_cands, 5)).astype(np.float32)
        cols = np.argsort(rng.random((7, n_cands)), axis=1)[:, :width]
        full = profiles @ cands.T
        for prof in (profiles, sp.csr_matrix(profiles)):
            np.testing.assert_allclose(profile_similarity(prof, cands, cols),
                                       np.take_along_axis(full, cols, axis=1), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(profile_similarity(prof, cands), full, rtol=1e-5, atol=1e-6)
