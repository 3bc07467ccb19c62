"""Speed and memory of the hybrid: fit on citeulike-a, rank for 100k readers, light update.

Usage: ``python benchmarks/bench_recommender_speed.py [--readers 100000] [--likes 1000000]``.
Reports medians over ``--runs`` runs and writes ``benchmarks/results/recommender_speed.json``.
Embedding encodings are cached on disk; the one-time encoding cost is measured apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paperdigest.core import load_settings  # noqa: E402
from paperdigest.recommender import HybridRecommender  # noqa: E402
from paperdigest.recommender.text import EmbeddingEncoder, embeddings_available  # noqa: E402

# Embeddings are cached where the application caches them (the cache_dir setting).
_CACHE = load_settings().cache_dir

RESULTS = ROOT / "benchmarks" / "results"
_WORDS = [
    "graph",
    "neural",
    "network",
    "image",
    "language",
    "model",
    "protein",
    "quantum",
    "market",
    "learning",
    "deep",
    "sparse",
    "attention",
    "transformer",
    "diffusion",
    "robot",
    "policy",
    "reinforcement",
    "causal",
    "inference",
    "bayesian",
    "optimization",
    "kernel",
    "spectral",
    "cell",
    "gene",
    "sequence",
    "physics",
    "energy",
    "spin",
    "lattice",
    "vision",
    "segmentation",
    "detection",
    "retrieval",
    "ranking",
    "recommendation",
    "federated",
    "privacy",
    "robustness",
]


def _titles(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(_WORDS, size=7)) + f" {i}" for i in range(n)]


def bench_citeulike(data: Path, runs: int) -> dict:
    """Fit time on citeulike-a (cached encodings) and the one-time encoding cost."""
    items = pd.read_csv(data / "items.csv", dtype=str, keep_default_na=False)
    inter = pd.read_csv(data / "interactions.csv", dtype=str)
    papers = items.rename(columns={"item_id": "id"})
    likes = inter.rename(columns={"user_id": "reader", "item_id": "paper"})
    out: dict = {}
    if embeddings_available():
        start = time.perf_counter()
        EmbeddingEncoder(cache_dir=False).transform(papers["title"].tolist())
        out["encode_titles_uncached_s"] = round(time.perf_counter() - start, 1)
        EmbeddingEncoder(cache_dir=_CACHE).transform(papers["title"].tolist())  # make sure the cache is warm
    fits = []
    for _ in range(runs):
        start = time.perf_counter()
        HybridRecommender(cache_dir=_CACHE).fit(papers, likes)
        fits.append(time.perf_counter() - start)
    out["fit_citeulike_s_median"] = round(statistics.median(fits), 1)
    out["fit_citeulike_s_runs"] = [round(f, 1) for f in fits]
    return out


def bench_scale(n_readers: int, n_likes: int, n_papers: int, batch: int, runs: int) -> dict:
    """Rank a new batch for many synthetic readers; light update latency for one like."""
    rng = np.random.default_rng(0)
    papers = pd.DataFrame({"id": [f"p{i}" for i in range(n_papers)], "title": _titles(rng, n_papers)})
    readers = rng.integers(0, n_readers, n_likes)
    # Zipf-like paper popularity, as in real libraries.
    pop = 1.0 / np.arange(1, n_papers + 1) ** 0.8
    chosen = rng.choice(n_papers, size=n_likes, p=pop / pop.sum())
    inter = pd.DataFrame({"reader": [f"u{r}" for r in readers], "paper": [f"p{p}" for p in chosen]})
    start = time.perf_counter()
    model = HybridRecommender(cache_dir=_CACHE).fit(papers, inter)
    out: dict = {"fit_scale_s": round(time.perf_counter() - start, 1)}
    cands = pd.DataFrame({"id": [f"new{i}" for i in range(batch)], "title": _titles(rng, batch)})
    model.rank(["u0"], cands, k=10)  # encodes (and caches) the batch once
    ids = [f"u{r}" for r in range(n_readers)]
    # Time and memory are measured in separate runs: tracemalloc hooks every allocation and made
    # the timed runs several times slower than the code is.
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ranked = model.rank(ids, cands, k=10)
        times.append(time.perf_counter() - start)
        assert len(ranked) == n_readers
        del ranked
    tracemalloc.start()
    ranked = model.rank(ids, cands, k=10)
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    del ranked
    out["rank_s_median"] = round(statistics.median(times), 2)
    out["rank_s_runs"] = [round(t, 2) for t in times]
    out["rank_peak_gib"] = round(peak, 2)
    lat = []
    for i in range(max(20, runs)):
        like = pd.DataFrame({"reader": [f"u{i}"], "paper": [f"p{n_papers - 1 - i}"], "kind": ["like"]})
        start = time.perf_counter()
        model.update(interactions=like)
        lat.append((time.perf_counter() - start) * 1000)
    out["update_one_like_ms_median"] = round(statistics.median(lat), 1)
    out["update_one_like_ms_max"] = round(max(lat), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "citeulike-a")
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--likes", type=int, default=1_000_000)
    parser.add_argument("--papers", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-citeulike", action="store_true")
    args = parser.parse_args()
    result = {"machine": "2 cores, 24 GiB, Python 3.11, CPU only"}
    if not args.skip_citeulike and (args.data / "items.csv").exists():
        result |= bench_citeulike(args.data, args.runs)
        print(json.dumps(result), flush=True)
    result |= bench_scale(args.readers, args.likes, args.papers, args.batch, args.runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recommender_speed.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
