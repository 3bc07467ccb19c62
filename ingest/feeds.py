"""arXiv listings: the Atom API response and the RSS feed of a category.

Elements are matched by local name, so the RSS 2.0 feed (``rss.arxiv.org``), the older RSS 1.0/RDF
feed and the Atom API all parse without caring about namespace prefixes. Documents that declare a
DOCTYPE are refused: real feeds have none, and refusing them rules out entity-expansion attacks without
an extra dependency.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import xml.etree.ElementTree as ET

from paperdigest.ingest.errors import EmptyBatch, IngestError
from paperdigest.ingest.records import arxiv_from, split_authors
from paperdigest.ingest.text import LineCounter, clean_text
from paperdigest.store.papers import NewPaper

__all__ = ["parse_xml", "xml_kind"]

_DOCTYPE_RE = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_ABSTRACT_RE = re.compile(r"^.*?\bAbstract:\s*", re.DOTALL)


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1].lower()


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in elem if _local(child.tag) == name]


def _text(elem: ET.Element, name: str) -> str:
    for child in elem:
        if _local(child.tag) == name:
            return "".join(child.itertext())
    return ""


def _parse_tree(text: str, label: str) -> ET.Element:
    if _DOCTYPE_RE.search(text[:4096]):
        raise IngestError(f"{label}, line 1: XML with a DOCTYPE or entity declaration is not accepted")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":", 1)[0]
        raise IngestError(f"{label}, line {line} column {column + 1}: malformed XML ({reason})") from None


def xml_kind(root: ET.Element) -> str | None:
    name = _local(root.tag)
    if name == "feed":
        return "atom"
    if name in {"rss", "rdf"}:
        return "rss"
    return None


def _date(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError):
        return None


def _canonical(arxiv: str | None, link: str | None) -> str | None:
    # One URL per paper whichever feed or version announced it.
    if arxiv:
        return f"https://arxiv.org/abs/{arxiv}"
    return link if link and link.lower().startswith(("http://", "https://")) else None


def _atom(root: ET.Element, label: str) -> tuple[dt.date | None, list[NewPaper]]:
    papers = []
    for entry in _children(root, "entry"):
        entry_id = _text(entry, "id").strip()
        if "/api/errors" in entry_id:  # the arXiv API reports bad queries as a one-entry feed
            raise IngestError(f"{label}: arXiv API error: {clean_text(_text(entry, 'summary'))[:200]}")
        link = next((a.get("href") for a in _children(entry, "link")
                     if a.get("rel", "alternate") == "alternate" and a.get("href")), None)
        authors = [_text(a, "name") for a in _children(entry, "author")]
        arxiv = arxiv_from(entry_id) or arxiv_from(link)
        papers.append(NewPaper(
            title=clean_text(_text(entry, "title")), abstract=clean_text(_text(entry, "summary")),
            arxiv_id=arxiv, authors=split_authors(authors), url=_canonical(arxiv, link),
            published=_date(_text(entry, "published")),
        ))
    return _date(_text(root, "updated")), papers


def _rss(root: ET.Element, label: str) -> tuple[dt.date | None, list[NewPaper]]:
    channel = next(iter(_children(root, "channel")), root)
    items = _children(channel, "item") or _children(root, "item")  # RSS 1.0 keeps items beside channel
    papers = []
    for item in items:
        link = _text(item, "link").strip()
        guid = _text(item, "guid")
        description = _text(item, "description")
        # rss.arxiv.org prefixes "arXiv:2507.01234v1 Announce Type: new Abstract: ..."
        abstract = _ABSTRACT_RE.sub("", description, count=1) if "Abstract:" in description else description
        creator = _text(item, "creator")
        title = re.sub(r"\s*\(arXiv:[^)]*\)\s*$", "", clean_text(_text(item, "title")))
        arxiv = arxiv_from(guid) or arxiv_from(link)
        papers.append(NewPaper(
            title=title, abstract=clean_text(abstract), arxiv_id=arxiv,
            authors=split_authors(clean_text(creator)), url=_canonical(arxiv, link),
            published=_date(_text(item, "pubdate") or _text(item, "date")),
        ))
    day = _date(_text(channel, "pubdate") or _text(channel, "lastbuilddate") or _text(channel, "date"))
    return day, papers


def parse_xml(text: str, label: str) -> tuple[str, dt.date | None, list[NewPaper]]:
    """Parse an Atom or RSS document: (format name, feed date, papers)."""
    root = _parse_tree(text, label)
    kind = xml_kind(root)
    if kind is None:
        raise IngestError(f"{label}: XML root <{_local(root.tag)}> is neither an Atom feed nor an RSS feed")
    day, papers = _atom(root, label) if kind == "atom" else _rss(root, label)
    if not papers:
        raise EmptyBatch(f"{label}: the {kind} feed has no entries")
    # ElementTree keeps no positions; the n-th opening tag in the text is the n-th paper.
    name = "entry" if kind == "atom" else "item"
    starts = [m.start() for m in re.finditer(rf"<(?:[\w.-]+:)?{name}[\s>/]", text)]
    if len(starts) == len(papers):
        lines = LineCounter(text)
        for paper, start in zip(papers, starts, strict=True):
            paper.line = lines.line(start)
    return kind, day, papers
