"""Second-dataset check: does the hybrid's edge hold on data unlike citeulike-a?

A synthetic corpus with a known generative story: papers belong to latent topics (titles are drawn
from per-topic word lists), readers like one to three topics, and hidden reading circles (not
visible in any text) share taste for particular papers within a topic, plus a popularity skew.
So text explains part of each library and co-reading explains another part, as in real data,
but with other sizes, densities and vocabulary. The same evaluation service as
``paperdigest evaluate`` runs cold and warm splits and writes
``benchmarks/results/recommender_synthetic.{json,md}``.

Usage: ``python benchmarks/bench_recommender_synthetic.py [--seeds 0 1]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paperdigest.core import load_settings  # noqa: E402
from paperdigest.recommender.evaluation import run_evaluation  # noqa: E402

from benchmarks.bench_recommender_quality import markdown  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
_STEMS = [
    "graph",
    "vision",
    "speech",
    "protein",
    "market",
    "robot",
    "quantum",
    "language",
    "climate",
    "finance",
    "privacy",
    "genome",
    "galaxy",
    "traffic",
    "energy",
    "health",
    "music",
    "chemistry",
    "security",
    "ocean",
    "education",
    "material",
    "brain",
    "network",
    "weather",
    "crystal",
    "vaccine",
    "city",
    "soil",
    "battery",
]
_MODIFIERS = [
    "learning",
    "model",
    "analysis",
    "estimation",
    "detection",
    "inference",
    "control",
    "design",
    "simulation",
    "prediction",
    "optimization",
    "theory",
    "dynamics",
    "measurement",
    "structure",
    "representation",
]


def generate(
    seed: int, n_papers: int = 4000, n_readers: int = 2000, n_topics: int = 30
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Papers (item_id, title) and saves (user_id, item_id) from the generative story above."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, n_topics, n_papers)
    words = [[_STEMS[t % len(_STEMS)], *rng.choice(_MODIFIERS, 4, replace=False)] for t in range(n_topics)]
    titles = []
    for t in topic:
        own = rng.choice(words[t], size=3, replace=True).tolist()
        noise = rng.choice(_STEMS + _MODIFIERS, size=2).tolist()
        titles.append(" ".join(own + noise))
    popularity = rng.pareto(1.5, n_papers) + 1
    n_circles = 60
    circle_taste = rng.random((n_circles, n_papers)) ** 4  # each circle loves a few papers
    rows = []
    for r in range(n_readers):
        topics = rng.choice(n_topics, size=rng.integers(1, 4), replace=False)
        circle = rng.integers(n_circles)
        weight = np.isin(topic, topics) * (0.3 + circle_taste[circle]) * popularity
        n_likes = int(np.clip(rng.lognormal(2.5, 0.6), 5, 200))
        likes = rng.choice(n_papers, size=n_likes, replace=False, p=weight / weight.sum())
        rows += [(f"reader-{r}", f"doc/{p}") for p in likes]
    items = pd.DataFrame({"item_id": [f"doc/{i}" for i in range(n_papers)], "title": titles})
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"]).drop_duplicates()
    return items, inter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, dict]] = {"cold": {}, "warm": {}}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for seed in args.seeds:
            items, inter = generate(seed)
            items.to_csv(tmp / "items.csv", index=False)
            inter.to_csv(tmp / "interactions.csv", index=False)
            rng = np.random.default_rng(seed)
            test = rng.permutation(items["item_id"].to_numpy())[: len(items) // 5]
            users = inter["user_id"].unique()
            warm = rng.permutation(users)[: len(users) // 5]
            (tmp / "test.txt").write_text("\n".join(test) + "\n")
            (tmp / "warm.txt").write_text("\n".join(warm) + "\n")
            for mode in ("cold", "warm"):
                results[mode][seed] = run_evaluation(
                    tmp / "items.csv",
                    tmp / "interactions.csv",
                    tmp / "test.txt",
                    tmp / "rankings.csv",
                    warm_users=tmp / "warm.txt" if mode == "warm" else None,
                    random_state=seed,
                    log=lambda msg: print(msg, file=sys.stderr, flush=True),
                    cache_dir=load_settings().cache_dir,  # where the application caches embeddings
                )
                (RESULTS / "recommender_synthetic.json").write_text(json.dumps(results, indent=2))
                (RESULTS / "recommender_synthetic.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
