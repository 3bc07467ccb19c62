"""``paperdigest demo``: the whole loop offline in a fresh folder (TF-IDF backend for speed)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_whole_loop_and_says_where_to_look(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli.env["PAPERDIGEST_CONTENT_BACKEND"] = "tfidf"
    result = cli("demo", "--dir", "out")
    home = tmp_path / "out"
    emls = sorted((home / "outbox").glob("*.eml"))
    pages = sorted((home / "outbox").glob("*.html"))
    assert len(emls) == 6 and len(pages) == 6  # three readers, two rounds
    assert "What each reader got" in result.stdout and str(home / "outbox") in result.stdout
    assert f"paperdigest --home {home} serve" in result.stdout
    # Running it again reuses the demo folder from scratch instead of refusing.
    again = cli("demo", "--dir", "out")
    assert "First digests: 3 sent" in again.stdout
    assert len(list((home / "outbox").glob("*.eml"))) == 6


def test_demo_digests_follow_each_readers_interest(cli, tmp_path, monkeypatch):
    import re

    monkeypatch.chdir(tmp_path)
    cli.env["PAPERDIGEST_CONTENT_BACKEND"] = "tfidf"
    out = cli("demo", "--dir", "out").stdout
    firsts = [(int(a), int(b)) for a, b in re.findall(r"first digest (\d+)/(\d+)", out)]
    assert len(firsts) == 3 and all(size >= 1 for _, size in firsts)
    # Three topics among four in the data: a topic-blind ranking puts about 1 in 4 on topic. With
    # two likes each nothing is a strong match yet, so a digest may hold only the best 3.
    assert sum(on for on, _ in firsts) >= 0.5 * sum(size for _, size in firsts), out
