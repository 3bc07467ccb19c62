"""Bad input gives a defined result or one clear error, never a crash or a silent wrong answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paperdigest.recommender import (
    HybridRecommender,
    InputError,
    ModelFormatError,
    NotFittedError,
    RecommenderError,
)
from paperdigest.recommender.hybrid import FORMAT_VERSION

from tests._recommender_helpers import toy_candidates, toy_interactions, toy_papers


@pytest.fixture(scope="module")
def model() -> HybridRecommender:
    return HybridRecommender(content="tfidf").fit(toy_papers(), toy_interactions())


def test_errors_are_value_errors() -> None:
    assert issubclass(RecommenderError, ValueError)
    for cls in (InputError, ModelFormatError, NotFittedError):
        assert issubclass(cls, RecommenderError)


def test_unknown_paper_in_interactions() -> None:
    bad = pd.concat([toy_interactions(), pd.DataFrame([{"reader": "a", "paper": "zzz"}])])
    with pytest.raises(InputError, match="unknown paper id 'zzz'"):
        HybridRecommender(content="tfidf").fit(toy_papers(), bad)


def test_missing_columns_and_bad_kind() -> None:
    with pytest.raises(InputError, match="missing column"):
        HybridRecommender(content="tfidf").fit(toy_papers().drop(columns="title"), toy_interactions())
    with pytest.raises(InputError, match="unknown kind 'love'"):
        HybridRecommender(content="tfidf").fit(toy_papers(), toy_interactions().assign(kind="love"))
    with pytest.raises(InputError, match="content must be"):
        HybridRecommender(content="bert").fit(toy_papers(), toy_interactions())


def test_unknown_reader_and_reader_without_history(model: HybridRecommender) -> None:
    ranked = model.rank(["ghost"], toy_candidates(), k=2)
    assert len(ranked["ghost"]) == 2


def test_empty_candidate_list(model: HybridRecommender) -> None:
    assert model.rank(["graph-fan-0"], toy_candidates().iloc[:0], k=3) == {"graph-fan-0": []}
    assert model.rank([], toy_candidates(), k=3) == {}


def test_batch_of_one_paper(model: HybridRecommender) -> None:
    ranked = model.rank(["graph-fan-0", "ghost"], toy_candidates().iloc[:1], k=5)
    assert [r.paper_id for r in ranked["graph-fan-0"]] == ["new-g1"]
    assert np.isfinite(ranked["graph-fan-0"][0].score)


def test_duplicate_interactions_count_once() -> None:
    inter = toy_interactions()
    doubled = pd.concat([inter, inter], ignore_index=True)
    a = HybridRecommender(content="tfidf").fit(toy_papers(), inter)
    b = HybridRecommender(content="tfidf").fit(toy_papers(), doubled)
    assert (a.prefs_ != b.prefs_).nnz == 0


def test_latest_feedback_wins() -> None:
    inter = pd.DataFrame(
        {
            "reader": ["a", "a"],
            "paper": ["g0", "g0"],
            "kind": ["dislike", "like"],
            "time": ["2024-01-02", "2024-01-01"],
        }
    )
    model = HybridRecommender(content="tfidf").fit(toy_papers(), inter)
    assert model.prefs_[model.reader_index_["a"], model.paper_index_["g0"]] < 0


def test_empty_and_nan_text() -> None:
    papers = toy_papers()
    papers.loc[0, "title"] = np.nan
    papers.loc[1, "title"] = ""
    model = HybridRecommender(content="tfidf").fit(papers, toy_interactions())
    cands = toy_candidates()
    cands.loc[0, "title"] = None
    ranked = model.rank(["graph-fan-0"], cands, k=4)["graph-fan-0"]
    assert len(ranked) == 4 and all(np.isfinite(r.score) for r in ranked)


def test_only_stop_words() -> None:
    papers = pd.DataFrame({"id": ["a", "b"], "title": ["the of and", "a an the"]})
    inter = pd.DataFrame({"reader": ["r"], "paper": ["a"]})
    model = HybridRecommender(content="tfidf").fit(papers, inter)
    assert len(model.rank(["r"], papers, k=2)["r"]) == 1


def test_bad_arguments(model: HybridRecommender) -> None:
    with pytest.raises(InputError, match="k must be"):
        model.rank(["graph-fan-0"], toy_candidates(), k=-1)
    with pytest.raises(InputError, match="diversity"):
        model.rank(["graph-fan-0"], toy_candidates(), diversity=2.0)
    with pytest.raises(InputError, match="DataFrame"):
        model.rank(["graph-fan-0"], ["new-g1"])  # type: ignore[arg-type]


def test_update_with_unknown_paper(model: HybridRecommender) -> None:
    with pytest.raises(InputError, match="unknown paper id 'nope'"):
        model.update(interactions=pd.DataFrame({"reader": ["x"], "paper": ["nope"]}))


def test_truncated_model_file(tmp_path: Path, model: HybridRecommender) -> None:
    path = tmp_path / "m.bin"
    model.save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFormatError, match="truncated or corrupt"):
        HybridRecommender.load(path)


def test_model_file_of_another_version(tmp_path: Path, model: HybridRecommender) -> None:
    path = tmp_path / "m.bin"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["version"] = FORMAT_VERSION + 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ModelFormatError, match=f"version {FORMAT_VERSION + 1}.*refit"):
        HybridRecommender.load(path)


def test_old_pickle_model_file_asks_for_a_refit(tmp_path: Path) -> None:
    # Format 1 was a header + pickle; it must be refused unread (a pickle can run code).
    path = tmp_path / "m.bin"
    path.write_bytes(b"PAPERDIGEST-RECOMMENDER\n" + (1).to_bytes(4, "big") + b"\x80\x05not read")
    with pytest.raises(ModelFormatError, match=r"version 1; this paperdigest reads version 4 \(refit"):
        HybridRecommender.load(path)


def test_npz_with_pickled_objects_is_refused(tmp_path: Path, model: HybridRecommender) -> None:
    path = tmp_path / "m.bin"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["features.embedding"] = np.array([object()], dtype=object)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ModelFormatError, match="truncated or corrupt"):
        HybridRecommender.load(path)


def test_foreign_npz_file(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ModelFormatError, match="not a paperdigest"):
        HybridRecommender.load(path)


def test_foreign_or_missing_model_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_text("hello")
    with pytest.raises(ModelFormatError, match="not a paperdigest"):
        HybridRecommender.load(path)
    with pytest.raises(ModelFormatError, match="cannot read"):
        HybridRecommender.load(tmp_path / "missing.bin")
