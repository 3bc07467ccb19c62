"""Fetching over real HTTP: uvicorn on loopback serving fixtures in each real format, plus 404, 429,
500, a dropped connection, a timeout, an oversized body and a closed port."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _ingest_helpers import DroppingServer, Server
from conftest import free_port
from paperdigest.core import Settings, load_settings
from paperdigest.ingest import EmptyBatch, FetchError, IngestError, fetch_arxiv, fetch_hf, fetch_url

FAST = 0.01  # backoff base in tests: retries stay bounded and quick


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(free_port()) as running:
        yield running


@pytest.fixture
def net_env(env: dict[str, str], server: Server) -> dict[str, str]:
    return {**env, "PAPERDIGEST_HF_API_URL": f"{server.base}/api/daily_papers",
            "PAPERDIGEST_ARXIV_API_URL": f"{server.base}/api/query",
            "PAPERDIGEST_HTTP_RETRIES": "2", "PAPERDIGEST_HTTP_TIMEOUT": "1"}


@pytest.fixture
def net_settings(net_env: dict[str, str]) -> Settings:
    return load_settings(env=net_env)


def test_fetch_hf_day(net_settings: Settings) -> None:
    batch = fetch_hf(net_settings, dt.date(2025, 7, 3), backoff=FAST)
    assert batch.source == "hf" and batch.date == dt.date(2025, 7, 3)
    assert [p.upvotes for p in batch.papers] == [42, 17, 8]
    assert batch.label.endswith("/api/daily_papers?date=2025-07-03")


def test_fetch_hf_day_with_an_empty_summary_is_refused_unless_polling(
        net_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(IngestError, match=r"date=2025-07-04.*has no abstract"):
        fetch_hf(net_settings, dt.date(2025, 7, 4), backoff=FAST)
    # Unattended polling drops just that paper and says so; the day's other papers still arrive.
    batch = fetch_hf(net_settings, dt.date(2025, 7, 4), backoff=FAST, skip_incomplete=True)
    assert [p.upvotes for p in batch.papers] == [42, 8]
    assert "skipped 1 paper(s) without a title or abstract" in caplog.text


def test_scheduler_hf_poll_keeps_a_day_with_one_empty_summary(net_env: dict[str, str]) -> None:
    from paperdigest.scheduler.sources import default_fetchers

    fetch = default_fetchers(load_settings(env={**net_env, "PAPERDIGEST_SOURCES": "hf"}))["hf"]
    now = dt.datetime(2025, 7, 4, 12, tzinfo=dt.UTC)
    batches = [batch for batch, _ in fetch("2025-07-04", now)]
    assert [len(b.papers) for b in batches] == [2]


def test_fetch_hf_day_without_papers_is_an_empty_batch(net_settings: Settings) -> None:
    with pytest.raises(EmptyBatch, match=r"daily_papers\?date=2025-07-05: no papers found"):
        fetch_hf(net_settings, dt.date(2025, 7, 5), backoff=FAST)


def test_fetch_arxiv_category_sends_query_and_user_agent(net_settings: Settings, server: Server) -> None:
    batch = fetch_arxiv(net_settings, "cs.LG", backoff=FAST)
    assert batch.source == "arxiv" and len(batch.papers) == 3
    assert "search_query=cat%3Acs.LG" in batch.label
    with pytest.raises(FetchError, match=r"HTTP 400") as info:
        fetch_arxiv(net_settings, "cs.XX", backoff=FAST)
    assert info.value.status == 400
    with pytest.raises(IngestError, match="not valid"):
        fetch_arxiv(net_settings, "cs.LG&max_results=9", backoff=FAST)


def test_fetch_url_sniffs_rss_and_reuses_a_client(net_settings: Settings, server: Server) -> None:
    with httpx.Client(timeout=2) as client:
        batch = fetch_url(net_settings, f"{server.base}/rss/cs.LG", client=client)
    assert batch.source == "arxiv" and batch.papers[1].arxiv_id == "2507.01120"


def test_retries_5xx_with_backoff_then_succeeds(net_settings: Settings, server: Server) -> None:
    server.hits["flaky"] = 0
    batch = fetch_url(net_settings, f"{server.base}/flaky", backoff=FAST)
    assert len(batch.papers) == 3 and server.hits["flaky"] == 3


@pytest.mark.parametrize("code", [429, 500, 503])
def test_retryable_status_gives_up_after_bounded_retries(net_settings: Settings, server: Server,
                                                         code: int) -> None:
    key = f"status/{code}"
    server.hits[key] = 0
    url = f"{server.base}/status/{code}"
    with pytest.raises(FetchError, match=rf"^{url}: HTTP {code} .*gave up after 3 attempts") as info:
        fetch_url(net_settings, url, backoff=FAST)
    assert info.value.status == code and info.value.url == url
    assert server.hits[key] == 3  # 1 try + settings.http_retries


def test_404_is_not_retried(net_settings: Settings, server: Server) -> None:
    server.hits["status/404"] = 0
    with pytest.raises(FetchError, match=r"/status/404: HTTP 404 Not Found$"):
        fetch_url(net_settings, f"{server.base}/status/404", backoff=FAST)
    assert server.hits["status/404"] == 1


def test_retry_after_is_honoured(net_env: dict[str, str], server: Server) -> None:
    settings = load_settings(env={**net_env, "PAPERDIGEST_HTTP_RETRIES": "1"})
    started = time.monotonic()
    with pytest.raises(FetchError, match="HTTP 429"):
        fetch_url(settings, f"{server.base}/status/429?retry_after=1", backoff=FAST)
    assert time.monotonic() - started >= 0.9


def test_unreachable_url_names_it(net_settings: Settings) -> None:
    url = f"http://127.0.0.1:{free_port()}/papers.json"  # nothing listens there
    with pytest.raises(FetchError, match=rf"^{url}: cannot connect .*gave up after 3 attempts"):
        fetch_url(net_settings, url, backoff=FAST)


def test_dropped_connection_is_retried_then_reported(net_settings: Settings) -> None:
    with DroppingServer() as dropping:
        with pytest.raises(FetchError, match=rf"^{dropping.url}: cannot connect"):
            fetch_url(net_settings, dropping.url, backoff=FAST)
        assert dropping.accepted == 3


def test_timeout_is_reported(net_env: dict[str, str], server: Server) -> None:
    settings = load_settings(env={**net_env, "PAPERDIGEST_HTTP_RETRIES": "0",
                                  "PAPERDIGEST_HTTP_TIMEOUT": "0.3"})
    with pytest.raises(FetchError, match=r"/slow: timed out after 0.3 s$"):
        fetch_url(settings, f"{server.base}/slow", backoff=FAST)


def test_oversized_body_is_cut_off(net_settings: Settings, server: Server) -> None:
    with pytest.raises(IngestError, match=r"/big: response is more than the 32 MiB limit"):
        fetch_url(net_settings, f"{server.base}/big", backoff=FAST)


def test_malformed_body_names_the_url(net_settings: Settings, server: Server, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=rf"^{server.base}/status/200: no date line"):
        fetch_url(net_settings, f"{server.base}/status/200", backoff=FAST)
    with pytest.raises(FetchError, match="only http"):
        fetch_url(net_settings, "file:///etc/passwd")


# --- the same through the CLI -------------------------------------------------------------------


def test_cli_fetch_hf_then_again_is_a_no_op(cli, net_env: dict[str, str]) -> None:
    cli.env = net_env
    cli("init")
    first = cli("fetch", "--source", "hf", "--date", "2025-07-03", "--json")
    record = json.loads(first.stdout)[0]
    assert record["created"] is True and record["new_papers"] == 3 and record["source"] == "hf"
    again = cli("fetch", "--source", "hf", "--date", "2025-07-03")
    assert "already ingested as batch 1; nothing changed" in again.stdout
    arxiv = json.loads(cli("fetch", "--source", "arxiv", "--category", "cs.LG", "--json").stdout)[0]
    assert arxiv["new_papers"] == 2 and arxiv["linked_papers"] == 1  # 2507.01001 came from HF
    listed = json.loads(cli("batches", "list", "--json").stdout)
    assert [b["source"] for b in listed] == ["arxiv", "hf"]


def test_cli_ingest_url(cli, net_env: dict[str, str], server: Server) -> None:
    cli.env = net_env
    cli("init")
    result = cli("ingest", f"{server.base}/files/papers.csv")
    assert "3 papers, 3 new" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--source", "hf", "--date", "2025-07-06"), "daily_papers?date=2025-07-06: HTTP 404 Not Found"),
        (("--source", "hf", "--date", "2025-07-05"), "daily_papers?date=2025-07-05: no papers found"),
        (("--source", "hf", "--date", "July"), "--date must be YYYY-MM-DD"),
        (("--source", "arxiv", "--category", "cs.XX"), "HTTP 400"),
        (("--source", "rss"), "--source must be hf or arxiv"),
    ],
)
def test_cli_fetch_failures_are_one_line(cli, net_env: dict[str, str], args: tuple[str, ...],
                                         expected: str) -> None:
    cli.env = {**net_env, "PAPERDIGEST_HTTP_RETRIES": "0"}
    cli("init")
    result = cli("fetch", *args, ok=False)
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message and expected in message, message


@pytest.mark.parametrize("path", ["/status/500", "/status/429"])
def test_cli_ingest_http_errors(cli, net_env: dict[str, str], server: Server, path: str) -> None:
    cli.env = {**net_env, "PAPERDIGEST_HTTP_RETRIES": "0"}
    cli("init")
    result = cli("ingest", server.base + path, ok=False)
    assert result.exit_code != 0
    assert result.stderr.strip() == f"Error: {server.base}{path}: HTTP {path[-3:]} " + (
        "Internal Server Error" if path.endswith("500") else "Too Many Requests")


def test_cli_unreachable_url(cli, net_env: dict[str, str]) -> None:
    cli.env = {**net_env, "PAPERDIGEST_HTTP_RETRIES": "0"}
    cli("init")
    url = f"http://127.0.0.1:{free_port()}/x.json"
    result = cli("ingest", url, ok=False)
    assert result.exit_code != 0 and result.stderr.startswith(f"Error: {url}: cannot connect")
