"""The simulated community: a history pool, daily batches, and real readers whose saves are hidden truth.

The papers of a dataset (``paperdigest evaluate``'s files: ``item_id,title[,abstract]`` and
``user_id,item_id``) are shuffled once with the seed; the first ``days × batch_size`` become the daily
batches, the rest the history pool. A simulated reader is a real reader of the dataset with at least
``seed_likes`` saves in the history and at least one in the daily batches; they start with
``seed_likes`` of their history saves (or all of them) and their saves among a day's batch are the
papers they will press "More like this" on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from paperdigest.core.errors import InvalidInput
from paperdigest.ingest.text import clean_text
from paperdigest.recommender.evaluation import read_csv_table
from paperdigest.store.papers import normalize_title

__all__ = ["SimulationData", "SimulationError", "load_dataset", "split_dataset"]


class SimulationError(InvalidInput):
    """A simulation input (file, option or combination) that cannot give a meaningful run."""


@dataclass(frozen=True)
class SimulationData:
    """One simulation split (ids are the dataset's own, as strings)."""

    papers: pd.DataFrame  # id, title, abstract
    history: list[str]
    days: list[list[str]]  # the batch of each day
    readers: list[str]
    seeds: dict[str, list[str]]  # reader -> history saves they start with
    truth: dict[str, set[str]]  # reader -> saves among all daily batches


def load_dataset(items: Path, interactions: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Papers (``id, title, abstract``) and saves (``reader, paper``) from the two CSV files."""
    raw = read_csv_table(Path(items), ("item_id", "title"), SimulationError)
    papers = pd.DataFrame({
        "id": raw["item_id"].str.strip(),
        # Cleaned as ingest cleans them (tags, entities, spacing), so that titles the store will
        # take for one paper are one paper here too.
        "title": raw["title"].map(clean_text),
        "abstract": raw["abstract"].str.strip() if "abstract" in raw.columns else "",
    })
    papers = papers[papers["title"] != ""].drop_duplicates("id").reset_index(drop=True)
    saves = read_csv_table(Path(interactions), ("user_id", "item_id"), SimulationError)
    saves = pd.DataFrame({"reader": saves["user_id"].str.strip(), "paper": saves["item_id"].str.strip()})
    unknown = ~saves["paper"].isin(set(papers["id"]))
    if unknown.any():
        line = int(np.flatnonzero(unknown.to_numpy())[0]) + 2
        raise SimulationError(f"{interactions}:{line}: unknown item id {saves['paper'][unknown].iloc[0]!r}")
    # The store recognises a paper by its normalised title; items that share one are one paper to
    # it, so they become one here too (the first id stands for the others, saves included).
    keys = papers["title"].map(normalize_title)
    first = papers.groupby(keys, sort=False)["id"].transform("first")
    alias = dict(zip(papers["id"], first, strict=True))
    papers = papers[papers["id"] == first].reset_index(drop=True)
    saves = saves.assign(paper=saves["paper"].map(alias))
    return papers, saves.drop_duplicates().reset_index(drop=True)


def split_dataset(papers: pd.DataFrame, saves: pd.DataFrame, *, days: int, batch_size: int,
                  readers: int, seed_likes: int, all_history: bool = False,
                  seed: int = 0) -> SimulationData:
    """Shuffle the papers into history + ``days`` batches and pick the simulated readers.

    Raises :class:`SimulationError` when the papers cannot fill the batches and leave a history of
    at least one batch, or when no reader has both enough history and a save in the batches.
    """
    if days < 1 or batch_size < 1 or readers < 1 or seed_likes < 1:
        raise SimulationError("--days, --batch-size, --readers and --seed-likes must be at least 1")
    n = len(papers)
    if (days + 1) * batch_size > n:
        most = n // batch_size - 1
        raise SimulationError(
            f"--days {days} needs {days} batches of {batch_size} papers plus a history of at least one "
            f"batch ({(days + 1) * batch_size} papers); the items file has {n}"
            f" (at most --days {max(most, 0)} with --batch-size {batch_size})")
    rng = np.random.default_rng(seed)
    order = papers["id"].to_numpy()[rng.permutation(n)]
    day_ids = [list(order[d * batch_size:(d + 1) * batch_size]) for d in range(days)]
    in_batches = set(order[:days * batch_size])
    history = list(order[days * batch_size:])
    is_batch = saves["paper"].isin(in_batches)
    hist_saves = saves[~is_batch].groupby("reader")["paper"].apply(list)
    batch_saves = saves[is_batch].groupby("reader")["paper"].apply(set)
    eligible = sorted(r for r in batch_saves.index
                      if r in hist_saves.index and len(hist_saves[r]) >= seed_likes)
    if not eligible:
        raise SimulationError(
            f"no reader has at least {seed_likes} saves in the history and one in the {days} daily "
            "batches: the interactions do not fit this split (try fewer --seed-likes or more --days)")
    chosen = sorted(rng.choice(eligible, size=min(readers, len(eligible)), replace=False).tolist())
    seeds: dict[str, list[str]] = {}
    for reader in chosen:
        own = sorted(hist_saves[reader])
        seeds[reader] = own if all_history else sorted(rng.choice(own, size=seed_likes, replace=False))
    truth = {r: set(batch_saves[r]) for r in chosen}
    return SimulationData(papers.set_index("id", drop=False), history, day_ids, chosen, seeds, truth)
