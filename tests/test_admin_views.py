"""Operator views read well: addresses not ids, titles with an ellipsis, percentages, plain empty states."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from _digest_helpers import GRAPH
from _report_helpers import populate
from conftest import Cli
from paperdigest.core import load_settings
from paperdigest.store import Store


def test_empty_states_are_sentences(initialised_cli: Cli) -> None:
    stats = initialised_cli("stats").stdout
    assert "No digests sent and no reactions in the last 14 days." in stats
    assert "No like rate by position yet" in stats and "(no " not in stats
    assert "No readers yet: add one with `paperdigest users add EMAIL`." in initialised_cli(
        "users", "list").stdout
    assert initialised_cli("digest", "list").stdout == "No digests yet.\n"


def test_users_list_shows_weekday_and_pause(initialised_cli: Cli) -> None:
    cli = initialised_cli
    cli("users", "add", "ann@example.org", "--cadence", "weekly", "--weekday", "fri")
    cli("users", "edit", "ann@example.org", "--status", "paused")
    out = cli("users", "list").stdout
    assert "weekday" in out and "fri" in out and "paused" in out


def test_views_with_a_lab(initialised_cli: Cli, home: Path, tmp_path: Path) -> None:
    with Store.open(load_settings(env={"PAPERDIGEST_HOME": str(home)})) as store:
        populate(store, tmp_path / "out", dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    stats = initialised_cli("stats").stdout
    assert "50.0%" in stats and "0.5" not in stats.replace("50.0%", "")
    digests = initialised_cli("digest", "list").stdout
    assert "ann@example.org" in digests and "bob@example.org" in digests
    shown = initialised_cli("users", "show", "ann@example.org").stdout
    [likes] = [line for line in shown.splitlines() if line.startswith("likes")]
    assert any(title in likes for title, _ in GRAPH)  # the liked paper, by title


def test_long_titles_get_an_ellipsis(initialised_cli: Cli, home: Path) -> None:
    from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch

    title = "A very long title " + " ".join(f"word{i}" for i in range(30))
    with Store.open(load_settings(env={"PAPERDIGEST_HOME": str(home)})) as store, \
            store.transaction() as session:
        upsert_batch(session, NewBatch("file", "b", [NewPaper(title, "abstract")]))
    out = initialised_cli("papers", "list").stdout
    assert "…" in out and title not in out
