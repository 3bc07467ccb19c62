"""A fast offline proxy of ``paperdigest simulate``: the same split and policies, no store, no HTTP.

Usage: ``python benchmarks/bench_sim_proxy.py [--seeds 0 1 2] [--readers 200 500] [--data DIR]
[--policies hybrid,content,embedding] [--no-loop] [--name sim_proxy]``.

Run it with the package importable (the editable install, or a ``PYTHONPATH`` that maps
``paperdigest`` onto a worktree); it prints which copy of the recommender it imported.

For each seed and reader count it splits citeulike-a exactly as ``simulate`` does
(``simulate.data.split_dataset``: 10 daily batches of 500 papers, readers with at least 5 history
saves and one in the batches, 5 seed likes each). The hybrid is fitted as the product's refit
fits it at the start of a simulation: on the history papers (title repeated as the abstract, as the
simulation ingests a title-only dataset) and the seed likes only. Two measurements:

- **static** (no feedback): every reader's top 10 of each day's batch, precision@10 pooled over the
  10 days (without feedback the days are exchangeable, so all of them count).
- **loop** (with feedback, as the simulation's days): readers get send hours spread over the day
  (``--slots`` groups of hours); each slot's readers are ranked, press "More like this" on their
  saves and "Less like this" on 10% of the rest, and that feedback is folded in before the next
  slot (the hybrid through ``update``, the baselines by refitting the touched readers). Precision
  pooled over days 6-10, plus late-half / early-half precision on those days.

The baselines are ``simulate.policies``' own ``content`` (per-reader linear SVM on TF-IDF) and
``embedding`` (mean similarity to liked papers, TF-IDF backend here) with the store replaced by
in-memory reactions. Writes ``benchmarks/results/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from paperdigest.recommender import HybridRecommender
from paperdigest.simulate.data import SimulationData, load_dataset, split_dataset
from paperdigest.simulate.policies import ContentPolicy, EmbeddingPolicy, StorePolicy

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
K = 10
DAYS = 10
BATCH = 500
SEED_LIKES = 5
DISLIKE_RATE = 0.1
LATE_DAYS = range(6, DAYS + 1)


def store_frame(data: SimulationData, ids: Sequence[str]) -> pd.DataFrame:
    """Papers as the simulation's store holds them: a title-only dataset repeats the title as abstract."""
    rows = data.papers.loc[list(ids)]
    abstracts = [a or t for t, a in zip(rows["title"], rows["abstract"], strict=True)]
    return pd.DataFrame({"id": rows["id"].to_numpy(), "title": rows["title"].to_numpy(),
                         "abstract": abstracts, "upvotes": 0.0})


class OfflinePolicy(StorePolicy):
    """A ``simulate.policies`` baseline whose corpus and reactions live in memory instead of a store."""

    def setup_offline(self, corpus: pd.DataFrame, seeds: Mapping[str, Sequence[str]]) -> None:
        self._rows = ([str(p) for p in corpus["id"]],
                      [f"{t}. {a}" for t, a in zip(corpus["title"], corpus["abstract"], strict=True)])
        self._texts = dict(zip(*self._rows, strict=True))
        self._pending: set[str] = set()
        self.feed(pd.DataFrame([(r, p, "like") for r, ps in seeds.items() for p in ps],
                               columns=["reader", "paper", "kind"]), corpus)

    def _corpus_rows(self) -> tuple[list[str], list[str]]:
        return self._rows

    def _refresh(self) -> set[str]:
        changed, self._pending = self._pending, set()
        return changed

    def feed(self, reactions: pd.DataFrame, papers: pd.DataFrame) -> None:
        """Take ``reader, paper, kind`` rows (papers may be new: ``papers`` has their text)."""
        for pid, t, a in zip(papers["id"], papers["title"], papers["abstract"], strict=True):
            self._texts.setdefault(str(pid), f"{t}. {a}")
        rows = zip(reactions["reader"], reactions["paper"], reactions["kind"], strict=True)
        for reader, paper, kind in rows:
            self.reactions_.setdefault(str(reader), {})[str(paper)] = 1.0 if kind == "like" else -1.0
            self._pending.add(str(reader))


class OfflineContent(OfflinePolicy, ContentPolicy):
    pass


class OfflineEmbedding(OfflinePolicy, EmbeddingPolicy):
    pass


class HybridRanker:
    """The product's recommender behind the same two calls: ``rank`` and ``feed`` (the light update)."""

    def __init__(self, model: HybridRecommender) -> None:
        self.model = model

    def rank(self, readers: Sequence[str], candidates: pd.DataFrame, k: int = K) -> dict[str, list[Any]]:
        return self.model.rank(readers, candidates, k=k)

    def feed(self, reactions: pd.DataFrame, papers: pd.DataFrame) -> None:
        self.model.update(interactions=reactions, papers=papers)


def fit_hybrid(data: SimulationData, options: Mapping[str, Any] | None = None) -> HybridRecommender:
    """Fit as ``ranking.refit_model`` does at the start of a simulation: history papers, seed likes."""
    papers = store_frame(data, data.history)
    likes = pd.DataFrame([(r, p, "like") for r in data.readers for p in data.seeds[r]],
                         columns=["reader", "paper", "kind"])
    readers = pd.DataFrame({"reader": data.readers, "keywords": [[] for _ in data.readers]})
    model = HybridRecommender(content="tfidf", random_state=0, **dict(options or {}))
    return model.fit(papers, likes, readers=readers)


def make_ranker(policy: str, data: SimulationData, seed: int,
                hybrid_options: Mapping[str, Any] | None = None) -> Any:
    if policy == "hybrid":
        return HybridRanker(fit_hybrid(data, hybrid_options))
    cls = {"content": OfflineContent, "embedding": OfflineEmbedding}[policy]
    ranker = cls(None, random_state=seed, content="tfidf")  # type: ignore[arg-type]
    ranker.setup_offline(store_frame(data, data.history), data.seeds)
    return ranker


def _hits(ranked: Mapping[str, list[Any]], truth: Mapping[str, set[str]]) -> dict[str, tuple[int, int]]:
    return {r: (sum(rec.paper_id in truth[r] for rec in recs), len(recs)) for r, recs in ranked.items()}


def run_static(ranker: Any, data: SimulationData) -> dict[str, Any]:
    """Precision@10 of one ranking per day, no feedback; pooled over all days and per day."""
    per_day = []
    for ids in data.days:
        got = _hits(ranker.rank(data.readers, store_frame(data, ids), k=K), data.truth)
        per_day.append((sum(h for h, _ in got.values()), sum(n for _, n in got.values())))
    hits, sent = map(sum, zip(*per_day, strict=True))
    return {"precision": hits / sent, "days": [h / n for h, n in per_day]}


def run_loop(ranker: Any, data: SimulationData, seed: int, slots: int = 4,
             feedback: bool = True) -> dict[str, Any]:
    """The simulation's days with feedback folded in after each slot of send hours."""
    rng = np.random.default_rng(seed)
    hours = {r: int(h) for r, h in zip(data.readers, rng.permutation(len(data.readers)) % 24, strict=True)}
    groups = [[r for r in data.readers if hours[r] * slots // 24 == s] for s in range(slots)]
    days, early, late = [], [0, 0], [0, 0]
    for day, ids in enumerate(data.days, start=1):
        cands = store_frame(data, ids)
        hits = sent = 0
        for s, group in enumerate(groups):
            ranked = ranker.rank(group, cands, k=K)
            rows = []
            for reader, recs in ranked.items():
                for rec in recs:
                    liked = rec.paper_id in data.truth[reader]
                    hits += liked
                    if day in LATE_DAYS:
                        half = late if s >= slots / 2 else early
                        half[0] += liked
                        half[1] += 1
                    if liked or rng.random() < DISLIKE_RATE:
                        rows.append((reader, rec.paper_id, "like" if liked else "dislike"))
                sent += len(recs)
            if feedback and rows:
                frame = pd.DataFrame(rows, columns=["reader", "paper", "kind"])
                ranker.feed(frame, cands[cands["id"].isin(set(frame["paper"]))])
        days.append((hits, sent))
    pooled = [days[d - 1] for d in LATE_DAYS]
    precision = sum(h for h, _ in pooled) / sum(n for _, n in pooled)
    return {"precision": precision, "days": [h / n for h, n in days],
            "early": early[0] / max(early[1], 1), "late": late[0] / max(late[1], 1)}


def main(argv: Sequence[str] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "citeulike-a")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--readers", type=int, nargs="+", default=[200, 500])
    parser.add_argument("--policies", default="hybrid,content,embedding")
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--no-loop", action="store_true", help="static (no-feedback) measurement only")
    parser.add_argument("--hybrid-options", default="{}", help="JSON: HybridRecommender keyword arguments")
    parser.add_argument("--name", default="sim_proxy")
    args = parser.parse_args(argv)
    import paperdigest.recommender as rec

    log(f"recommender from {Path(rec.__file__).parent}")
    options = json.loads(args.hybrid_options)
    papers, saves = load_dataset(args.data / "items.csv", args.data / "interactions.csv")
    results: dict[str, Any] = {"options": options, "runs": []}
    RESULTS.mkdir(parents=True, exist_ok=True)
    for n_readers in args.readers:
        for seed in args.seeds:
            data = split_dataset(papers, saves, days=DAYS, batch_size=BATCH, readers=n_readers,
                                 seed_likes=SEED_LIKES, seed=seed)
            for policy in args.policies.split(","):
                began = time.perf_counter()
                run: dict[str, Any] = {"readers": n_readers, "seed": seed, "policy": policy}
                ranker = make_ranker(policy, data, seed, options)
                if policy == "hybrid":
                    params = ranker.model.params_
                    run["params"] = {"weights": params.weights, "alphas": params.alphas,
                                     "smooth": params.smooth, "w_knn": params.w_knn, "w_als": params.w_als,
                                     "validation": params.validation}
                run["static"] = run_static(ranker, data)
                if not args.no_loop:
                    for feedback in (True, False):
                        ranker = make_ranker(policy, data, seed, options)
                        run["loop" if feedback else "loop_nofb"] = run_loop(ranker, data, seed, args.slots,
                                                                            feedback)
                run["seconds"] = round(time.perf_counter() - began, 1)
                results["runs"].append(run)
                loop = "" if args.no_loop else (f" loop {run['loop']['precision']:.4f} "
                                                f"(no feedback {run['loop_nofb']['precision']:.4f})")
                log(f"readers {n_readers} seed {seed} {policy}: static {run['static']['precision']:.4f}"
                    f"{loop} [{run['seconds']} s]")
                (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=1))
    (RESULTS / f"{args.name}.md").write_text(markdown(results))
    log(markdown(results))
    return results


def markdown(results: Mapping[str, Any]) -> str:
    """Per reader count and policy: per-seed and mean precision@10, static and in the loop."""
    seeds = _seeds(results)
    lines = ["| readers | policy | measure | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
             "|---|---|---|" + "---|" * (len(seeds) + 1)]
    keys = dict.fromkeys((r["readers"], r["policy"]) for r in results["runs"])
    for n, policy in keys:
        runs = [r for r in results["runs"] if r["readers"] == n and r["policy"] == policy]
        for measure in ("static", "loop", "loop_nofb"):
            if measure not in runs[0]:
                continue
            vals = [r[measure]["precision"] for r in runs]
            lines.append(f"| {n} | {policy} | {measure} | " + " | ".join(f"{v:.4f}" for v in vals)
                         + f" | {np.mean(vals):.4f} |")
    return "\n".join(lines) + "\n"


def _seeds(results: Mapping[str, Any]) -> list[int]:
    return list(dict.fromkeys(r["seed"] for r in results["runs"]))


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
