"""From loosely typed records (CSV rows, JSON objects, feed entries) to :class:`NewPaper`.

Field names are matched case-insensitively with a few aliases, so exports from other tools load as
they are: ``abstract``/``summary``, ``id``/``arxiv_id``, ``url``/``link``, ``date``/``published``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from paperdigest.ingest.errors import IngestError
from paperdigest.ingest.text import clean_text
from paperdigest.store.papers import MAX_UPVOTES, NewPaper, normalize_arxiv_id

__all__ = ["FIELD_ALIASES", "arxiv_from", "paper_from_record", "parse_day", "split_authors", "where"]

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "abstract": ("abstract", "summary", "description"),
    "id": ("id", "arxiv_id", "arxiv", "paper_id"),
    "url": ("url", "link", "href"),
    "authors": ("authors", "author", "creators"),
    "date": ("date", "published", "publishedat", "published_at"),
    "upvotes": ("upvotes", "votes"),
}
_ARXIV_URL_RE = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(?P<id>[^\s?#]+?)(?:\.pdf)?/?(?:[?#]|$)", re.I)
_OAI_RE = re.compile(r"^oai:arxiv\.org:(?P<id>.+)$", re.I)


def where(label: str, line: int | None, item: int | None = None) -> str:
    if line:
        return f"{label}, line {line}"
    return f"{label}, item {item}" if item else label


def arxiv_from(value: object) -> str | None:
    """An arXiv id from ``2507.01234v2``, ``arXiv:…``, ``oai:arXiv.org:…`` or an arxiv.org URL."""
    if value is None:
        return None
    text = str(value).strip()
    for pattern in (_ARXIV_URL_RE, _OAI_RE):
        match = pattern.search(text)
        if match:
            text = match["id"]
            break
    return normalize_arxiv_id(text)


def parse_day(value: object, at: str) -> dt.date | None:
    """``2025-07-04`` or an ISO timestamp -> date; None for blank; :class:`IngestError` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise IngestError(f"{at}: date {text[:40]!r} is not an ISO date such as 2025-07-04") from None


def split_authors(value: object) -> list[str]:
    """Authors from a list (of names or ``{"name": …}``) or a string separated by ``;`` or ``,``."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        names = [item.get("name", "") if isinstance(item, Mapping) else item for item in value]
    else:
        text = str(value)
        names = text.split(";") if ";" in text else text.split(",")
    out = [clean_text(name) for name in names]
    return [name for name in out if name][:200]


def _pick(record: Mapping[str, Any], key: str) -> Any:
    for alias in FIELD_ALIASES[key]:
        if alias in record and record[alias] not in (None, ""):
            return record[alias]
    return None


def paper_from_record(record: Mapping[str, Any], at: str, line: int | None) -> NewPaper:
    """One paper from a record whose keys are already lower-cased."""
    raw_title = _pick(record, "title")
    if raw_title is not None and not isinstance(raw_title, str | int | float):
        raise IngestError(f"{at}: 'title' must be text, got {type(raw_title).__name__}")
    raw_abstract = _pick(record, "abstract")
    if raw_abstract is not None and not isinstance(raw_abstract, str):
        raise IngestError(f"{at}: 'abstract' must be text, got {type(raw_abstract).__name__}")
    url = _pick(record, "url")
    url_text = str(url).strip() if url is not None else None
    if url_text and not url_text.lower().startswith(("http://", "https://")):
        url_text = None  # never keep javascript: or relative links: they end up in emails
    arxiv = arxiv_from(_pick(record, "id")) or (arxiv_from(url_text) if url_text else None)
    upvotes = _pick(record, "upvotes")
    try:
        votes = int(upvotes) if upvotes is not None and not isinstance(upvotes, bool) else None
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity or 1e400 in JSON
        raise IngestError(f"{at}: upvotes {str(upvotes)[:20]!r} is not a whole number") from None
    if upvotes is not None and votes is None:
        raise IngestError(f"{at}: upvotes {upvotes!r} is not a whole number")
    if votes is not None and not 0 <= votes <= MAX_UPVOTES:
        raise IngestError(f"{at}: upvotes {str(upvotes)[:20]} is out of range (0 to {MAX_UPVOTES:,})")
    return NewPaper(
        title=clean_text(raw_title), abstract=clean_text(raw_abstract), arxiv_id=arxiv,
        authors=split_authors(_pick(record, "authors")), url=url_text,
        published=parse_day(_pick(record, "date"), at), upvotes=votes, line=line,
    )
