"""Ingestion: parse a batch of papers from a file or URL, then store it in one transaction.

Public API (others call exactly these):

- :func:`parse_file` ``(path, *, source=None, fmt=None, today=None) -> NewBatch``
- :func:`parse_bytes` ``(data, *, label, source=None, fmt=None, today=None) -> NewBatch``
- :func:`fetch_hf` ``(settings, day, *, client=None) -> NewBatch``
- :func:`fetch_arxiv` ``(settings, category, *, client=None) -> NewBatch``
- :func:`fetch_url` ``(settings, url, *, source=None, client=None) -> NewBatch``
- :func:`ingest_batch` ``(store, batch, *, now=None) -> BatchResult`` (one transaction)
- :func:`ingest_batches` ``(store, batches) -> list[BatchResult]`` (all in one transaction)
- errors: :class:`IngestError` (bad content, an ``InvalidInput``), its subclass :class:`EmptyBatch`
  (a well-formed source with no papers), :class:`FetchError` (network/HTTP, names URL and status).

Formats: ``page`` (scraped daily-papers page text), ``hf`` (HF daily papers API JSON), ``atom``
(arXiv API), ``rss`` (arXiv category feed), ``csv``, ``json``; sniffed when ``fmt`` is None. Parsing
never touches the database; a parsed batch has already passed every check, so storing it can only fail
on the database itself.
"""

from __future__ import annotations

from paperdigest.ingest.errors import EmptyBatch, FetchError, IngestError
from paperdigest.ingest.fetch import fetch_arxiv, fetch_hf, fetch_url
from paperdigest.ingest.parse import DEFAULT_SOURCES, FORMATS, parse_bytes, parse_file, sniff_format
from paperdigest.ingest.service import ingest_batch, ingest_batches
from paperdigest.store.papers import BatchResult, NewBatch, NewPaper

__all__ = [
    "DEFAULT_SOURCES",
    "FORMATS",
    "BatchResult",
    "EmptyBatch",
    "FetchError",
    "IngestError",
    "NewBatch",
    "NewPaper",
    "fetch_arxiv",
    "fetch_hf",
    "fetch_url",
    "ingest_batch",
    "ingest_batches",
    "parse_bytes",
    "parse_file",
    "sniff_format",
]
