"""Fetching batches over HTTP with httpx: timeouts, bounded retries with backoff, a clear User-Agent.

Connection errors, timeouts, 429 and 5xx are retried ``settings.http_retries`` times, waiting
``backoff * 2**attempt`` seconds (or the server's ``Retry-After``, capped at :data:`MAX_WAIT`). Any other
4xx fails at once. Bodies are streamed and cut off at the batch size limit. ``http_timeout`` bounds each
read; ``http_deadline`` bounds the whole fetch (retries, waits and a body that drips in a byte at a
time), which ends at most one read later than the deadline. Redirect loops and redirects to anything
but http(s) fail at once. Every failure is a :class:`FetchError` naming the URL and, when there was
one, the HTTP status.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
from paperdigest.core.settings import Settings
from paperdigest.ingest.errors import FetchError, IngestError
from paperdigest.ingest.parse import parse_bytes
from paperdigest.ingest.text import MAX_INPUT_BYTES, describe_size
from paperdigest.store.papers import NewBatch

__all__ = ["ARXIV_MAX_RESULTS", "MAX_WAIT", "USER_AGENT", "fetch_arxiv", "fetch_hf", "fetch_url", "get_bytes"]

USER_AGENT = "paperdigest/0.1 (personal research-paper digests; python-httpx)"
MAX_WAIT = 60.0  # seconds: never sleep longer than this for one retry, whatever Retry-After says
ARXIV_MAX_RESULTS = 200
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


class _Late(Exception):
    """The fetch's total deadline passed."""


def _read_limited(response: httpx.Response, url: str, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_INPUT_BYTES:
        raise IngestError(f"{url}: response is {describe_size(int(declared))}, more than the"
                          f" {MAX_INPUT_BYTES // 2**20} MiB limit for one batch")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_INPUT_BYTES:
            raise IngestError(f"{url}: response is more than the {MAX_INPUT_BYTES // 2**20} MiB limit"
                              " for one batch")
        chunks.append(chunk)
        if time.monotonic() > deadline:  # a server dripping bytes resets every read timeout
            raise _Late
    return b"".join(chunks)


def get_bytes(
    settings: Settings,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    client: httpx.Client | None = None,
    backoff: float = 1.0,
) -> tuple[str, bytes]:
    """GET ``url`` with retries; returns (the final URL as text, body bytes).

    Raises
    ------
    FetchError
        Unreachable host, timeout, dropped connection or an HTTP error status, after the retries.
    """
    own = client is None
    http = client or httpx.Client(timeout=settings.http_timeout, follow_redirects=True,
                                  headers={"User-Agent": USER_AGENT})
    shown = str(httpx.URL(url, params=params)) if params else url
    deadline = time.monotonic() + settings.http_deadline
    late = FetchError(f"{shown}: no complete response within PAPERDIGEST_HTTP_DEADLINE"
                      f" ({settings.http_deadline:g} s)", url=shown)
    try:
        attempt = 0
        while True:
            wait = backoff * (2 ** attempt)
            left = deadline - time.monotonic()
            if left <= 0:
                raise late
            try:
                with http.stream("GET", url, params=params, headers={"User-Agent": USER_AGENT},
                                 timeout=min(settings.http_timeout, left)) as response:
                    if response.status_code < 400:
                        return shown, _read_limited(response, shown, deadline)
                    status = response.status_code
                    error = FetchError(f"{shown}: HTTP {status} {response.reason_phrase}".rstrip(),
                                       url=shown, status=status)
                    if status not in _RETRY_STATUS:
                        raise error
                    wait = _retry_after(response) or wait
            except _Late:
                raise late from None
            except httpx.TooManyRedirects:
                raise FetchError(f"{shown}: too many redirects (a redirect loop?)", url=shown) from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                # A redirect to javascript:, file: or a malformed Location; retrying cannot help.
                raise FetchError(f"{shown}: redirected to an address that is not http(s) ({exc})",
                                 url=shown) from None
            except httpx.TimeoutException:
                error = FetchError(f"{shown}: timed out after {settings.http_timeout:g} s", url=shown)
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
                error = FetchError(f"{shown}: cannot connect ({reason})", url=shown)
            if attempt >= settings.http_retries:
                if attempt:
                    raise FetchError(f"{error} (gave up after {attempt + 1} attempts)", url=shown,
                                     status=error.status)
                raise error
            if time.monotonic() + min(wait, MAX_WAIT) >= deadline:
                raise FetchError(f"{error} (no time left for a retry within PAPERDIGEST_HTTP_DEADLINE"
                                 f" {settings.http_deadline:g} s)", url=shown, status=error.status)
            time.sleep(min(wait, MAX_WAIT))
            attempt += 1
    finally:
        if own:
            http.close()


def fetch_url(
    settings: Settings,
    url: str,
    *,
    source: str | None = None,
    client: httpx.Client | None = None,
    fmt: str | None = None,
    backoff: float = 1.0,
) -> NewBatch:
    """Fetch any batch URL (format sniffed from the body) and parse it; labelled with the URL."""
    if not url.lower().startswith(("http://", "https://")):
        raise FetchError(f"{url}: only http:// and https:// URLs can be fetched", url=url)
    shown, body = get_bytes(settings, url, client=client, backoff=backoff)
    return parse_bytes(body, label=shown, source=source, fmt=fmt, today=dt.date.today())


def fetch_hf(
    settings: Settings,
    day: dt.date,
    *,
    client: httpx.Client | None = None,
    backoff: float = 1.0,
    skip_incomplete: bool = False,
) -> NewBatch:
    """The Hugging Face daily papers of ``day`` (``settings.hf_api_url?date=YYYY-MM-DD``), source ``hf``.

    Raises :class:`ingest.errors.EmptyBatch` when the day has no papers. ``skip_incomplete``: see
    :func:`ingest.parse.parse_bytes`.
    """
    shown, body = get_bytes(settings, settings.hf_api_url, params={"date": day.isoformat()},
                            client=client, backoff=backoff)
    batch = parse_bytes(body, label=shown, source="hf", fmt="hf", skip_incomplete=skip_incomplete)
    batch.date = day
    return batch


def fetch_arxiv(
    settings: Settings,
    category: str,
    *,
    client: httpx.Client | None = None,
    max_results: int = ARXIV_MAX_RESULTS,
    backoff: float = 1.0,
    skip_incomplete: bool = False,
) -> NewBatch:
    """The newest submissions of an arXiv category from the Atom API (``settings.arxiv_api_url``)."""
    category = category.strip()
    if not category or any(ch.isspace() or ch in "&?#=" for ch in category):
        raise IngestError(f"arXiv category {category!r} is not valid (example: cs.LG)")
    params = {"search_query": f"cat:{category}", "sortBy": "submittedDate", "sortOrder": "descending",
              "start": 0, "max_results": max_results}
    shown, body = get_bytes(settings, settings.arxiv_api_url, params=params, client=client, backoff=backoff)
    return parse_bytes(body, label=shown, source="arxiv", fmt="atom", skip_incomplete=skip_incomplete)
