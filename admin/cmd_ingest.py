"""``paperdigest ingest|fetch|batches|papers``: load batches of papers and look at what is stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from paperdigest.admin.context import get_context
from paperdigest.admin.output import console, emit_json, emit_record, emit_table, progress
from paperdigest.core.errors import InvalidInput

# Store and ingest are imported inside each command: SQLAlchemy and httpx cost more than the rest of
# start-up together, and `paperdigest --help` needs neither.
if TYPE_CHECKING:
    from paperdigest.store.models import Batch, Paper
    from paperdigest.store.papers import BatchResult, NewBatch

# Written out, not joined from ingest.FORMATS at import: `--help` must not load httpx and SQLAlchemy.
# A test checks it lists exactly FORMATS.
_FORMAT_HELP = "One of page, hf, atom, rss, csv, json; default: sniffed."

__all__ = ["register"]

_JSON = typer.Option(False, "--json", help="Print JSON.")
_SOURCE = typer.Option(None, "--source", help="Batch source name (default: by format: file, hf, arxiv).")
batches = typer.Typer(help="Ingested batches.", no_args_is_help=True)
papers = typer.Typer(help="Stored papers.", no_args_is_help=True)


def _batch_record(batch: Batch) -> dict[str, Any]:
    return {"id": batch.id, "source": batch.source, "label": batch.label, "date": batch.date,
            "fetched_at": batch.fetched_at, "papers": batch.paper_count}


def _paper_record(paper: Paper) -> dict[str, Any]:
    return {"id": paper.id, "title": paper.title, "arxiv_id": paper.arxiv_id, "url": paper.url,
            "authors": list(paper.authors or []), "published": paper.published,
            "upvotes": paper.upvotes, "source": paper.source, "created_at": paper.created_at,
            "abstract": paper.abstract}


def _report(batch: NewBatch, result: BatchResult, as_json: bool) -> dict[str, Any]:
    record = {"batch_id": result.batch_id, "created": result.created, "label": batch.label,
              "source": batch.source, "date": batch.date, "papers": result.paper_count,
              "new_papers": result.new_papers, "linked_papers": result.linked_papers}
    if not as_json:
        if result.created:
            console.print(
                f"Batch {result.batch_id} ({batch.source}) from {batch.label}: {result.paper_count} papers,"
                f" {result.new_papers} new, {result.linked_papers} already known.", markup=False)
        else:
            console.print(f"{batch.label}: already ingested as batch {result.batch_id}; nothing changed.",
                          markup=False)
    return record


def _store_all(ctx: typer.Context, parsed: list[NewBatch], as_json: bool) -> None:
    from paperdigest.ingest import ingest_batches

    # One transaction for every input of the command: if any is refused, none is stored.
    with get_context(ctx).store() as store:
        results = ingest_batches(store, parsed)
    records = [_report(batch, result, as_json) for batch, result in zip(parsed, results, strict=True)]
    if as_json:
        emit_json(records)


def ingest(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Batch files or http(s) URLs; each is one batch."),
    source: str | None = _SOURCE,
    fmt: str | None = typer.Option(None, "--format", help=_FORMAT_HELP),
    as_json: bool = _JSON,
) -> None:
    """Ingest batch files or URLs (page text, HF API JSON, arXiv Atom/RSS, CSV, JSON).

    Every input is parsed and checked first; then all are stored in one transaction, so if any is
    refused none is stored. Ingesting the same batch again changes nothing and says so.
    """
    from paperdigest.ingest import FORMATS, fetch_url, parse_file

    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    settings = get_context(ctx).settings
    parsed = []
    with progress(len(inputs) if len(inputs) > 1 else None, "Parsing") as advance:
        for item in inputs:
            if item.lower().startswith(("http://", "https://")):
                parsed.append(fetch_url(settings, item, source=source, fmt=fmt))
            else:
                parsed.append(parse_file(Path(item), source=source, fmt=fmt))
            advance()
    _store_all(ctx, parsed, as_json)


def fetch(
    ctx: typer.Context,
    source: str = typer.Option(..., "--source", help="hf (Hugging Face daily papers) or arxiv."),
    date: str | None = typer.Option(
        None, "--date", help="Day for --source hf, YYYY-MM-DD (default: today, UTC)."),
    categories: list[str] | None = typer.Option(
        None, "--category", help="arXiv category for --source arxiv (repeat; default: setting)."),
    as_json: bool = _JSON,
) -> None:
    """Fetch today's (or a given day's) batch from Hugging Face or arXiv and ingest it."""
    from paperdigest.ingest import fetch_arxiv, fetch_hf

    settings = get_context(ctx).settings
    parsed: list[NewBatch] = []
    if source == "hf":
        if categories:
            raise InvalidInput("--category only applies to --source arxiv")
        try:
            day = dt.date.fromisoformat(date) if date else dt.datetime.now(dt.UTC).date()
        except ValueError:
            raise InvalidInput(f"--date must be YYYY-MM-DD, got {date!r}") from None
        parsed.append(fetch_hf(settings, day))
    elif source == "arxiv":
        if date:
            raise InvalidInput("--date only applies to --source hf (arXiv lists its newest papers)")
        for category in categories or settings.arxiv_categories:
            parsed.append(fetch_arxiv(settings, category))
    else:
        raise InvalidInput(f"--source must be hf or arxiv, got {source!r}")
    _store_all(ctx, parsed, as_json)


@batches.command("list")
def batches_list(
    ctx: typer.Context,
    source: str | None = typer.Option(None, "--source", help="Only batches from this source."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = _JSON,
) -> None:
    """List ingested batches, newest first."""
    from paperdigest.store.papers import list_batches

    with get_context(ctx).store() as store, store.transaction() as session:
        rows = [_batch_record(b) for b in list_batches(session, limit=limit, source=source)]
    emit_table(rows, ["id", "source", "date", "papers", "fetched_at", "label"], as_json=as_json,
               title="Batches")


@batches.command("show")
def batches_show(
    ctx: typer.Context,
    batch_id: int = typer.Argument(..., help="Batch id."),
    as_json: bool = _JSON,
) -> None:
    """Show one batch and its papers in page order."""
    from paperdigest.store.papers import get_batch, list_papers

    with get_context(ctx).store() as store, store.transaction() as session:
        record = _batch_record(get_batch(session, batch_id))
        members = list_papers(session, limit=100_000, batch_id=batch_id)
        rows = [{"id": p.id, "title": p.title, "upvotes": p.upvotes} for p in members]
    if as_json:
        emit_json({**record, "paper_list": rows})
        return
    emit_record(record, as_json=False)
    emit_table(rows, ["id", "title", "upvotes"], as_json=False, title="Papers")


_PAPER_COLUMNS = ["id", "title", "published", "upvotes", "source"]


@papers.command("list")
def papers_list(
    ctx: typer.Context,
    batch_id: int | None = typer.Option(None, "--batch", help="Only the papers of this batch."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = _JSON,
) -> None:
    """List stored papers, newest first (or one batch's papers in page order)."""
    from paperdigest.store.papers import list_papers

    with get_context(ctx).store() as store, store.transaction() as session:
        rows = [_paper_record(p) for p in list_papers(session, limit=limit, batch_id=batch_id)]
    emit_table(rows, _PAPER_COLUMNS, as_json=as_json, title="Papers")


@papers.command("search")
def papers_search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Words that must all appear in the title or abstract."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many results."),
    as_json: bool = _JSON,
) -> None:
    """Find papers whose title or abstract contains every word of QUERY."""
    from paperdigest.store.papers import search_papers

    if not query.split():
        raise InvalidInput("search query is empty")
    with get_context(ctx).store() as store, store.transaction() as session:
        rows = [_paper_record(p) for p in search_papers(session, query, limit=limit)]
    emit_table(rows, _PAPER_COLUMNS, as_json=as_json, title="Papers")


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``fetch``, ``batches`` and ``papers`` to ``app``."""
    app.command("ingest")(ingest)
    app.command("fetch")(fetch)
    app.add_typer(batches, name="batches")
    app.add_typer(papers, name="papers")
