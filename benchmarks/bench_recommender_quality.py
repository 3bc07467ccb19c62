"""Ranking quality on citeulike-a: cold and warm new-batch splits, three seeds, every method.

Usage: ``python benchmarks/bench_recommender_quality.py [--seeds 0 1 2] [--data DIR]``.
Each seed draws a random 20% of papers as the new batch and, for warm mode, a random 20% of
readers who reacted early; it then runs the same service as ``paperdigest evaluate`` (hybrid and
baselines on one fixed 600-reader sample). Writes ``benchmarks/results/recommender_quality.{json,md}``.
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

RESULTS = ROOT / "benchmarks" / "results"


def make_split(data: Path, seed: int, out: Path) -> tuple[Path, Path]:
    """Write the seed's test items (20% of papers) and warm readers (20% of readers)."""
    items = pd.read_csv(data / "items.csv", dtype=str, keep_default_na=False)
    inter = pd.read_csv(data / "interactions.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    ids = items["item_id"].to_numpy()
    test = rng.permutation(ids)[: len(ids) // 5]
    users = inter["user_id"].unique()
    warm = rng.permutation(users)[: len(users) // 5]
    test_path, warm_path = out / f"test_{seed}.txt", out / f"warm_{seed}.txt"
    test_path.write_text("\n".join(test) + "\n")
    warm_path.write_text("\n".join(warm) + "\n")
    return test_path, warm_path


def markdown(results: dict, metrics: tuple[str, ...] = ("recall@50", "ndcg@10")) -> str:
    """One table per mode: rows are methods, columns each seed and the mean, per metric."""
    lines = []
    for mode, by_seed in results.items():
        if not by_seed:
            continue
        seeds = sorted(by_seed)
        methods = list(next(iter(by_seed.values()))["methods"])
        head = ["method"] + [f"{m} s{s}" for m in metrics for s in seeds] + [f"{m} mean" for m in metrics]
        lines += [f"**{mode}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name in methods:
            cells, means = [], []
            for m in metrics:
                vals = [by_seed[s]["methods"].get(name, {}).get("sample", {}).get(m) for s in seeds]
                cells += [f"{v:.3f}" if v is not None else "–" for v in vals]
                ok = [v for v in vals if v is not None]
                means.append(f"{np.mean(ok):.3f}" if ok else "–")
            lines.append(f"| {name} | " + " | ".join(cells + means) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "citeulike-a")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--modes", nargs="+", default=["cold", "warm"])
    parser.add_argument("--name", default="recommender_quality")
    parser.add_argument(
        "--reuse-baselines",
        action="store_true",
        help="Rerun the hybrid only; take baseline rows from the previous results JSON.",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, dict]] = {m: {} for m in args.modes}
    previous: dict = {}
    if args.reuse_baselines and (RESULTS / f"{args.name}.json").exists():
        previous = json.loads((RESULTS / f"{args.name}.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            test, warm = make_split(args.data, seed, Path(tmp))
            for mode in args.modes:
                old = previous.get(mode, {}).get(str(seed))
                report = run_evaluation(
                    args.data / "items.csv",
                    args.data / "interactions.csv",
                    test,
                    Path(tmp) / "rankings.csv",
                    warm_users=warm if mode == "warm" else None,
                    random_state=seed,
                    baselines=[] if old else None,
                    log=lambda msg: print(msg, file=sys.stderr, flush=True),
                    cache_dir=load_settings().cache_dir,  # where the application caches embeddings
                )
                for name, res in (old or {}).get("methods", {}).items():
                    report["methods"].setdefault(name, res)
                results[mode][seed] = report
                hy = report["methods"]["hybrid"]["sample"]
                print(
                    f"seed {seed} {mode}: hybrid recall@50 {hy['recall@50']:.3f} ndcg@10 {hy['ndcg@10']:.3f}",
                    flush=True,
                )
                (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2))
                (RESULTS / f"{args.name}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
