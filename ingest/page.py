"""The scraped daily-papers page as plain text (the format of ``shared/seeds``).

Layout: a few header lines, a date line with no year (``Jul 4``), then for each paper a one-line title
and an abstract paragraph, paragraphs separated by blank lines. The year is inferred: the most recent
such date that is not after ``today`` (the day the page was saved or fetched).

A title whose next paragraph is another title (or the end of the file, as in a truncated download) is a
title with no abstract: the whole page is rejected with the line of that title, because a page that
lost its pairing cannot be trusted to pair the rest correctly.
"""

from __future__ import annotations

import datetime as dt
import re

from paperdigest.ingest.errors import IngestError
from paperdigest.ingest.text import clean_text
from paperdigest.store.papers import MAX_TITLE_CHARS, NewPaper

__all__ = ["infer_date", "parse_page"]

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_DATE_RE = re.compile(r"^(?P<month>[A-Za-z]{3})[a-z]*\.?\s+(?P<day>\d{1,2})(?:,?\s+(?P<year>\d{4}))?$")
# Beyond this the "header" is really the body: a page without a date line is not this format.
_MAX_HEADER_PARAGRAPHS = 12
_TITLE_MAX_WORDS = 40


def infer_date(month: int, day: int, today: dt.date) -> dt.date:
    """The most recent ``month``/``day`` that is not after ``today`` (Feb 29 goes back to a leap year)."""
    for year in range(today.year, today.year - 9, -1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    raise ValueError(f"no valid date for month {month}, day {day}")


def _paragraphs(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each blank-line separated paragraph."""
    out: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            if current:
                out.append((start, current))
                current = []
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        out.append((start, current))
    return out


def _parse_date(line: str, today: dt.date) -> dt.date | None:
    match = _DATE_RE.match(line)
    if not match:
        return None
    month = _MONTHS.get(match["month"].lower())
    if month is None:
        return None
    day = int(match["day"])
    if match["year"]:
        try:
            return dt.date(int(match["year"]), month, day)
        except ValueError:
            return None
    try:
        return infer_date(month, day, today)
    except ValueError:
        return None


def _is_prose(lines: list[str]) -> bool:
    # Titles are one line without a closing full stop; abstracts are sentences.
    text = " ".join(lines)
    return len(lines) > 1 or text.endswith(".") or ". " in text


def _looks_like_abstract(lines: list[str]) -> bool:
    return _is_prose(lines) or len(" ".join(lines).split()) > _TITLE_MAX_WORDS


def parse_page(text: str, label: str, today: dt.date) -> tuple[dt.date, list[NewPaper]]:
    """Parse page text into its date and papers; raise :class:`IngestError` naming the line."""
    paragraphs = _paragraphs(text)
    body_start = None
    day = None
    for index, (_, lines) in enumerate(paragraphs[:_MAX_HEADER_PARAGRAPHS]):
        if len(lines) == 1:
            day = _parse_date(lines[0], today)
            if day is not None:
                body_start = index + 1
                break
    if body_start is None or day is None:
        raise IngestError(
            f"{label}: no date line such as 'Jul 4' in the first {_MAX_HEADER_PARAGRAPHS} paragraphs;"
            " not a daily-papers page"
        )
    papers: list[NewPaper] = []
    body = paragraphs[body_start:]
    i = 0
    while i < len(body):
        line_no, lines = body[i]
        if _is_prose(lines):
            raise IngestError(
                f"{label}, line {line_no}: expected a paper title but found a paragraph of"
                f" {len(' '.join(lines).split())} words (an abstract with no title?)"
            )
        title = lines[0]
        if len(title) > MAX_TITLE_CHARS:
            raise IngestError(
                f"{label}, line {line_no}: title is {len(title):,} characters (at most {MAX_TITLE_CHARS:,})"
            )
        if i + 1 >= len(body):
            raise IngestError(
                f"{label}, line {line_no}: title {title[:60]!r} has no abstract (is the file truncated?)"
            )
        next_lines = body[i + 1][1]
        if not _looks_like_abstract(next_lines):
            raise IngestError(
                f"{label}, line {line_no}: title {title[:60]!r} has no abstract"
                f" (the next paragraph, line {body[i + 1][0]}, is another title)"
            )
        papers.append(NewPaper(title=clean_text(title), abstract=clean_text(" ".join(next_lines)),
                               line=line_no))
        i += 2
    return day, papers
