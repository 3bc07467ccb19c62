"""Offline evaluation: the new-batch protocol behind ``paperdigest evaluate``.

Train on every interaction with a non-test paper (plus, in warm mode, the warm readers'
interactions with test papers); rank the test papers for every other reader with training
feedback; score recall@K and binary nDCG@K over readers with at least one test positive.
Baselines run on the same split, on a fixed random sample of readers when they are slow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from paperdigest.core.files import atomic_write
from paperdigest.recommender.baselines import BASELINES
from paperdigest.recommender.calibration import expected_calibration_error, reliability_bins
from paperdigest.recommender.errors import InputError
from paperdigest.recommender.hybrid import HybridRecommender
from paperdigest.recommender.metrics import ranking_metrics, top_k_indices
from paperdigest.recommender.text import embeddings_available

__all__ = [
    "EvaluationData",
    "EvaluationError",
    "evaluate_scores",
    "format_table",
    "load_evaluation_data",
    "ranking_metrics",
    "read_csv_table",
    "run_evaluation",
]

KS = (10, 20, 50, 100)
_SLOW = {"svm-tfidf", "logreg-embedding"}
_EMBEDDING = {"embedding-similarity", "logreg-embedding", "ridge-embedding", "als-content-map"}


class EvaluationError(InputError):
    """An evaluation input file is missing, empty, malformed or refers to unknown ids."""


@dataclass
class EvaluationData:
    """One evaluation split, as plain frames (``id``/``reader``/``paper`` columns)."""

    papers: pd.DataFrame
    train: pd.DataFrame
    test_items: list[str]
    eval_readers: list[str]
    truth: sp.csr_matrix  # (len(eval_readers), len(test_items)) test positives
    warm: bool


def read_csv_table(path: Path, required: Sequence[str],
                   error: type[Exception] = EvaluationError) -> pd.DataFrame:
    """A CSV file as strings, its header stripped; ``error`` names the file for a missing file, an
    empty or malformed one, a missing column or no rows (``evaluate`` and ``simulate`` share it)."""
    if not path.is_file():
        raise error(f"{path}: no such file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise error(f"{path}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot parse CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise error(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(df.columns)})")
    if df.empty:
        raise error(f"{path}: no data rows")
    return df


def _read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    ids = list(dict.fromkeys(i for i in ids if i))
    if not ids:
        raise EvaluationError(f"{path}: file is empty")
    return ids


def _check_known(ids: Sequence[str], known: set[str], path: Path, what: str, line0: int) -> None:
    for n, value in enumerate(ids):
        if value not in known:
            raise EvaluationError(f"{path}:{n + line0}: unknown {what} {value!r}")


def load_evaluation_data(
    items: Path, interactions: Path, test_items: Path, warm_users: Path | None = None
) -> EvaluationData:
    """Read and check the evaluation files, and build the train/test split."""
    items_df = read_csv_table(Path(items), ["item_id", "title"])
    papers = pd.DataFrame(
        {
            "id": items_df["item_id"].str.strip(),
            "title": items_df["title"],
            "abstract": items_df["abstract"] if "abstract" in items_df.columns else "",
        }
    ).drop_duplicates("id")
    inter = read_csv_table(Path(interactions), ["user_id", "item_id"])
    inter = pd.DataFrame({"reader": inter["user_id"].str.strip(), "paper": inter["item_id"].str.strip()})
    known_items = set(papers["id"])
    _check_known(inter["paper"].tolist(), known_items, Path(interactions), "item id", 2)
    inter = inter.drop_duplicates()
    test = _read_ids(Path(test_items))
    lines = dict.fromkeys(test)
    _check_known(list(lines), known_items, Path(test_items), "item id", 1)
    test_set = set(test)
    warm: set[str] = set()
    if warm_users is not None:
        warm_list = _read_ids(Path(warm_users))
        _check_known(warm_list, set(inter["reader"]), Path(warm_users), "user id", 1)
        warm = set(warm_list)
    is_test = inter["paper"].isin(test_set)
    train = inter[~is_test | inter["reader"].isin(warm)].reset_index(drop=True)
    if train.empty:
        raise EvaluationError(f"{interactions}: no training interaction outside the test items")
    eval_readers = [r for r in dict.fromkeys(train["reader"]) if r not in warm]
    r_index = {r: i for i, r in enumerate(eval_readers)}
    t_index = {p: i for i, p in enumerate(test)}
    held = inter[is_test & inter["reader"].isin(r_index)]
    truth = sp.csr_matrix(
        (
            np.ones(len(held), dtype=np.float32),
            (held["reader"].map(r_index).to_numpy(), held["paper"].map(t_index).to_numpy()),
        ),
        shape=(len(eval_readers), len(test)),
    )
    return EvaluationData(papers, train, test, eval_readers, truth, bool(warm))


def evaluate_scores(scores: np.ndarray, truth: sp.csr_matrix) -> dict[str, float]:
    """recall@K and nDCG@K for K in (10, 20, 50, 100) of a reader x test-item score matrix."""
    return ranking_metrics(scores, truth, KS)


def _write_rankings(path: Path, readers: list[str], items: list[str], scores: np.ndarray, top: int):
    rows = []
    for start in range(0, len(readers), 4096):
        block = scores[start : start + 4096]
        idx = top_k_indices(block, top)
        for i, order in enumerate(idx):
            for rank, j in enumerate(order, start=1):
                rows.append((readers[start + i], items[j], rank, float(block[i, j])))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score"])
    atomic_write(path, frame.to_csv(index=False, float_format="%.6g"))


def format_table(report: dict[str, Any]) -> str:
    """Render the report's sample table as fixed-width text, one method per line."""
    cols = [f"{m}@{k}" for m in ("recall", "ndcg") for k in KS]
    lines = [f"{'method':<24}" + "".join(f"{c:>11}" for c in cols)]
    for name, res in report["methods"].items():
        m = res.get("sample") or {}
        lines.append(f"{name:<24}" + "".join(f"{m.get(c, float('nan')):>11.4f}" for c in cols))
    return "\n".join(lines)


def run_evaluation(
    items: Path,
    interactions: Path,
    test_items: Path,
    rankings_out: Path,
    warm_users: Path | None = None,
    top: int = 100,
    report_path: Path | None = None,
    baselines: Sequence[str] | None = None,
    sample_readers: int = 600,
    content: str = "auto",
    random_state: int = 0,
    log: Callable[[str], None] | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Fit the hybrid, write its rankings, and compare it with the baselines.

    Parameters
    ----------
    items, interactions, test_items, warm_users : Path
        Files as described in the module docstring (``warm_users`` optional).
    rankings_out : Path
        CSV ``user_id,item_id,rank,score`` of the hybrid's top ``top`` test items per reader.
    report_path : Path, optional
        Where to write the JSON report.
    baselines : sequence of str, optional
        Names from :data:`recommender.baselines.BASELINES`; default all that apply.
    sample_readers : int
        Every method is also scored on this fixed random sample of evaluated readers (slow
        baselines only there); 0 means all readers.
    cache_dir : Path, optional
        On-disk embedding cache shared by the hybrid and the embedding baselines (None: memory).

    Returns
    -------
    dict
        The report: split sizes, per method ``{"all": metrics | None, "sample": metrics}``,
        timings, the hybrid's chosen hyperparameters and ``calibration`` (ECE and reliability
        bins of its like probabilities on the sample readers).
    """
    say = log or (lambda _msg: None)
    if top < 1:
        raise EvaluationError(f"--top must be >= 1, got {top}")
    data = load_evaluation_data(items, interactions, test_items, warm_users)
    cands = data.papers[data.papers["id"].isin(set(data.test_items))]
    cands = cands.set_index("id").loc[data.test_items].reset_index()
    n_readers = data.train["reader"].nunique()
    warm_share = (n_readers - len(data.eval_readers)) / max(n_readers, 1)
    rng = np.random.default_rng(random_state)
    positives = np.flatnonzero(np.diff(data.truth.indptr) > 0)
    if sample_readers and len(positives) > sample_readers:
        sample = np.sort(rng.choice(positives, size=sample_readers, replace=False))
    else:
        sample = positives
    report: dict[str, Any] = {
        "mode": "warm" if data.warm else "cold",
        "papers": len(data.papers),
        "test_items": len(data.test_items),
        "train_interactions": len(data.train),
        "readers_ranked": len(data.eval_readers),
        "readers_evaluated": len(positives),
        "sample_readers": len(sample),
        "methods": {},
        "seconds": {},
    }
    train = data.train
    t0 = time.perf_counter()
    model = HybridRecommender(
        content=content, warm_fraction=warm_share if data.warm else 0.2, cache_dir=cache_dir,
        random_state=random_state,
    ).fit(data.papers, train)
    report["seconds"]["hybrid_fit"] = round(time.perf_counter() - t0, 2)
    report["hybrid_params"] = {k: v for k, v in vars(model.params_).items() if k != "validation"} | {
        "validation": model.params_.validation
    }
    say(f"hybrid fitted in {report['seconds']['hybrid_fit']:.1f} s")
    t0 = time.perf_counter()
    scores = model.score(data.eval_readers, cands)
    report["seconds"]["hybrid_score"] = round(time.perf_counter() - t0, 2)
    _write_rankings(Path(rankings_out), data.eval_readers, data.test_items, scores, top)
    report["methods"]["hybrid"] = {
        "all": evaluate_scores(scores, data.truth),
        "sample": evaluate_scores(scores[sample], data.truth[sample]),
    }
    del scores
    # Calibration of the like probabilities on the sample readers (every test pair).
    prob = model.probability([data.eval_readers[i] for i in sample], cands)
    liked = data.truth[sample].toarray() > 0
    report["calibration"] = {
        "source": model.calibrator_.source_,
        "ece": expected_calibration_error(prob, liked),
        "bins": {k: v.tolist() for k, v in reliability_bins(prob, liked).items()},
    }
    names = list(BASELINES) if baselines is None else list(baselines)
    for name in names:
        if name not in BASELINES:
            raise EvaluationError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
        if name == "als" and not data.warm:
            continue  # plain ALS cannot score papers nobody has seen
        if name in _EMBEDDING and not embeddings_available():
            continue
        if name == "lightfm-tfidf":
            try:
                import lightfm  # noqa: F401
            except ImportError:
                say("lightfm not installed: skipping its baseline")
                continue
        t0 = time.perf_counter()
        ranker = BASELINES[name](random_state=random_state, cache_dir=cache_dir).fit(data.papers, train)
        rows = sample if name in _SLOW else np.arange(len(data.eval_readers))
        readers = [data.eval_readers[i] for i in rows]
        s = ranker.score(readers, cands)
        result: dict[str, Any] = {"all": None}
        if name in _SLOW:
            result["sample"] = evaluate_scores(s, data.truth[sample])
        else:
            result["all"] = evaluate_scores(s, data.truth)
            result["sample"] = evaluate_scores(s[sample], data.truth[sample])
        report["methods"][name] = result
        report["seconds"][name] = round(time.perf_counter() - t0, 2)
        say(f"{name} done in {report['seconds'][name]:.1f} s")
    if report_path is not None:
        atomic_write(report_path, json.dumps(report, indent=2))
    return report
