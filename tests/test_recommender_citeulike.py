"""Slow check on real reader libraries: the hybrid beats the baselines on a citeulike-a subsample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paperdigest.core import load_settings
from paperdigest.recommender.evaluation import run_evaluation
from paperdigest.recommender.text import embeddings_available

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "citeulike-a"


def _subsample(tmp: Path, n_readers: int, seed: int) -> tuple[Path, Path, Path, Path]:
    items = pd.read_csv(DATA / "items.csv", dtype=str, keep_default_na=False)
    inter = pd.read_csv(DATA / "interactions.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    readers = rng.choice(inter["user_id"].unique(), size=n_readers, replace=False)
    inter = inter[inter["user_id"].isin(readers)]
    items = items[items["item_id"].isin(inter["item_id"])]
    paths = (tmp / "items.csv", tmp / "interactions.csv", tmp / "test.txt", tmp / "warm.txt")
    items.to_csv(paths[0], index=False)
    inter.to_csv(paths[1], index=False)
    test = rng.permutation(items["item_id"].to_numpy())[: len(items) // 5]
    paths[2].write_text("\n".join(test) + "\n")
    paths[3].write_text("\n".join(rng.permutation(readers)[: n_readers // 5]) + "\n")
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["cold", "warm"])
def test_hybrid_beats_baselines_on_citeulike_subsample(tmp_path: Path, mode: str) -> None:
    if not (DATA / "items.csv").exists():
        pytest.skip("shared/data/citeulike-a is not available")
    items, inter, test, warm = _subsample(tmp_path, n_readers=2000, seed=7)
    baselines = ["random", "rocchio-tfidf"]
    if embeddings_available():
        baselines += ["embedding-similarity", "ridge-embedding"]
    if mode == "warm":
        baselines.append("als")
    report = run_evaluation(
        items,
        inter,
        test,
        tmp_path / "rankings.csv",
        warm_users=warm if mode == "warm" else None,
        baselines=baselines,
        sample_readers=0,
        cache_dir=load_settings().cache_dir,  # the application's embedding cache
    )
    methods = {name: res["sample"] for name, res in report["methods"].items()}
    hybrid = methods.pop("hybrid")
    best_recall = max(m["recall@50"] for m in methods.values())
    best_ndcg = max(m["ndcg@10"] for m in methods.values())
    assert hybrid["recall@50"] > best_recall, methods
    assert hybrid["ndcg@10"] >= 0.98 * best_ndcg, methods
    if mode == "warm":  # the collaborative side must earn a clear margin once readers react
        assert hybrid["recall@50"] > 1.05 * best_recall
