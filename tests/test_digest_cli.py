"""``paperdigest digest ...`` and ``paperdigest serve`` through the in-process CLI runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _digest_helpers import GRAPH, VISION, add_batch, parse
from paperdigest.core import load_settings
from paperdigest.store import Store


@pytest.fixture
def dcli(initialised_cli: Any, env: dict[str, str]) -> Any:
    initialised_cli.env["PAPERDIGEST_CONTENT_BACKEND"] = "tfidf"
    initialised_cli("users", "add", "ann@example.org", "-k", "graph")
    store = Store.open(load_settings(env=initialised_cli.env))
    add_batch(store, GRAPH + VISION)
    store.close()
    return initialised_cli


def test_preview_formats(dcli: Any, tmp_path: Path) -> None:
    text = dcli("digest", "preview", "ann@example.org").stdout
    assert "new papers for you" in text and "More like this: http" in text
    dcli("digest", "preview", "1", "--format", "eml", "--out", str(tmp_path / "d.eml"))
    msg = parse((tmp_path / "d.eml").read_bytes())
    assert msg["To"] == "ann@example.org" and msg.get_content_type() == "multipart/alternative"
    dcli("digest", "preview", "1", "--format", "html", "--out", str(tmp_path / "d.html"))
    assert "More like this</a>" in (tmp_path / "d.html").read_text()
    # Nothing was recorded by a preview.
    assert json.loads(dcli("digest", "list", "--json").stdout) == []


def test_preview_errors(dcli: Any) -> None:
    bad = dcli("digest", "preview", "nobody@example.org", ok=False)
    assert bad.exit_code == 1 and bad.stderr.strip() == "Error: no reader 'nobody@example.org'"
    fmt = dcli("digest", "preview", "1", "--format", "pdf", ok=False)
    assert fmt.exit_code == 1 and "--format must be text, html or eml" in fmt.stderr


def test_send_list_show_resend(dcli: Any, home: Path) -> None:
    dry = json.loads(dcli("digest", "send", "--dry-run", "--json").stdout)
    assert dry["counts"]["would_send"] == 1 and not list((home / "outbox").iterdir())
    sent = json.loads(dcli("digest", "send", "--user", "ann@example.org", "--json").stdout)
    assert sent["counts"]["sent"] == 1
    assert len(list((home / "outbox").glob("*.eml"))) == 1
    again = dcli("digest", "send").stdout
    assert "0 sent" in again and "1 skipped" in again
    [row] = json.loads(dcli("digest", "list", "--json").stdout)
    assert row["status"] == "sent" and row["reader"] == 1
    shown = json.loads(dcli("digest", "show", str(row["id"]), "--json").stdout)
    assert len(shown["papers"]) >= 1 and shown["message_id"].startswith("<digest.")
    assert "1." in dcli("digest", "show", str(row["id"])).stdout
    refused = dcli("digest", "resend", str(row["id"]), ok=False)
    assert refused.exit_code == 1 and "only failed or unknown digests can be resent" in refused.stderr
    missing = dcli("digest", "show", "999", ok=False)
    assert missing.stderr.strip() == "Error: no digest with id 999"
    status = dcli("digest", "list", "--status", "bogus", ok=False)
    assert "--status must be one of" in status.stderr


def test_send_before_init_and_help(cli: Any) -> None:
    result = cli("digest", "send", ok=False)
    assert result.exit_code != 0 and "paperdigest init" in result.stderr
    for command in (["digest", "--help"], ["serve", "--help"], ["digest", "resend", "--help"]):
        assert cli(*command).exit_code == 0
