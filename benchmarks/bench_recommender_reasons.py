"""Floors for reasons, and the cost of keyword matching and highlights (docs/recommender.md, "Reasons").

``floors``: cosine of pairs of papers saved by one citeulike-a reader vs random pairs (titles), of
random pairs on the seed pages (title + abstract), and of citeulike-a tags (as keywords) to
papers carrying the tag vs random papers, in the keyword measure of the recommender.
``cost``: CPU time of the highlight choice for 1M picks (500 papers x 8 sentences, 100k readers x
10, evidence among 20k liked papers) and of ranking keyword readers (TF-IDF, synthetic corpus).
CPU time, not wall time: this 2-core machine is shared, wall time measures the neighbours.
Usage: ``python benchmarks/bench_recommender_reasons.py floors|cost [KEYWORD_READERS]`` (default 100,000).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paperdigest.core import load_settings  # noqa: E402
from paperdigest.recommender import HybridRecommender  # noqa: E402
from paperdigest.recommender.content import KEYWORD_MIN_COSINE, unit_dense  # noqa: E402
from paperdigest.recommender.highlight import CandidateSentences, pick_sentences  # noqa: E402
from paperdigest.recommender.text import EmbeddingEncoder, TfidfEncoder  # noqa: E402

SHARED = ROOT.parent / "shared"


def _pair_sims(x, pairs: np.ndarray) -> np.ndarray:
    if hasattr(x, "toarray"):
        return np.asarray(x[pairs[:, 0]].multiply(x[pairs[:, 1]]).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", x[pairs[:, 0]], x[pairs[:, 1]])


def floors() -> None:
    d = SHARED / "data" / "citeulike-a"
    items = pd.read_csv(d / "items.csv")
    inter = pd.read_csv(d / "interactions.csv")
    tags = pd.read_csv(d / "item_tags.csv")
    titles = items["title"].astype(str).tolist()
    rng = np.random.default_rng(0)
    tfidf = TfidfEncoder(4000).fit(titles)
    views = {"embedding": EmbeddingEncoder(cache_dir=load_settings().cache_dir), "tfidf": tfidf}
    x = {name: enc.transform(titles) for name, enc in views.items()}
    groups = inter.groupby("user_id")["item_id"].apply(np.array).sample(3000, random_state=0)
    co = np.array([rng.choice(g, 2, replace=False) for g in groups if len(g) >= 2])
    rnd = rng.integers(0, len(titles), (len(co) * 3, 2))
    for name in views:
        a, b = _pair_sims(x[name], co), _pair_sims(x[name], rnd)
        for f in (0.4, 0.5, 0.6) if name == "embedding" else (0.1, 0.2, 0.3):
            print(f"citeulike titles {name} >= {f}: co-saved {np.mean(a >= f):.3f}, "
                  f"random {np.mean(b >= f):.4f}")
    from paperdigest.ingest.parse import parse_file

    texts = {}
    for path in sorted((SHARED / "seeds").glob("*.txt")):
        for p in parse_file(path, today=dt.date(2025, 11, 1)).papers:
            texts[p.title] = f"{p.title}. {p.abstract}" if p.abstract else p.title
    seed = list(texts.values())
    iu = np.triu_indices(len(seed), 1)
    for name, enc in (("embedding", views["embedding"]), ("tfidf", TfidfEncoder(4000).fit(seed))):
        v = unit_dense(enc.transform(seed))
        s = (v @ v.T)[iu]
        print(f"seed pages {name} random pairs q90/q95/q99: {np.round(np.quantile(s, [.9, .95, .99]), 3)}")
    top = tags["tag"].value_counts()
    top = top[(top >= 30) & (top.index.str.len() > 3)].index[:200]
    words = [t.replace("-", " ").replace("_", " ") for t in top]
    by = tags[tags["tag"].isin(top)].groupby("tag")["item_id"].apply(np.array)
    bg = rng.choice(len(titles), 2000, replace=False)
    for name, enc in views.items():
        kv = unit_dense(enc.transform(words))
        xs = x[name]
        pz, nz = [], []
        for i, t in enumerate(top):
            full = np.asarray(xs @ kv[i]).ravel()
            mu, sd = full[bg].mean(), max(full[bg].std(), 1e-3)
            z = np.where(full >= KEYWORD_MIN_COSINE[name], (full - mu) / sd, -np.inf)
            pz += list(z[rng.choice(by[t], min(20, len(by[t])), replace=False)])
            nz += list(z[rng.integers(0, len(titles), 60)])
        for f in (1.5, 2.0, 2.5, 3.0):
            print(f"tags as keywords {name} z >= {f} (cos >= {KEYWORD_MIN_COSINE[name]}): "
                  f"tagged {np.mean(np.array(pz) >= f):.3f}, random {np.mean(np.array(nz) >= f):.4f}")


def cost() -> None:
    rng = np.random.default_rng(0)
    n_c, n_s, d, n_r, k, n_papers = 500, 8, 384, 100_000, 10, 20_000
    vec = rng.normal(size=(n_c * n_s, d)).astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    sent = CandidateSentences([f"s{i}" for i in range(n_c * n_s)], vec, np.arange(0, n_c * n_s + 1, n_s))
    papers = rng.normal(size=(n_papers, d)).astype(np.float32)
    pop = 1 / np.arange(1, n_papers + 1) ** 0.8
    evidence = rng.choice(n_papers, size=n_r * k, p=pop / pop.sum())
    cands = rng.integers(0, n_c, n_r * k)
    times = []
    for _ in range(3):
        start = time.process_time()
        pick_sentences(sent, cands, evidence, papers)
        times.append(time.process_time() - start)
    print(f"highlight choice, 1M picks: {np.median(times):.2f} s CPU (median of 3)")
    from tests._recommender_helpers import synthetic_corpus

    papers_df, inter = synthetic_corpus(n_papers=2000, n_readers=300, likes=10)
    words = sorted({w for t in papers_df.title for w in t.split() if w.isalpha()})
    pool = [" ".join(rng.choice(words, 2)) for _ in range(300)]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    readers = pd.DataFrame({"reader": [f"k{i}" for i in range(n)],
                            "keywords": [list(rng.choice(pool, 3, replace=False)) for _ in range(n)]})
    model = HybridRecommender(content="tfidf", tune=False).fit(papers_df, inter, readers)
    batch = papers_df.sample(500, random_state=0).assign(id=lambda f: "new" + f.id)
    start, wall = time.process_time(), time.perf_counter()
    model.rank(list(readers["reader"]), batch, k=10)
    took, wall = time.process_time() - start, time.perf_counter() - wall
    print(f"rank 500 papers for {n:,} keyword-only readers (3 keywords each): {took:.1f} s CPU, "
          f"{wall:.1f} s wall")


if __name__ == "__main__":
    {"floors": floors, "cost": cost}[sys.argv[1] if len(sys.argv) > 1 else "cost"]()
