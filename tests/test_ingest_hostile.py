"""Issue #14 items 3, 5 and 6: inputs that used to escape the one-line error, and a slow-drip server.

Every case goes through the CLI: exit 1, one line naming the culprit, nothing stored.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli
from paperdigest.core import load_settings
from paperdigest.ingest import FetchError, fetch_url
from paperdigest.store import Store
from paperdigest.store.models import Batch, BatchPaper, Paper
from sqlalchemy import func, select

ABSTRACT = "We study the problem carefully. It works."


class _Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/drip":  # a byte every 0.2 s: every single read is quick
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "400")
            self.end_headers()
            for _ in range(400):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
            return
        target = {"/loop": "/loop", "/js": "javascript:alert(1)"}.get(self.path)
        self.send_response(302 if target else 404)
        if target:
            self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _counts(env: dict[str, str]) -> tuple[int, int, int]:
    with Store.open(load_settings(env=env)) as store, store.transaction() as session:
        return tuple(session.scalar(select(func.count()).select_from(t))  # type: ignore[return-value]
                     for t in (Batch, Paper, BatchPaper))


def _refused(cli: Cli, env: dict[str, str], *args: str) -> str:
    before = _counts(env)
    result = cli("ingest", *args, ok=False)
    message = result.stderr.strip()
    assert result.exit_code == 1, message
    assert "\n" not in message and message.startswith("Error: "), message
    assert "unexpected" not in message and "SQL" not in message, message
    assert _counts(env) == before
    return message


def _json_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("raw", "expected"), [
    ("Infinity", "is not a whole number"),
    ("1e400", "is not a whole number"),
    ("NaN", "is not a whole number"),
    (str(10**30), "out of range"),
    ("-5", "out of range"),
])
def test_absurd_upvotes_are_one_line(initialised_cli: Cli, env: dict[str, str], tmp_path: Path,
                                     raw: str, expected: str) -> None:
    path = _json_file(tmp_path, "votes.json",
                      f'[\n{{"title": "Votes", "abstract": "{ABSTRACT}", "upvotes": {raw}}}\n]\n')
    message = _refused(initialised_cli, env, str(path))
    assert f"{path}, line 2" in message and expected in message


@pytest.mark.parametrize("wrapped", [False, True])
def test_json_nested_100000_deep_is_one_line(initialised_cli: Cli, env: dict[str, str], tmp_path: Path,
                                             wrapped: bool) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    text = f'{{"papers": {deep}}}' if wrapped else f"[{deep}]"
    message = _refused(initialised_cli, env, str(_json_file(tmp_path, "deep.json", text)))
    assert "nested too deeply" in message


def _store_one(cli: Cli, tmp_path: Path) -> None:
    first = [{"title": "Graph Networks at Scale", "abstract": ABSTRACT, "id": "2507.01234"}]
    cli("ingest", str(_json_file(tmp_path, "first.json", json.dumps(first))))


@pytest.mark.parametrize("order", ["title-first", "arxiv-first"])
def test_two_entries_naming_one_stored_paper(initialised_cli: Cli, env: dict[str, str], tmp_path: Path,
                                             order: str) -> None:
    _store_one(initialised_cli, tmp_path)
    by_title = {"title": "Graph Networks at Scale", "abstract": ABSTRACT}
    by_arxiv = {"title": "Graph networks at scale (v2, renamed)", "abstract": ABSTRACT,
                "id": "arXiv:2507.01234v2"}
    entries = [by_title, by_arxiv] if order == "title-first" else [by_arxiv, by_title]
    path = _json_file(tmp_path, "both.json", "[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n")
    message = _refused(initialised_cli, env, str(path))
    assert f"{path}, line 3" in message and "stored paper 2507.01234" in message
    assert "line 2 names too" in message


def test_multi_file_ingest_stores_all_or_nothing(initialised_cli: Cli, env: dict[str, str],
                                                 tmp_path: Path) -> None:
    _store_one(initialised_cli, tmp_path)
    good = _json_file(tmp_path, "good.json", json.dumps([{"title": "A New Paper", "abstract": ABSTRACT}]))
    bad = _json_file(tmp_path, "bad.json", json.dumps([
        {"title": "Graph Networks at Scale", "abstract": ABSTRACT},
        {"title": "Another name", "abstract": ABSTRACT, "id": "2507.01234"}]))
    message = _refused(initialised_cli, env, str(good), str(bad))
    assert str(bad) in message and "stored paper 2507.01234" in message
    initialised_cli("ingest", str(good), str(tmp_path / "first.json"))  # both valid: both stored
    assert _counts(env)[:2] == (2, 2)


def test_long_source_name_is_one_line(any_store: Store, tmp_path: Path) -> None:
    env = {"PAPERDIGEST_HOME": str(any_store.settings.home),
           "PAPERDIGEST_DATABASE_URL": any_store.settings.database_url}
    path = _json_file(tmp_path, "p.json", json.dumps([{"title": "Short", "abstract": ABSTRACT}]))
    message = _refused(Cli(env), env, "--source", "s" * 65, str(path))
    assert "source name" in message and "1 to 64 characters" in message
    Cli(env)("ingest", "--source", "s" * 64, str(path))


@pytest.mark.parametrize(("path", "expected"), [
    ("/loop", "too many redirects"),
    ("/js", "redirected to an address that is not http(s)"),
])
def test_hostile_redirects_are_one_line(initialised_cli: Cli, env: dict[str, str], hostile: str,
                                        path: str, expected: str) -> None:
    message = _refused(initialised_cli, env, f"{hostile}{path}")
    assert f"{hostile}{path}" in message and expected in message


def test_slow_drip_server_hits_the_total_deadline(env: dict[str, str], hostile: str) -> None:
    settings = load_settings(env={**env, "PAPERDIGEST_HTTP_TIMEOUT": "5",
                                  "PAPERDIGEST_HTTP_DEADLINE": "1", "PAPERDIGEST_HTTP_RETRIES": "2"})
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"no complete response within PAPERDIGEST_HTTP_DEADLINE \(1 s\)"):
        fetch_url(settings, f"{hostile}/drip", backoff=0.01)
    # Ends within one read of the deadline: a read here takes 0.2 s (before: 400 bytes x 0.2 s = 80 s).
    assert time.monotonic() - started < 2.5
