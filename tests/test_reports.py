"""The operator report: the numbers it collects, the page it renders, `paperdigest report`."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from _report_helpers import fit_model, populate
from conftest import Cli
from paperdigest.core import load_settings
from paperdigest.reports import collect, render_report
from paperdigest.store import Store


@pytest.fixture
def lab(store: Store, tmp_path: Path) -> tuple[Store, dict[str, int], dt.datetime]:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)  # after the batch is fetched
    return store, populate(store, tmp_path / "out", when), when


def test_collect_counts_the_lab(lab: tuple[Store, dict[str, int], dt.datetime]) -> None:
    store, _, when = lab
    report = collect(store, store.settings, days=7, silent_after=1, now=when + dt.timedelta(hours=2))
    assert report.totals()["sent"] == 2 and report.totals()["likes"] == 1
    assert report.by_position[0]["position"] == 1 and report.by_position[0]["like_rate"] == 0.5
    [cohort] = {row["cohort"] for row in report.cohorts}
    assert cohort == when.strftime("%Y-%m")
    assert [row["email"] for row in report.silent] == ["bob@example.org"]
    failing = {row["source"]: row["failures"] for row in report.sources}
    assert failing == {"arxiv:cs.LG": 1, "hf": 0}
    assert report.model is None
    assert report.readers["active"] == 2


def test_silent_needs_enough_digests(lab: tuple[Store, dict[str, int], dt.datetime]) -> None:
    store, _, when = lab
    report = collect(store, store.settings, silent_after=2, now=when)
    assert report.silent == []  # one digest each: nobody had two chances yet


def test_page_is_self_contained_with_charts(lab: tuple[Store, dict[str, int], dt.datetime]) -> None:
    store, _, when = lab
    report = collect(store, store.settings, silent_after=1, now=when + dt.timedelta(hours=2))
    # Whatever mapping the model store records (e.g. validation scores) is shown as a table.
    report = replace(report, model={"fitted_at": when.isoformat(), "papers": 5,
                                    "validation": {"recall@10": 0.42, "ndcg@10": 0.31}})
    html = render_report(report, mask=True)
    assert html.count("<svg") == 4  # digests, reactions, positions, cohorts
    assert "<script" not in html and "src=" not in html and "href=\"http" not in html
    assert "b***@example.org" in html and "bob@example.org" not in html
    assert "50.0%" in html  # like rate as a percentage
    assert "HTTP 503 from export.arxiv.org" in html
    assert "recall@10" in html and "0.42" in html
    assert render_report(report).count("bob@example.org") == 1  # unmasked for the dashboard


def test_real_model_is_described(lab: tuple[Store, dict[str, int], dt.datetime]) -> None:
    store, _, when = lab
    fit_model(store)
    report = collect(store, store.settings, now=when + dt.timedelta(hours=1))
    assert report.model is not None and report.model["papers"] == 5
    html = render_report(report)
    assert "Fitted 20" in html and "No model has been fitted yet" not in html


def test_unreadable_model_is_reported_not_fatal(store: Store) -> None:
    from paperdigest.ranking.model_store import MODEL_FILE

    store.settings.model_dir.mkdir(parents=True, exist_ok=True)
    (store.settings.model_dir / MODEL_FILE).write_bytes(b"not a model")
    report = collect(store, store.settings)
    assert report.model is None and report.model_error
    assert "The saved model cannot be read" in render_report(report)


def test_empty_store_says_so_in_words(store: Store) -> None:
    html = render_report(collect(store, store.settings))
    assert "<svg" not in html
    for words in ("No digests were sent", "No model has been fitted yet",
                  "has not polled any source yet", "No batch of papers has been ingested yet"):
        assert words in html


def test_report_command_writes_one_file(initialised_cli: Cli, home: Path, tmp_path: Path) -> None:
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home)})
    with Store.open(settings) as store:
        populate(store, tmp_path / "out", dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    out = tmp_path / "report.html"
    result = initialised_cli("report", "--out", str(out), "--silent-after", "1")
    assert "Report written" in result.stdout and result.stderr == ""
    html = out.read_text(encoding="utf-8")
    assert html.count("<svg") == 4 and "b***@example.org" in html


@pytest.mark.parametrize(("args", "needle"), [
    (("--days", "0"), "--days"), (("--silent-after", "0"), "--silent-after"),
])
def test_report_bad_input(initialised_cli: Cli, tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    out = tmp_path / "r.html"
    result = initialised_cli("report", "--out", str(out), *args, ok=False)
    assert result.exit_code != 0 and needle in result.stderr and not out.exists()
