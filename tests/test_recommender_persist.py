"""The saved-model format: arrays + JSON in one .npz, no pickle, its attribute set pinned."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paperdigest.recommender import HybridRecommender
from paperdigest.recommender.persist import FORMAT_VERSION, SAVED_ATTRIBUTES, read_extra

from tests._recommender_helpers import toy_candidates, toy_interactions, toy_papers


@pytest.fixture(scope="module")
def model() -> HybridRecommender:
    return HybridRecommender(content="tfidf").fit(toy_papers(), toy_interactions())


def test_saved_attribute_set_is_pinned(tmp_path: Path, model: HybridRecommender) -> None:
    # Adding state to the model (or to the file) must come with a new FORMAT_VERSION: when this
    # test fails, extend recommender/persist.py, bump the version and update the lists below.
    assert FORMAT_VERSION == 4
    assert sorted(vars(model)) == sorted(SAVED_ATTRIBUTES)
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:
        names = sorted(npz.files)
        meta = json.loads(npz["meta"].tobytes())
    assert names == sorted([
        "meta", "papers.upvotes", "fit_liked", "rff.offset", "rff.weights", "tfidf.idf",
        "calibrator.coef", "calibrator.iso_x", "calibrator.iso_y",
        *(f"{m}.{part}" for m in ("prefs", "unit", "graph", "features.tfidf")
          for part in ("data", "indices", "indptr", "shape")),
        *(f"view.{name}.precision" for name in model.views_),
        *(["als.item_factors", "als.user_factors"] if model.als_ is not None else []),
        *(["factor_map.map"] if model.factor_map_ is not None else []),
        *(["pop_map.map"] if model.pop_map_ is not None else []),
        *(["knn_map.factors", "knn_map.unit"] if model.knn_map_ is not None else []),
    ])
    assert sorted(meta) == ["calibrator", "encoder", "extra", "format", "hyper", "keywords", "maps",
                            "n_als_papers", "papers", "params", "readers", "rff", "tfidf",
                            "version", "views"]


def test_unsaved_state_cannot_be_saved(tmp_path: Path) -> None:
    model = HybridRecommender(content="tfidf").fit(toy_papers(), toy_interactions())
    model.new_state_ = 1
    with pytest.raises(TypeError, match="new_state_ have no place in model format"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_round_trip_keeps_every_score_and_the_update_path(tmp_path: Path, model: HybridRecommender) -> None:
    path = tmp_path / "m.npz"
    model.save(path, extra={"watermark_id": 7})
    assert read_extra(path) == {"watermark_id": 7}
    loaded = HybridRecommender.load(path)
    readers = [*sorted(model.reader_index_), "stranger"]
    cands = toy_candidates()
    np.testing.assert_array_equal(loaded.score(readers, cands), model.score(readers, cands))
    assert loaded.params_ == model.params_
    # The light update after loading gives what it gives on the fitted model.
    fresh = HybridRecommender.load(path)
    like = pd.DataFrame({"reader": [readers[0]], "paper": [cands["id"].iloc[0]], "kind": ["like"]})
    for m in (fresh, loaded):
        m.update(papers=cands)
        m.update(interactions=like)
    again = HybridRecommender.load(path)
    again.update(papers=cands)
    again.update(interactions=like)
    np.testing.assert_array_equal(again.score(readers, cands), loaded.score(readers, cands))
    assert loaded.rank(readers, cands, k=3, diversity=0.3) == again.rank(readers, cands, k=3, diversity=0.3)
