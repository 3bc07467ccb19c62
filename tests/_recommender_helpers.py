"""Toy corpora for the recommender tests, where the right ranking is obvious."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

GRAPH_TITLES = [
    "Graph neural networks for node classification",
    "Message passing on graph structured data",
    "Spectral graph convolution for citation graphs",
    "Link prediction with graph embeddings",
    "Graph attention networks over knowledge graphs",
    "Scalable graph neural network training on large graphs",
    "Node embeddings from random walks on graphs",
    "Graph pooling for molecule property prediction",
]
VISION_TITLES = [
    "Convolutional networks for image segmentation",
    "Object detection in images with region proposals",
    "Image classification with residual networks",
    "Vision transformers for image recognition",
    "Semantic segmentation of street scene images",
    "Self-supervised pretraining for image features",
    "Image super resolution with deep convolutional networks",
    "Instance segmentation of objects in images",
]


def toy_papers() -> pd.DataFrame:
    """Eight graph papers g0..g7 and eight vision papers v0..v7."""
    rows = [(f"g{i}", t, "") for i, t in enumerate(GRAPH_TITLES)]
    rows += [(f"v{i}", t, "") for i, t in enumerate(VISION_TITLES)]
    return pd.DataFrame(rows, columns=["id", "title", "abstract"])


def toy_interactions() -> pd.DataFrame:
    """Readers graph-fan-* like g0..g3, vision-fan-* like v0..v3."""
    rows = []
    for r in range(3):
        rows += [(f"graph-fan-{r}", f"g{i}", "like") for i in range(4)]
        rows += [(f"vision-fan-{r}", f"v{i}", "like") for i in range(4)]
    return pd.DataFrame(rows, columns=["reader", "paper", "kind"])


def toy_candidates() -> pd.DataFrame:
    """Brand-new papers: two on graphs, two on vision."""
    return pd.DataFrame(
        {
            "id": ["new-g1", "new-v1", "new-g2", "new-v2"],
            "title": [
                "A new graph neural network for node classification on citation graphs",
                "A new convolutional network for image segmentation",
                "Graph embeddings for link prediction in knowledge graphs",
                "Object detection and instance segmentation in images",
            ],
            "abstract": ["", "", "", ""],
        }
    )


_TOPICS = {
    "graphs": "graph node edge message passing spectral link embedding walk",
    "vision": "image pixel segmentation detection convolution camera scene",
    "language": "language token translation parsing grammar sentence corpus",
    "biology": "protein gene sequence cell expression genome enzyme",
    "physics": "quantum particle spin lattice field energy photon",
    "economics": "market price auction labor trade demand policy",
}


def synthetic_corpus(
    n_papers: int = 240, n_readers: int = 60, likes: int = 10, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Papers drawn from six word-pool topics; each reader likes papers of one or two topics."""
    rng = np.random.default_rng(seed)
    names = list(_TOPICS)
    topic = rng.integers(0, len(names), n_papers)
    titles = []
    for t in topic:
        words = rng.choice(_TOPICS[names[t]].split(), size=5, replace=True)
        titles.append(" ".join(words) + f" study {rng.integers(1000)}")
    papers = pd.DataFrame({"id": [f"p{i}" for i in range(n_papers)], "title": titles})
    rows = []
    for r in range(n_readers):
        fav = rng.choice(len(names), size=1 + r % 2, replace=False)
        pool = np.flatnonzero(np.isin(topic, fav))
        for p in rng.choice(pool, size=min(likes, len(pool)), replace=False):
            rows.append((f"r{r}", f"p{p}", "like"))
    return papers, pd.DataFrame(rows, columns=["reader", "paper", "kind"])


def seed_batches(shared: Path) -> list[pd.DataFrame]:
    """The scraped seed pages under ``shared/seeds`` (read in place), one papers frame per page."""
    import datetime as dt

    from paperdigest.ingest.parse import parse_file

    frames = []
    for path in sorted((shared / "seeds").glob("*.txt")):
        batch = parse_file(path, today=dt.date(2025, 11, 1))
        rows = [(f"{path.stem[:3]}-{i}", p.title, p.abstract) for i, p in enumerate(batch.papers)]
        frames.append(pd.DataFrame(rows, columns=["id", "title", "abstract"]))
    return frames


def demo_batches() -> list[pd.DataFrame]:
    """The demo's sample batches (scheduler/demo_data), one papers frame (with ``topic``) each."""
    import json
    from importlib import resources

    base = resources.files("paperdigest.scheduler") / "demo_data"
    frames = []
    for item in sorted(p for p in base.iterdir() if p.name.endswith(".json")):
        rows = json.loads(item.read_text(encoding="utf-8"))
        frames.append(pd.DataFrame([(f"{item.name[:6]}-{i}", r["title"], r["abstract"], r["topic"])
                                    for i, r in enumerate(rows)],
                                   columns=["id", "title", "abstract", "topic"]))
    return frames
