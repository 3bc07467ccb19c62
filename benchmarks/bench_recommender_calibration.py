"""Calibration of the hybrid's like probabilities on citeulike-a, and the default threshold.

Usage: ``python benchmarks/bench_recommender_calibration.py [--seed 0] [--readers 0]
[--content tfidf] [--plot docs/img/reliability.png]``.
The seed's cold new-batch split (20% of papers, as in bench_recommender_quality.py); optionally
only a random subset of readers (faster). Fits the hybrid, then on every evaluated reader x test
paper: expected calibration error and a reliability diagram; and, for top-10 digests cut at each
threshold, the share of shown papers that were liked (precision), the share of each reader's
liked test papers shown (recall), F1, and the share of readers left with an empty digest.
Writes ``benchmarks/results/recommender_calibration_<content>.json``.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_recommender_quality import make_split  # noqa: E402
from paperdigest.core import load_settings  # noqa: E402
from paperdigest.recommender import HybridRecommender  # noqa: E402
from paperdigest.recommender.calibration import expected_calibration_error, reliability_bins  # noqa: E402
from paperdigest.recommender.evaluation import load_evaluation_data  # noqa: E402
from paperdigest.recommender.metrics import top_k_indices  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
THRESHOLDS = (0.0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def threshold_table(prob: np.ndarray, liked: np.ndarray, k: int = 10) -> list[dict]:
    """Top-``k`` lists by probability, cut at each threshold: precision, recall, F1, empty share."""
    top = top_k_indices(prob, k)
    p_top = np.take_along_axis(prob, top, axis=1)
    y_top = np.take_along_axis(liked, top, axis=1)
    total = np.maximum(liked.sum(axis=1), 1)
    rows = []
    for t in THRESHOLDS:
        shown = p_top >= t
        hits = (shown & y_top).sum()
        precision = hits / max(shown.sum(), 1)
        recall = float(np.mean((shown & y_top).sum(axis=1) / total))
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        rows.append({"threshold": t, "precision": round(float(precision), 4), "recall": round(recall, 4),
                     "f1": round(float(f1), 4), "mean_shown": round(float(shown.sum(axis=1).mean()), 2),
                     "empty_share": round(float((shown.sum(axis=1) == 0).mean()), 4)})
    return rows


def plot(bins: dict, ece: float, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    used = np.asarray(bins["count"]) > 0
    pred, obs = np.asarray(bins["predicted"])[used], np.asarray(bins["observed"])[used]
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=80)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect")
    ax.plot(pred, obs, "o-", color="C0", label=f"hybrid (ECE {ece:.4f})")
    for x, y, n in zip(pred, obs, np.asarray(bins["count"])[used], strict=True):
        ax.annotate(f"{int(n)}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("predicted like probability (bin mean)")
    ax.set_ylabel("observed like rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "citeulike-a")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readers", type=int, default=0, help="random subset of readers (0: all)")
    parser.add_argument("--content", default="tfidf")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--replot", action="store_true", help="only redraw --plot from the saved JSON")
    args = parser.parse_args()
    if args.replot:
        saved = json.loads((RESULTS / f"recommender_calibration_{args.content}.json").read_text())
        bins = {k: np.array([np.nan if x is None else x for x in v]) for k, v in saved["bins"].items()}
        plot(bins, saved["ece"], f"citeulike-a, cold split seed {saved['seed']}, {saved['content']},"
             f" {saved['readers']} readers", args.plot)
        return
    with tempfile.TemporaryDirectory() as tmp:
        inter_path = args.data / "interactions.csv"
        if args.readers:
            inter = pd.read_csv(inter_path, dtype=str, keep_default_na=False)
            users = inter["user_id"].unique()
            keep = np.random.default_rng(args.seed).permutation(users)[: args.readers]
            inter_path = Path(tmp) / "interactions.csv"
            inter[inter["user_id"].isin(set(keep))].to_csv(inter_path, index=False)
        test, _ = make_split(args.data, args.seed, Path(tmp))
        data = load_evaluation_data(args.data / "items.csv", inter_path, test)
    cands = data.papers.set_index("id").loc[data.test_items].reset_index()
    model = HybridRecommender(content=args.content, random_state=args.seed,
                              cache_dir=load_settings().cache_dir).fit(data.papers, data.train)
    cal = model.calibrator_
    readers = np.flatnonzero(np.diff(data.truth.indptr) > 0)
    prob = model.probability([data.eval_readers[i] for i in readers], cands)
    liked = data.truth[readers].toarray() > 0
    ece = expected_calibration_error(prob, liked)
    bins = reliability_bins(prob, liked)
    top = top_k_indices(prob, 10)
    ece_top = expected_calibration_error(np.take_along_axis(prob, top, 1), np.take_along_axis(liked, top, 1))
    report = {
        "seed": args.seed, "readers": len(readers), "test_items": len(data.test_items),
        "content": model.encoder_.name,
        "calibrator": {"source": cal.source_, "coef": cal.coef_.tolist(), "intercept": cal.intercept_,
                       "knots": len(cal.iso_x_), "pairs": cal.n_pairs_, "positives": cal.n_positive_},
        "base_rate": float(liked.mean()), "mean_probability": float(prob.mean()),
        "ece": ece, "ece_top10": ece_top,
        "bins": {k: [None if np.isnan(x) else round(float(x), 5) for x in v] for k, v in bins.items()},
        "thresholds": threshold_table(prob, liked),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"recommender_calibration_{model.encoder_.name}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(bins, ece, f"citeulike-a, cold split seed {args.seed}, {model.encoder_.name},"
             f" {len(readers)} readers", args.plot)


if __name__ == "__main__":
    main()
