"""How should dislikes and sent-but-ignored papers count? Measured on synthetic readers.

Readers with known topic tastes save papers; each also received 10 earlier papers, disliked the
off-topic ones and ignored the on-topic ones they did not save. Variants of how that feedback
enters the model are compared on a cold batch (recall@50, nDCG@10, mean of two seeds).
Usage: ``python benchmarks/bench_recommender_feedback.py [--content tfidf]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paperdigest.core import load_settings  # noqa: E402
from paperdigest.recommender import HybridRecommender  # noqa: E402
from paperdigest.recommender.data import KIND_WEIGHTS  # noqa: E402
from paperdigest.recommender.metrics import ranking_metrics  # noqa: E402

from benchmarks.bench_recommender_synthetic import _MODIFIERS, _STEMS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _corpus(seed: int, n_papers: int = 4000, n_readers: int = 1500, n_topics: int = 30):
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, n_topics, n_papers)
    words = [[_STEMS[t % len(_STEMS)], *rng.choice(_MODIFIERS, 4, replace=False)] for t in range(n_topics)]
    pool = _STEMS + _MODIFIERS
    titles = [" ".join([*rng.choice(words[t], 3), *rng.choice(pool, 2)]) for t in topic]
    pop = rng.pareto(1.5, n_papers) + 1
    rows, tastes = [], []
    for r in range(n_readers):
        liked_topics = rng.choice(n_topics, size=rng.integers(1, 4), replace=False)
        tastes.append(set(liked_topics.tolist()))
        w = np.isin(topic, liked_topics) * pop
        n = int(np.clip(rng.lognormal(2.3, 0.6), 5, 100))
        rows += [(f"u{r}", f"p{p}") for p in rng.choice(n_papers, n, replace=False, p=w / w.sum())]
    papers = pd.DataFrame({"id": [f"p{i}" for i in range(n_papers)], "title": titles})
    return papers, pd.DataFrame(rows, columns=["reader", "paper"]), topic, tastes, rng


def run(seed: int, content: str) -> dict[str, tuple[float, float]]:
    """Metrics of each feedback variant for one synthetic corpus."""
    papers, likes, topic, tastes, rng = _corpus(seed)
    test = set(rng.permutation(papers["id"])[: len(papers) // 5])
    train = likes[~likes["paper"].isin(test)].assign(kind="like", weight=1.0)
    train_ids = papers["id"][~papers["id"].isin(test)].to_numpy()
    liked = likes.groupby("reader")["paper"].apply(set)
    disliked, ignored = [], []
    for r in likes["reader"].unique():
        for p in rng.choice(train_ids, 10, replace=False):
            if p not in liked[r]:
                on_topic = topic[int(p[1:])] in tastes[int(r[1:])]
                (ignored if on_topic else disliked).append((r, p))
    unit = -KIND_WEIGHTS["dislike"]

    def negatives(pairs: list, value: float) -> pd.DataFrame:
        frame = pd.DataFrame(pairs, columns=["reader", "paper"])
        return frame.assign(kind="dislike", weight=value / unit)

    variants = {
        "likes only (dislikes and ignored not counted)": [train],
        "dislike = -0.5": [train, negatives(disliked, 0.5)],
        "dislike = -1.0 (default)": [train, negatives(disliked, 1.0)],
        "dislike = -1.0, ignored = -0.1": [train, negatives(disliked, 1.0), negatives(ignored, 0.1)],
        "dislike = -1.0, ignored = -0.3": [train, negatives(disliked, 1.0), negatives(ignored, 0.3)],
    }
    cands = papers[papers["id"].isin(test)].reset_index(drop=True)
    readers = list(train["reader"].unique())
    c_index = {p: i for i, p in enumerate(cands["id"])}
    r_index = {u: i for i, u in enumerate(readers)}
    held = likes[likes["paper"].isin(test) & likes["reader"].isin(r_index)]
    truth = sp.csr_matrix(
        (np.ones(len(held)), (held["reader"].map(r_index), held["paper"].map(c_index))),
        shape=(len(readers), len(cands)),
    )
    out = {}
    for name, parts in variants.items():
        model = HybridRecommender(content=content, cache_dir=load_settings().cache_dir, random_state=seed)
        model.fit(papers, pd.concat(parts, ignore_index=True))
        m = ranking_metrics(model.score(readers, cands), truth, (10, 50))
        out[name] = (m["recall@50"], m["ndcg@10"])
        print(seed, name, f"{m['recall@50']:.4f} {m['ndcg@10']:.4f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", default="tfidf")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    runs = [run(seed, args.content) for seed in args.seeds]
    lines = ["| feedback variant | recall@50 | nDCG@10 |", "|---|---|---|"]
    for name in runs[0]:
        rec = np.mean([r[name][0] for r in runs])
        ndcg = np.mean([r[name][1] for r in runs])
        lines.append(f"| {name} | {rec:.3f} | {ndcg:.3f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recommender_feedback.json").write_text(json.dumps(runs, indent=2))
    (RESULTS / "recommender_feedback.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
