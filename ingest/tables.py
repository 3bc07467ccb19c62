"""CSV files, plain JSON files and the Hugging Face daily papers API response.

JSON arrays are read element by element with ``raw_decode`` so that every error names the line where
the offending object starts; a syntax error names line and column as :mod:`json` reports them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from typing import Any

from paperdigest.ingest.errors import IngestError
from paperdigest.ingest.records import FIELD_ALIASES, paper_from_record, where
from paperdigest.ingest.text import LineCounter, line_of
from paperdigest.store.papers import NewPaper

__all__ = ["csv_records", "is_hf_json", "json_items", "parse_csv", "parse_hf", "parse_json"]

_DECODER = json.JSONDecoder()
_WS_RE = re.compile(r"[ \t\n\r]*")


def _syntax(label: str, exc: json.JSONDecodeError) -> IngestError:
    reason = exc.msg
    if exc.pos >= len(exc.doc.rstrip()):
        reason = "the file ends in the middle of a value; is it truncated?"
    return IngestError(f"{label}, line {exc.lineno} column {exc.colno}: malformed JSON ({reason})")


def _skip_ws(text: str, pos: int) -> int:
    match = _WS_RE.match(text, pos)
    return match.end() if match else pos


def _too_deep(label: str) -> IngestError:
    return IngestError(f"{label}: malformed JSON (values nested too deeply; a batch needs only a few"
                       " levels)")


def json_items(text: str, label: str) -> list[tuple[int, Any]]:
    """(line, value) of each element of a top-level array, or of ``{"papers": [...]}``'s list."""
    start = _skip_ws(text, 0)
    if text.startswith("{", start):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _syntax(label, exc) from None
        except RecursionError:  # the C decoder recurses once per nesting level
            raise _too_deep(label) from None
        items = data.get("papers") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise IngestError(f"{label}: JSON object has no 'papers' list")
        return [(0, item) for item in items]
    if not text.startswith("[", start):
        raise IngestError(f"{label}, line 1: malformed JSON (expected an array of papers)")
    out: list[tuple[int, Any]] = []
    lines = LineCounter(text)
    pos = _skip_ws(text, start + 1)
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            try:
                value, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise _syntax(label, exc) from None
            except RecursionError:
                raise _too_deep(label) from None
            out.append((lines.line(pos), value))
            pos = _skip_ws(text, end)
            if text.startswith(",", pos):
                pos = _skip_ws(text, pos + 1)
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            what = "end of file" if pos >= len(text) else repr(text[pos])
            raise IngestError(
                f"{label}, line {line_of(text, pos)}: malformed JSON (expected ',' or ']' but found"
                f" {what}; is the file truncated?)"
            )
    rest = _skip_ws(text, pos)
    if rest < len(text):
        raise IngestError(f"{label}, line {line_of(text, rest)}: malformed JSON (extra data after the array)")
    return out


def _lower(record: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in record.items()}


def is_hf_json(items: list[tuple[int, Any]]) -> bool:
    """The HF API wraps each paper in ``{"paper": {...}, ...}``."""
    return bool(items) and all(isinstance(v, dict) and isinstance(v.get("paper"), dict) for _, v in items)


def parse_json(items: list[tuple[int, Any]], label: str) -> list[NewPaper]:
    """A JSON array (or ``{"papers": [...]}``) of objects with title, abstract and optional fields.

    ``items`` is :func:`json_items`'s result: the text is decoded once, whatever the format.
    """
    papers = []
    for number, (line, value) in enumerate(items, start=1):
        at = where(label, line, number)
        if not isinstance(value, dict):
            raise IngestError(f"{at}: expected a JSON object per paper, got {type(value).__name__}")
        papers.append(paper_from_record(_lower(value), at, line or None))
    return papers


def parse_hf(items: list[tuple[int, Any]], label: str) -> list[NewPaper]:
    """The ``/api/daily_papers`` response: ``[{"paper": {"id", "title", "summary", ...}, ...}]``.

    ``items`` is :func:`json_items`'s result.
    """
    papers = []
    for number, (line, value) in enumerate(items, start=1):
        at = where(label, line, number)
        if not isinstance(value, dict) or not isinstance(value.get("paper"), dict):
            raise IngestError(f"{at}: expected an object with a 'paper' object (Hugging Face API format)")
        # The outer object repeats title/publishedAt; the inner "paper" is authoritative.
        record = _lower({**value, **value["paper"]})
        record.pop("url", None)
        paper = paper_from_record(record, at, line or None)
        if paper.arxiv_id:
            paper.url = f"https://huggingface.co/papers/{paper.arxiv_id}"
        papers.append(paper)
    return papers


def csv_records(text: str, label: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Lower-cased header and ``(line, {column: cell})`` of each non-blank row of a CSV/TSV text.

    Malformed quoting or a row with the wrong number of fields is an :class:`IngestError` naming the
    line where the row starts (a quoted cell may span lines).
    """
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise IngestError(f"{label}: file is empty") from None
    except csv.Error as exc:
        raise IngestError(f"{label}, line 1: malformed CSV header ({exc})") from None
    rows: list[tuple[int, dict[str, str]]] = []
    previous_end = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise IngestError(
                f"{label}, line {previous_end + 1}: malformed CSV ({exc}; is the file truncated?)"
            ) from None
        line = previous_end + 1
        previous_end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise IngestError(
                f"{label}, line {line}: {len(row)} fields but the header has {len(header)}"
                " (is the file truncated or a quote missing?)"
            )
        rows.append((line, dict(zip(header, row, strict=True))))
    return header, rows


def parse_csv(text: str, label: str) -> list[NewPaper]:
    """A CSV (or tab separated) file with a header row naming at least title and abstract."""
    header, rows = csv_records(text, label)
    if "title" not in header:
        found = ", ".join(header)[:80]
        raise IngestError(f"{label}, line 1: CSV header has no 'title' column (found: {found})")
    if not set(header) & set(FIELD_ALIASES["abstract"]):
        raise IngestError(f"{label}, line 1: CSV header has no 'abstract' column")
    return [paper_from_record(record, f"{label}, line {line}", line) for line, record in rows]
