"""A reader's reference library: match its entries to stored papers, add the rest as history, like them.

History papers are papers the store learns about only because a reader already has them: they carry
``source = "library"`` and are linked to no batch. Digest candidates come from batch links
(:func:`store.digests.candidate_paper_ids`), which also skips history papers outright, so a seeded
paper is never sent as new even if a later batch lists it again.

Matching, in order: arXiv id, DOI, normalized title (the same :func:`store.papers.title_key` that
ingest dedupes with). The store has no DOI column; a history paper with a DOI and no other link keeps
``https://doi.org/<doi>`` as its URL, and that URL is what a DOI is matched against.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from paperdigest.core.errors import InvalidInput, NotFound
from paperdigest.store.db import session_scope
from paperdigest.store.models import Interaction, Paper, Reader, utcnow
from paperdigest.store.papers import (
    MAX_ABSTRACT_CHARS,
    MAX_TITLE_CHARS,
    normalize_arxiv_id,
    paper_id_for,
    title_key,
)
from paperdigest.store.readers import find_reader
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "HISTORY_SOURCE",
    "LibraryEntry",
    "SeedResult",
    "add_likes",
    "doi_url",
    "like_stored_papers",
    "match_entries",
    "normalize_doi",
    "seed_library",
    "seed_library_atomic",
]

HISTORY_SOURCE = "library"
_CHUNK = 500  # rows per IN (...) lookup: well under SQLite's bound-parameter limit
_DOI_RE = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)?(?P<doi>10\.\d{4,9}/\S+)$", re.IGNORECASE)


@dataclass
class LibraryEntry:
    """One reference from a library file, before it is matched (any of title, arXiv id, DOI may be set)."""

    title: str = ""
    arxiv_id: str | None = None
    doi: str | None = None
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    url: str | None = None
    published: dt.date | None = None
    line: int | None = None  # where it starts in the file, for messages
    key: str = ""  # the citation key or reference text, for messages

    def describe(self) -> str:
        where = f"line {self.line}" if self.line else "entry"
        what = self.key or self.title or self.doi or self.arxiv_id or ""
        return f"{where} ({what[:60]!r})" if what else where


@dataclass(frozen=True)
class SeedResult:
    entries: int  # references in the file
    matched: int  # found among the stored papers
    added: int  # new history papers
    duplicates: int  # references naming a paper an earlier reference named too
    skipped: int  # untitled references matching no stored paper (only with skip_untitled)
    liked: int  # new likes recorded
    already: int  # papers the reader had already liked or disliked (left as they were)
    paper_ids: tuple[str, ...] = ()
    skipped_lines: tuple[int, ...] = ()


def normalize_doi(value: str | None) -> str | None:
    """``https://doi.org/10.1000/XYZ`` or ``doi:10.1000/xyz`` -> ``10.1000/xyz``; None if not a DOI."""
    if not value:
        return None
    match = _DOI_RE.match(value.strip())
    return match.group("doi").rstrip(".,;").lower() if match else None


def doi_url(doi: str) -> str:
    return f"https://doi.org/{doi}"


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def match_entries(session: Session, entries: Sequence[LibraryEntry]) -> list[str | None]:
    """The stored paper id of each entry (arXiv id, then DOI, then normalized title), or None."""
    arxiv = sorted({a for e in entries if (a := normalize_arxiv_id(e.arxiv_id))})
    dois = sorted({doi_url(d) for e in entries if (d := normalize_doi(e.doi))})
    # Normalizing titles is the costly step for a large library: once per entry.
    entry_keys = [title_key(e.title) if e.title.strip() else None for e in entries]
    keys = sorted({k for k in entry_keys if k})
    by_arxiv: dict[str, str] = {}
    by_doi: dict[str, str] = {}
    by_key: dict[str, str] = {}
    for chunk in _chunks(arxiv):
        by_arxiv.update(session.execute(select(Paper.arxiv_id, Paper.id)
                                        .where(Paper.arxiv_id.in_(chunk))).all())
    for chunk in _chunks(dois):
        by_doi.update(session.execute(select(func.lower(Paper.url), Paper.id)
                                      .where(func.lower(Paper.url).in_(chunk))).all())
    for chunk in _chunks(keys):
        by_key.update(session.execute(select(Paper.title_key, Paper.id)
                                      .where(Paper.title_key.in_(chunk))).all())
    out: list[str | None] = []
    for entry, key in zip(entries, entry_keys, strict=True):
        a = normalize_arxiv_id(entry.arxiv_id)
        d = normalize_doi(entry.doi)
        found = (by_arxiv.get(a) if a else None) or (by_doi.get(doi_url(d)) if d else None)
        if found is None and key:
            found = by_key.get(key)
        out.append(found)
    return out


def _history_row(entry: LibraryEntry, now: dt.datetime) -> dict[str, object]:
    title = entry.title.strip()
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidInput(f"{entry.describe()}: title is {len(title):,} characters"
                           f" (at most {MAX_TITLE_CHARS:,})")
    arxiv = normalize_arxiv_id(entry.arxiv_id)
    doi = normalize_doi(entry.doi)
    url = entry.url or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None)
    url = url or (doi_url(doi) if doi else None)
    key = title_key(title)
    return {
        "id": paper_id_for(title, arxiv), "title_key": key, "arxiv_id": arxiv, "title": title,
        "abstract": entry.abstract.strip()[:MAX_ABSTRACT_CHARS], "authors": list(entry.authors), "url": url,
        "source": HISTORY_SOURCE, "published": entry.published, "upvotes": None, "first_batch_id": None,
        "created_at": now,
    }


def add_likes(
    session: Session, reader_id: int, paper_ids: Sequence[str], source: str = "import"
) -> tuple[int, int]:
    """Record a like of each paper unless the reader already reacts to it; returns (liked, already).

    One bulk insert: a 10,000-paper library would otherwise cost four queries per paper. An existing
    like or dislike is the reader's own word and is left as it is.
    """
    current: set[str] = set()
    wanted = list(dict.fromkeys(paper_ids))
    for chunk in _chunks(wanted):
        current.update(session.scalars(select(Interaction.paper_id).where(
            Interaction.reader_id == reader_id, Interaction.current.is_(True),
            Interaction.paper_id.in_(chunk))))
    now = utcnow()
    rows = [{"reader_id": reader_id, "paper_id": pid, "kind": "like", "source": source, "current": True,
             "digest_id": None, "created_at": now} for pid in wanted if pid not in current]
    if rows:
        session.execute(Interaction.__table__.insert(), rows)
    return len(rows), len(wanted) - len(rows)


def like_stored_papers(session: Session, reader_id: int, entries: Sequence[LibraryEntry]) -> int:
    """Like the stored papers the entries name (paper id as ``key``, arXiv id, DOI or exact title).

    Unlike :func:`seed_library` nothing is added: an entry naming no stored paper is an
    :class:`InvalidInput`. Returns the number of new likes.
    """
    if not entries:
        return 0
    ids: set[str] = set()
    for chunk in _chunks([e.key for e in entries]):
        ids.update(session.scalars(select(Paper.id).where(Paper.id.in_(chunk))))
    rest = [e for e in entries if e.key not in ids]
    found = match_entries(session, rest)
    for entry, pid in zip(rest, found, strict=True):
        if pid is None:
            raise InvalidInput(f"liked paper {entry.key[:80]!r} is not in the store (ingest it, or add"
                               " it with `paperdigest users seed`)")
    wanted = [e.key for e in entries if e.key in ids] + [pid for pid in found if pid]
    return add_likes(session, reader_id, wanted)[0]


def seed_library(
    session: Session, reader_id: int, entries: Sequence[LibraryEntry], *, duplicates: int = 0,
    skip_untitled: bool = False, advance: Callable[[int], None] | None = None,
) -> SeedResult:
    """Match ``entries`` to stored papers, add the others as history papers, and like them all.

    ``entries`` are already merged within the file (``duplicates`` says how many were merged there);
    two entries that still resolve to the same stored paper count as duplicates too. Raises
    :class:`NotFound` for an unknown reader and :class:`InvalidInput` naming the line of an entry that
    has no title and matches no stored paper (unless ``skip_untitled``); nothing is written then.
    ``advance(n)`` is called as entries are processed (for a progress bar).
    """
    if session.get(Reader, reader_id) is None:
        raise NotFound(f"no reader {reader_id}")
    tick = advance or (lambda n: None)
    found = match_entries(session, entries)
    now = utcnow()
    chosen: dict[str, None] = {}
    new_rows: dict[str, dict[str, object]] = {}
    matched = added = dup = 0
    skipped: list[int] = []
    for number, (entry, pid) in enumerate(zip(entries, found, strict=True), start=1):
        if number % _CHUNK == 0:
            tick(_CHUNK)
        if pid is None:
            if not entry.title.strip():
                if skip_untitled:
                    skipped.append(entry.line or 0)
                    continue
                raise InvalidInput(f"{entry.describe()}: no title, and no stored paper has this"
                                   " arXiv id or DOI (give the title, or pass --skip-untitled)")
            row = _history_row(entry, now)
            pid = str(row["id"])
            if pid not in new_rows:
                new_rows[pid] = row
                added += 1
            else:
                dup += 1
                continue
        elif pid in chosen:
            dup += 1
            continue
        else:
            matched += 1
        chosen[pid] = None
    rows = list(new_rows.values())
    for start in range(0, len(rows), _CHUNK):
        session.execute(Paper.__table__.insert(), rows[start:start + _CHUNK])
    liked, already = add_likes(session, reader_id, list(chosen))
    tick(len(entries) % _CHUNK)
    return SeedResult(len(entries) + duplicates, matched, added, dup + duplicates, len(skipped), liked,
                      already, tuple(chosen), tuple(skipped))


def seed_library_atomic(
    sessions: sessionmaker[Session], reader_ref: str, entries: Sequence[LibraryEntry], *,
    duplicates: int = 0, skip_untitled: bool = False, advance: Callable[[int], None] | None = None,
) -> SeedResult:
    """:func:`seed_library` for a reader id or email, in its own transaction (all or nothing).

    A concurrent ingest may store one of the same papers between our lookup and our insert; the
    unique title key then fails the transaction, and a second pass matches that paper instead.
    """
    def once() -> SeedResult:
        with session_scope(sessions) as session:
            reader = find_reader(session, reader_ref)
            return seed_library(session, reader.id, entries, duplicates=duplicates,
                                skip_untitled=skip_untitled, advance=advance)

    try:
        return once()
    except IntegrityError:
        return once()
