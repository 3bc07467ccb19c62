"""``paperdigest evaluate`` on small CSV files written in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from paperdigest.admin.cmd_evaluate import register
from paperdigest.recommender.evaluation import EvaluationError, run_evaluation
from typer.testing import CliRunner

from tests._recommender_helpers import synthetic_corpus


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:
        """Placeholder so Typer keeps sub-command names."""

    return app


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    papers, inter = synthetic_corpus(n_papers=200, n_readers=50, seed=3)
    # Arbitrary string ids, and an abstract column.
    papers["item_id"] = "paper:" + papers["id"]
    papers["abstract"] = papers["title"].str.upper()
    items = tmp_path / "items.csv"
    papers[["item_id", "title", "abstract"]].to_csv(items, index=False)
    inter_path = tmp_path / "interactions.csv"
    pd.DataFrame({"user_id": "user " + inter["reader"], "item_id": "paper:" + inter["paper"]}).to_csv(
        inter_path, index=False
    )
    test = tmp_path / "test.txt"
    test.write_text("\n".join(papers["item_id"].iloc[:40]) + "\n")
    warm = tmp_path / "warm.txt"
    warm.write_text("\n".join(f"user r{i}" for i in range(10)) + "\n")
    return {"items": items, "interactions": inter_path, "test": test, "warm": warm}


def _run(files: dict[str, Path], tmp_path: Path, *extra: str) -> object:
    args = [
        "evaluate",
        "--items", str(files["items"]),
        "--interactions", str(files["interactions"]),
        "--test-items", str(files["test"]),
        "--top", "5",
        "--rankings-out", str(tmp_path / "rankings.csv"),
        "--report", str(tmp_path / "report.json"),
        "--content", "tfidf",
        "--baselines", "random,rocchio-tfidf,als",
        *extra,
    ]  # fmt: skip
    return CliRunner().invoke(_app(), args)


def test_cold_evaluation_writes_rankings_and_report(files: dict[str, Path], tmp_path: Path) -> None:
    result = _run(files, tmp_path)
    assert result.exit_code == 0, result.output
    rankings = pd.read_csv(tmp_path / "rankings.csv", dtype=str)
    assert list(rankings.columns) == ["user_id", "item_id", "rank", "score"]
    assert set(rankings["item_id"]) <= set(files["test"].read_text().split())
    per_user = rankings.groupby("user_id")["rank"].apply(lambda r: sorted(map(int, r)))
    assert all(r == [1, 2, 3, 4, 5] for r in per_user)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "cold"
    assert set(report["methods"]) == {"hybrid", "random", "rocchio-tfidf"}  # no plain ALS cold
    hybrid = report["methods"]["hybrid"]["all"]
    assert {"recall@10", "ndcg@100"} <= set(hybrid)
    assert hybrid["recall@10"] > report["methods"]["random"]["all"]["recall@10"]
    assert "hybrid" in result.output and "recall@50" in result.output


def test_warm_readers_are_trained_on_but_not_ranked(files: dict[str, Path], tmp_path: Path) -> None:
    result = _run(files, tmp_path, "--warm-users", str(files["warm"]))
    assert result.exit_code == 0, result.output
    rankings = pd.read_csv(tmp_path / "rankings.csv", dtype=str)
    assert not set(rankings["user_id"]) & {f"user r{i}" for i in range(10)}
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "warm" and "als" in report["methods"]


def test_items_without_abstract(files: dict[str, Path], tmp_path: Path) -> None:
    frame = pd.read_csv(files["items"], dtype=str).drop(columns="abstract")
    frame.to_csv(files["items"], index=False)
    assert _run(files, tmp_path).exit_code == 0


@pytest.mark.parametrize(
    ("target", "content", "message"),
    [
        ("test", "nope\n", "test.txt:1: unknown item id 'nope'"),
        ("test", "", "test.txt: file is empty"),
        ("items", "item_id,name\n1,x\n", "items.csv: missing column(s) title"),
        ("interactions", "", "interactions.csv: file is empty"),
        ("interactions", "user_id,item_id\nu,missing\n", "interactions.csv:2: unknown item id"),
        ("warm", "stranger\n", "warm.txt:1: unknown user id 'stranger'"),
    ],
)
def test_bad_files_give_one_clear_error(
    files: dict[str, Path], tmp_path: Path, target: str, content: str, message: str
) -> None:
    files[target].write_text(content)
    with pytest.raises(EvaluationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_evaluation(
            files["items"],
            files["interactions"],
            files["test"],
            tmp_path / "r.csv",
            warm_users=files["warm"] if target == "warm" else None,
            baselines=[],
            content="tfidf",
        )
