"""A reader's reference library — BibTeX, RIS, a Zotero CSV export or a plain list — as plain entries.

Parsing never touches the database: the result is a list of :class:`store.library.LibraryEntry`
(title, arXiv id, DOI, ...) with the line each starts on, already merged where the file names the same
paper twice (same arXiv id, DOI or normalized title). Matching against the store is
:func:`store.library.seed_library`'s job.

Formats (``fmt``): ``bibtex``, ``ris``, ``csv`` (Zotero's "Export Collection → CSV", or any CSV with a
title, DOI, URL or arXiv column) and ``list`` (one arXiv id, DOI or title per line; ``#`` starts a
comment). Without ``fmt`` the file extension decides, else the content is sniffed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from paperdigest.ingest.errors import IngestError
from paperdigest.ingest.records import arxiv_from
from paperdigest.ingest.tables import csv_records
from paperdigest.ingest.text import clean_text, decode
from paperdigest.store.library import LibraryEntry, normalize_doi
from paperdigest.store.papers import normalize_arxiv_id, title_key

__all__ = [
    "LIBRARY_FORMATS",
    "ParsedLibrary",
    "merge_duplicates",
    "parse_library",
    "parse_library_file",
    "parse_reference",
    "sniff_library_format",
    "split_references",
]

LIBRARY_FORMATS = ("bibtex", "ris", "csv", "list")
_EXTENSIONS = {".bib": "bibtex", ".bibtex": "bibtex", ".ris": "ris", ".csv": "csv", ".tsv": "csv",
               ".txt": "list", ".list": "list"}
_RIS_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")
# arXiv ids as reference managers write them: "arXiv:2501.00001", "arXiv preprint arXiv:2501.00001",
# "arXiv: 2501.00001" in Zotero's Extra field, or the DataCite DOI 10.48550/arXiv.2501.00001.
_ARXIV_IN_TEXT = re.compile(r"arxiv[.:]\s*(\d{4}\.\d{4,5}(?:v\d+)?|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})", re.I)
_CSV_COLUMNS = {"title", "doi", "url", "arxiv", "arxiv_id", "extra"}


@dataclass
class ParsedLibrary:
    """A parsed library: merged entries, and each merged duplicate as (its line, the kept entry's line)."""

    fmt: str
    entries: list[LibraryEntry]
    duplicates: list[tuple[int | None, int | None]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.entries) + len(self.duplicates)


def sniff_library_format(text: str, name: str = "") -> str:
    """The format of decoded library text; ``name`` (a file name) is consulted first for its extension."""
    suffix = Path(name).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    # A plain list may open with "#" comments, which would otherwise pass for a CSV header.
    lines = [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]
    first = lines[0].lstrip() if lines else ""
    if first.startswith(("@", "%")):
        return "bibtex"
    if _RIS_TAG.match(first):
        return "ris"
    cells = {c.strip().strip('"').lower() for c in first.replace("\t", ",").split(",")}
    if len(cells) > 1 and cells & (_CSV_COLUMNS | {"key", "item type"}):
        return "csv"
    return "list"


def _arxiv(*values: object) -> str | None:
    """The first arXiv id found in any of ``values`` (ids, URLs, DOIs, free text)."""
    for value in values:
        if not value:
            continue
        found = arxiv_from(value)
        if found is None:
            match = _ARXIV_IN_TEXT.search(str(value))
            found = normalize_arxiv_id(match.group(1)) if match else None
        if found:
            return found
    return None


def _doi(*values: object) -> str | None:
    for value in values:
        doi = normalize_doi(str(value)) if value else None
        if doi:
            return doi
    return None


def _web_url(value: object) -> str | None:
    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else None


def _entry(at: str, line: int | None, key: str, title: str, arxiv: str | None, doi: str | None,
           abstract: str = "", authors: Iterable[str] = (), url: str | None = None) -> LibraryEntry:
    entry = LibraryEntry(title=clean_text(title), arxiv_id=arxiv, doi=doi, abstract=clean_text(abstract),
                         authors=list(authors), url=url, line=line, key=key)
    if not (entry.title or entry.arxiv_id or entry.doi):
        what = f"entry {key!r}" if key else "entry"
        raise IngestError(f"{at}: {what} has no title (and no DOI or arXiv id to find the paper by)")
    return entry


def parse_reference(text: str, line: int | None = None, label: str = "") -> LibraryEntry:
    """One plain reference: an arXiv id or URL, a DOI (bare, ``doi:`` or a doi.org URL), else a title.

    The text itself is kept as ``key``, so a caller can also try it as a stored paper id.
    """
    ref = " ".join(text.split())
    at = ", ".join(part for part in (label, f"line {line}" if line else "") if part) or repr(ref[:60])
    arxiv = arxiv_from(ref)
    doi = None if arxiv else normalize_doi(ref)
    if doi and doi.startswith("10.48550/arxiv."):  # arXiv's own DOI: match by the arXiv id
        arxiv, doi = _arxiv(doi), None
    title = "" if (arxiv or doi) else ref
    return _entry(at, line, ref, title, arxiv, doi)


def split_references(cell: str) -> list[str]:
    """Paper references in one CSV cell, separated by ``;`` or ``|`` (titles may hold commas)."""
    return [part.strip() for part in re.split(r"[;|]", cell or "") if part.strip()]


def _parse_list(text: str, label: str) -> list[LibraryEntry]:
    out = []
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            out.append(parse_reference(stripped, number, label))
    return out


def _latex(value: str) -> str:
    """BibTeX value to plain text: braces dropped, LaTeX accents and commands decoded."""
    if "\\" in value:
        from pylatexenc.latex2text import LatexNodes2Text  # only when a value needs it (slow import)

        value = LatexNodes2Text().latex_to_text(value)
    return value.replace("{", "").replace("}", "")


def _parse_bibtex(text: str, label: str) -> list[LibraryEntry]:
    import bibtexparser

    # bibtexparser logs each failed block at WARNING; we report the first one ourselves.
    logging.getLogger("bibtexparser").setLevel(logging.ERROR)
    library = bibtexparser.parse_string(text)
    blocks = []
    for failed in library.failed_blocks:
        entry = getattr(failed, "ignore_error_block", None)
        if type(failed).__name__ == "DuplicateBlockKeyBlock" and entry is not None:
            blocks.append(entry)  # a repeated citation key is a duplicate to merge, not a syntax error
            continue
        reason = getattr(failed.error, "abort_reason", "") or str(failed.error) or "syntax error"
        raise IngestError(f"{label}, line {failed.start_line + 1}: malformed BibTeX entry"
                          f" ({' '.join(reason.split())})")
    blocks.extend(library.entries)
    blocks.sort(key=lambda block: block.start_line)
    out = []
    for block in blocks:
        fields = {k.lower(): _latex(str(v.value)).strip() for k, v in block.fields_dict.items()}
        line = block.start_line + 1
        url = _web_url(fields.get("url"))
        eprint = fields.get("eprint") if fields.get("archiveprefix", "arxiv").lower() == "arxiv" else None
        arxiv = _arxiv(eprint, url, fields.get("doi"), fields.get("journal"), fields.get("note"))
        doi = _doi(fields.get("doi"))
        if doi and doi.startswith("10.48550/"):
            doi = None
        authors = [" ".join(a.split()) for a in re.split(r"\s+and\s+", fields.get("author", "")) if a.strip()]
        out.append(_entry(f"{label}, line {line}", line, block.key, fields.get("title", ""), arxiv, doi,
                          fields.get("abstract", ""), authors[:200], url))
    return out


def _ris_records(text: str, label: str) -> list[tuple[int, str]]:
    """(first line, text) of each ``TY … ER`` record; stray or unterminated lines are errors."""
    records: list[tuple[int, str]] = []
    start: int | None = None
    current: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        tag = _RIS_TAG.match(line)
        if start is None:
            if not line.strip():
                continue
            if not tag or tag.group(1) != "TY":
                raise IngestError(f"{label}, line {number}: expected 'TY  - ' to start a RIS record,"
                                  f" found {line.strip()[:40]!r}")
            start, current = number, [line]
        elif tag and tag.group(1) == "TY":
            raise IngestError(f"{label}, line {number}: a new RIS record starts before the one from"
                              f" line {start} ended with 'ER  -'")
        else:
            current.append(line)
            if tag and tag.group(1) == "ER":
                records.append((start, "\n".join(current) + "\n"))
                start, current = None, []
    if start is not None:
        raise IngestError(f"{label}, line {start}: RIS record has no 'ER  -' end (is the file truncated?)")
    return records


def _parse_ris(text: str, label: str) -> list[LibraryEntry]:
    import rispy

    out = []
    for line, record in _ris_records(text, label):
        at = f"{label}, line {line}"
        try:
            parsed = rispy.loads(record)
        except Exception as exc:  # rispy raises bare IOError/ValueError/KeyError on odd records
            raise IngestError(f"{at}: malformed RIS record ({exc})") from None
        item = parsed[0] if parsed else {}
        urls = [u for u in item.get("urls", []) if u]
        title = item.get("title") or item.get("primary_title") or ""
        abstract = item.get("abstract") or item.get("notes_abstract") or ""
        arxiv = _arxiv(*urls, item.get("doi"), item.get("secondary_title"), item.get("notes"))
        doi = _doi(item.get("doi"))
        if doi and doi.startswith("10.48550/"):
            doi = None
        authors = item.get("authors") or item.get("first_authors") or []
        url = next((u for u in map(_web_url, urls) if u), None)
        out.append(_entry(at, line, item.get("id") or "", str(title), arxiv, doi, str(abstract),
                          [str(a) for a in authors][:200], url))
    return out


def _authors_cell(cell: str) -> list[str]:
    # Zotero writes "Last, First; Last, First": the comma is inside a name, only ";" separates.
    return [" ".join(name.split()) for name in cell.split(";") if name.strip()][:200]


def _parse_csv(text: str, label: str) -> list[LibraryEntry]:
    header, rows = csv_records(text, label)
    if not set(header) & _CSV_COLUMNS:
        raise IngestError(f"{label}, line 1: CSV header has none of the columns Title, DOI, Url, arXiv"
                          f" (found: {', '.join(header)[:80]})")
    out = []
    for line, row in rows:
        url = _web_url(row.get("url"))
        arxiv = _arxiv(row.get("arxiv_id"), row.get("arxiv"), url, row.get("doi"), row.get("extra"),
                       row.get("archive location"), row.get("publication title"))
        doi = _doi(row.get("doi"))
        if doi and doi.startswith("10.48550/"):
            doi = None
        out.append(_entry(f"{label}, line {line}", line, row.get("key", ""), row.get("title", ""), arxiv,
                          doi, row.get("abstract note") or row.get("abstract") or "",
                          _authors_cell(row.get("author") or row.get("authors") or ""), url))
    return out


_PARSERS = {"bibtex": _parse_bibtex, "ris": _parse_ris, "csv": _parse_csv, "list": _parse_list}


def merge_duplicates(entries: list[LibraryEntry]) -> ParsedLibrary:
    """Merge entries naming the same paper (same arXiv id, DOI or normalized title), first one kept.

    The kept entry takes what it lacks (title, ids, abstract, authors, URL) from its duplicates.
    """
    kept: list[LibraryEntry] = []
    index: dict[str, LibraryEntry] = {}
    duplicates: list[tuple[int | None, int | None]] = []

    def keys(entry: LibraryEntry) -> list[str]:
        out = []
        if entry.arxiv_id:
            out.append("a:" + entry.arxiv_id)
        if entry.doi:
            out.append("d:" + entry.doi)
        if entry.title.strip():
            out.append("t:" + title_key(entry.title))
        return out

    for entry in entries:
        own = keys(entry)
        first = next((index[k] for k in own if k in index), None)
        if first is None:
            kept.append(entry)
            for key in own:
                index[key] = entry
        else:
            duplicates.append((entry.line, first.line))
            first.title = first.title or entry.title
            first.arxiv_id = first.arxiv_id or entry.arxiv_id
            first.doi = first.doi or entry.doi
            first.abstract = first.abstract or entry.abstract
            first.authors = first.authors or entry.authors
            first.url = first.url or entry.url
            for key in keys(first):
                index.setdefault(key, first)
    return ParsedLibrary("", kept, duplicates)


def parse_library(data: bytes, label: str, fmt: str | None = None) -> ParsedLibrary:
    """Decode, parse and merge a library file's bytes; :class:`IngestError` names the first bad line."""
    if fmt is not None and fmt not in LIBRARY_FORMATS:
        raise IngestError(f"unknown library format {fmt!r} (known: {', '.join(LIBRARY_FORMATS)})")
    text = decode(data, label)
    fmt = fmt or sniff_library_format(text, label)
    entries = _PARSERS[fmt](text, label)
    if not entries:
        raise IngestError(f"{label}: no references found (read as {fmt})")
    parsed = merge_duplicates(entries)
    parsed.fmt = fmt
    return parsed


def parse_library_file(path: Path, fmt: str | None = None) -> ParsedLibrary:
    """:func:`parse_library` on a file (its name gives the extension and the messages' label)."""
    return parse_library(path.read_bytes(), str(path), fmt)
