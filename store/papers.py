"""Papers and batches: the one upsert that ingest calls, and the queries over them.

A paper's id is stable: its arXiv id when known (version stripped), else ``t-`` + a hash of the
normalized title. A paper seen again — in another batch, or later with an arXiv id — is linked, never
duplicated: matching is by arXiv id, then by normalized title.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from paperdigest.core.errors import InvalidInput, NotFound
from paperdigest.store.db import session_scope
from paperdigest.store.models import Batch, BatchPaper, Paper, utcnow
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "MAX_ABSTRACT_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_TITLE_CHARS",
    "MAX_UPVOTES",
    "BatchResult",
    "NewBatch",
    "NewPaper",
    "batch_hash",
    "find_paper",
    "get_batch",
    "list_batches",
    "list_papers",
    "normalize_arxiv_id",
    "normalize_title",
    "paper_id_for",
    "papers_in_batches",
    "papers_since",
    "search_papers",
    "title_key",
    "upsert_batch",
    "upsert_batch_atomic",
    "upsert_batches_atomic",
    "validate_batch",
]

MAX_TITLE_CHARS = 1_000
MAX_ABSTRACT_CHARS = 20_000
MAX_SOURCE_CHARS = 64  # the width of batches.source / papers.source
MAX_UPVOTES = 2**31 - 1  # papers.upvotes is a 32-bit INTEGER on PostgreSQL
_CHUNK = 500  # rows per IN (...) lookup: well under SQLite's bound-parameter limit

_ARXIV_RE = re.compile(
    r"^(?:arxiv:)?(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$", re.IGNORECASE
)


@dataclass
class NewPaper:
    """A paper as parsed from a batch (before it is matched against the store)."""

    title: str
    abstract: str = ""
    arxiv_id: str | None = None
    authors: list[str] = field(default_factory=list)
    url: str | None = None
    published: dt.date | None = None
    upvotes: int | None = None
    line: int | None = None  # where it stood in the input, for error messages


@dataclass
class NewBatch:
    """A parsed batch: its papers in page order plus where it came from."""

    source: str
    label: str
    papers: list[NewPaper]
    date: dt.date | None = None


@dataclass(frozen=True)
class BatchResult:
    batch_id: int
    created: bool  # False: the same content was ingested before; nothing changed
    paper_count: int
    new_papers: int
    linked_papers: int  # papers already in the store, now also linked to this batch
    paper_ids: tuple[str, ...] = ()


def normalize_title(title: str) -> str:
    """Case-, accent- and punctuation-insensitive form used to recognise the same paper."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[\W_]+", " ", text.casefold())
    return " ".join(text.split())


def title_key(title: str) -> str:
    return hashlib.sha256(normalize_title(title).encode("utf-8")).hexdigest()[:32]


def normalize_arxiv_id(value: str | None) -> str | None:
    """``arXiv:2507.01234v2`` -> ``2507.01234``; None for anything that is not an arXiv id."""
    if not value:
        return None
    match = _ARXIV_RE.match(value.strip())
    return match.group("id").lower() if match else None


def paper_id_for(title: str, arxiv_id: str | None = None) -> str:
    arxiv = normalize_arxiv_id(arxiv_id)
    return arxiv if arxiv else "t-" + title_key(title)[:16]


def batch_hash(batch: NewBatch) -> str:
    """Content hash of a batch: the same papers in the same order give the same hash."""
    digest = hashlib.sha256()
    for paper in batch.papers:
        digest.update((normalize_arxiv_id(paper.arxiv_id) or "").encode())
        digest.update(b"\x1f" + title_key(paper.title).encode() + b"\x1e")
    return digest.hexdigest()


def _where(paper: NewPaper, label: str) -> str:
    return f"{label}, line {paper.line}" if paper.line else label


def validate_batch(batch: NewBatch) -> None:
    """Reject a batch that cannot be stored as a whole; the message names label and line.

    Checks: at least one paper, every title non-empty and at most :data:`MAX_TITLE_CHARS`, abstracts at
    most :data:`MAX_ABSTRACT_CHARS`, and no paper twice (same normalized title or same arXiv id).
    """
    if not batch.papers:
        raise InvalidInput(f"{batch.label}: no papers found")
    if not batch.source.strip() or len(batch.source) > MAX_SOURCE_CHARS:
        raise InvalidInput(f"{batch.label}: source name {batch.source[:80]!r} must be 1 to"
                           f" {MAX_SOURCE_CHARS} characters")
    seen: dict[str, NewPaper] = {}
    seen_arxiv: dict[str, NewPaper] = {}
    for paper in batch.papers:
        title = paper.title.strip()
        if not normalize_title(title):
            raise InvalidInput(f"{_where(paper, batch.label)}: paper has an empty title")
        if len(title) > MAX_TITLE_CHARS:
            raise InvalidInput(
                f"{_where(paper, batch.label)}: title is {len(title):,} characters"
                f" (at most {MAX_TITLE_CHARS:,})"
            )
        if len(paper.abstract) > MAX_ABSTRACT_CHARS:
            raise InvalidInput(
                f"{_where(paper, batch.label)}: abstract is {len(paper.abstract):,} characters"
                f" (at most {MAX_ABSTRACT_CHARS:,})"
            )
        if paper.upvotes is not None and not 0 <= paper.upvotes <= MAX_UPVOTES:
            raise InvalidInput(f"{_where(paper, batch.label)}: upvotes {paper.upvotes} is out of range"
                               f" (0 to {MAX_UPVOTES:,})")
        key = title_key(title)
        if key in seen:
            first = seen[key]
            where = f" (first at line {first.line})" if first.line else ""
            raise InvalidInput(
                f"{_where(paper, batch.label)}: the same paper appears twice in one batch{where}:"
                f" {title[:80]!r}"
            )
        seen[key] = paper
        arxiv = normalize_arxiv_id(paper.arxiv_id)
        if arxiv:
            if arxiv in seen_arxiv:
                first = seen_arxiv[arxiv]
                where = f" (first at line {first.line})" if first.line else ""
                raise InvalidInput(
                    f"{_where(paper, batch.label)}: arXiv {arxiv} appears twice in one batch{where}"
                )
            seen_arxiv[arxiv] = paper


_validate = validate_batch  # the name used before validate_batch became public


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def upsert_batch(session: Session, batch: NewBatch, *, now: dt.datetime | None = None) -> BatchResult:
    """Store a parsed batch in the caller's transaction (``now``: the fetch time, default the clock).

    New papers are inserted, known ones linked (and gaps such as a missing abstract, URL or arXiv id
    filled in). Re-ingesting a batch with the same source and content changes nothing and returns
    ``created=False``. Raises :class:`InvalidInput` naming the line for an empty or oversized title
    or a paper repeated in the batch; nothing is written then.
    """
    validate_batch(batch)
    content_hash = batch_hash(batch)
    existing = session.scalar(
        select(Batch).where(Batch.source == batch.source, Batch.content_hash == content_hash)
    )
    if existing is not None:
        ids = tuple(session.scalars(
            select(BatchPaper.paper_id).where(BatchPaper.batch_id == existing.id)
            .order_by(BatchPaper.position)
        ))
        return BatchResult(existing.id, False, existing.paper_count, 0, 0, ids)

    keys = [title_key(p.title) for p in batch.papers]
    arxiv_ids = [normalize_arxiv_id(p.arxiv_id) for p in batch.papers]
    by_key: dict[str, Paper] = {}
    by_arxiv: dict[str, Paper] = {}
    for chunk in _chunks(keys):
        for row in session.scalars(select(Paper).where(Paper.title_key.in_(chunk))):
            by_key[row.title_key] = row
    wanted_arxiv = [a for a in arxiv_ids if a]
    for chunk in _chunks(wanted_arxiv):
        for row in session.scalars(select(Paper).where(Paper.arxiv_id.in_(chunk))):
            by_arxiv[row.arxiv_id or ""] = row

    _check_distinct_known(batch, keys, arxiv_ids, by_key, by_arxiv)
    new_batch = Batch(
        source=batch.source, label=batch.label[:300], date=batch.date,
        fetched_at=now or utcnow(), content_hash=content_hash, paper_count=len(batch.papers),
    )
    session.add(new_batch)
    session.flush()

    now = now or utcnow()
    new_rows: list[dict[str, object]] = []
    links: list[dict[str, object]] = []
    paper_ids: list[str] = []
    linked = 0
    for position, (paper, key, arxiv) in enumerate(zip(batch.papers, keys, arxiv_ids, strict=True)):
        known = (by_arxiv.get(arxiv) if arxiv else None) or by_key.get(key)
        if known is not None:
            linked += 1
            _fill_gaps(known, paper, arxiv, by_arxiv)
            pid = known.id
        else:
            pid = paper_id_for(paper.title, arxiv)
            new_rows.append({
                "id": pid, "title_key": key, "arxiv_id": arxiv, "title": paper.title.strip(),
                "abstract": paper.abstract.strip(), "authors": list(paper.authors),
                "url": paper.url or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None),
                "source": batch.source, "published": paper.published, "upvotes": paper.upvotes,
                "first_batch_id": new_batch.id, "created_at": now,
            })
        paper_ids.append(pid)
        links.append({"batch_id": new_batch.id, "paper_id": pid, "position": position})
    if new_rows:
        session.execute(Paper.__table__.insert(), new_rows)
    session.execute(BatchPaper.__table__.insert(), links)
    return BatchResult(new_batch.id, True, len(batch.papers), len(new_rows), linked, tuple(paper_ids))


def _check_distinct_known(batch: NewBatch, keys: list[str], arxiv_ids: list[str | None],
                          by_key: dict[str, Paper], by_arxiv: dict[str, Paper]) -> None:
    """Refuse two entries that resolve to one stored paper (one by title, one by arXiv id).

    Within the batch they look different, so :func:`validate_batch` passes them; only the store
    knows they are the same paper. Checked before anything is written.
    """
    first: dict[str, NewPaper] = {}
    for paper, key, arxiv in zip(batch.papers, keys, arxiv_ids, strict=True):
        known = (by_arxiv.get(arxiv) if arxiv else None) or by_key.get(key)
        if known is None:
            continue
        if known.id in first:
            earlier = first[known.id]
            at = f"line {earlier.line}" if earlier.line else repr(earlier.title[:60])
            raise InvalidInput(
                f"{_where(paper, batch.label)}: names the stored paper {known.id} ({known.title[:60]!r})"
                f" that {at} names too; keep one of the two entries"
            )
        first[known.id] = paper


def upsert_batch_atomic(sessions: sessionmaker[Session], batch: NewBatch, *,
                        now: dt.datetime | None = None) -> BatchResult:
    """:func:`upsert_batch` in its own transaction, committed on success, rolled back on any error.

    If a concurrent writer stored the same batch or one of its papers between our lookups and our
    inserts, the unique constraints fail the transaction; a second pass then sees those rows and links
    to them (or reports the no-op).
    """
    return upsert_batches_atomic(sessions, [batch], now=now)[0]


def upsert_batches_atomic(sessions: sessionmaker[Session], batches: Sequence[NewBatch], *,
                          now: dt.datetime | None = None) -> list[BatchResult]:
    """Store several batches in ONE transaction: all of them, or (on any error) none.

    A unique violation is retried once (a concurrent writer stored the same rows between our
    lookups and our inserts); a second one becomes an :class:`InvalidInput` naming the batches.
    """
    def store_all() -> list[BatchResult]:
        with session_scope(sessions) as session:
            return [upsert_batch(session, batch, now=now) for batch in batches]

    try:
        return store_all()
    except IntegrityError:
        pass  # a concurrent writer got there first: the second pass sees its rows
    try:
        return store_all()
    except IntegrityError as exc:
        labels = ", ".join(b.label for b in batches)[:200]
        reason = str(exc.orig).splitlines()[0][:120] if exc.orig else "unique constraint"
        raise InvalidInput(f"{labels}: conflicts with papers already stored ({reason});"
                           " nothing was stored") from None


def _fill_gaps(known: Paper, paper: NewPaper, arxiv: str | None, by_arxiv: dict[str, Paper]) -> None:
    if arxiv and not known.arxiv_id and arxiv not in by_arxiv:
        known.arxiv_id = arxiv
        by_arxiv[arxiv] = known
    if not known.abstract and paper.abstract.strip():
        known.abstract = paper.abstract.strip()
    if not known.url and (paper.url or known.arxiv_id):
        known.url = paper.url or f"https://arxiv.org/abs/{known.arxiv_id}"
    if not known.authors and paper.authors:
        known.authors = list(paper.authors)
    if paper.upvotes is not None and (known.upvotes or 0) < paper.upvotes:
        known.upvotes = paper.upvotes
    if known.published is None and paper.published is not None:
        known.published = paper.published



def papers_in_batches(session: Session, batch_ids: Sequence[int]) -> list[Paper]:
    """Distinct papers of the given batches, in batch then page order."""
    if not batch_ids:
        return []
    rows = session.scalars(
        select(Paper).join(BatchPaper, BatchPaper.paper_id == Paper.id)
        .where(BatchPaper.batch_id.in_(list(batch_ids)))
        .order_by(BatchPaper.batch_id, BatchPaper.position)
    )
    out: dict[str, Paper] = {}
    for paper in rows:
        out.setdefault(paper.id, paper)
    return list(out.values())


def find_paper(session: Session, ref: str) -> Paper:
    """Resolve a paper by id, arXiv id or an unambiguous title search."""
    ref = ref.strip()
    if not ref:
        raise InvalidInput("paper reference is empty")
    paper = session.get(Paper, ref)
    if paper is not None:
        return paper
    arxiv = normalize_arxiv_id(ref)
    if arxiv:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == arxiv))
        if paper is not None:
            return paper
    exact = session.scalar(select(Paper).where(Paper.title_key == title_key(ref)))
    if exact is not None:
        return exact
    matches = search_papers(session, ref, limit=6)
    if not matches:
        raise NotFound(f"no paper matches {ref!r}")
    if len(matches) > 1:
        shown = "; ".join(f"{p.id} {p.title[:50]!r}" for p in matches[:5])
        raise InvalidInput(f"{ref!r} matches several papers ({shown}): give the id")
    return matches[0]


def search_papers(session: Session, query: str, limit: int = 20) -> list[Paper]:
    """Papers whose title or abstract contains every word of ``query`` (case-insensitive)."""
    words = [w for w in query.split() if w]
    stmt = select(Paper)
    for word in words:
        # autoescape: "%" and "_" in a query are literal characters, not LIKE wildcards.
        needle = word.lower()
        stmt = stmt.where(or_(func.lower(Paper.title).contains(needle, autoescape=True),
                              func.lower(Paper.abstract).contains(needle, autoescape=True)))
    return list(session.scalars(stmt.order_by(Paper.created_at.desc(), Paper.id).limit(limit)))


def list_papers(session: Session, limit: int = 50, batch_id: int | None = None) -> list[Paper]:
    """Newest papers first, or the papers of one batch in page order."""
    if batch_id is not None:
        get_batch(session, batch_id)
        return papers_in_batches(session, [batch_id])[:limit]
    return list(session.scalars(
        select(Paper).order_by(Paper.created_at.desc(), Paper.id).limit(limit)
    ))


def list_batches(session: Session, limit: int = 50, source: str | None = None) -> list[Batch]:
    stmt = select(Batch).order_by(Batch.fetched_at.desc(), Batch.id.desc()).limit(limit)
    if source:
        stmt = stmt.where(Batch.source == source)
    return list(session.scalars(stmt))


def get_batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch with id {batch_id}")
    return batch


def papers_since(session: Session, when: dt.datetime) -> list[Paper]:
    """Papers linked to any batch fetched at or after ``when``, oldest batch first, no repeats."""
    rows = session.execute(
        select(Paper, func.min(Batch.fetched_at).label("first"))
        .join(BatchPaper, BatchPaper.paper_id == Paper.id)
        .join(Batch, Batch.id == BatchPaper.batch_id)
        .where(Batch.fetched_at >= when)
        .group_by(Paper.id)
        .order_by("first", Paper.id)
    )
    return [row[0] for row in rows]
