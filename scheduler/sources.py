"""Polling the configured sources: Hugging Face daily papers, arXiv categories, a watched folder.

Each source is polled on its own: one that fails is recorded in ``source_state`` (error, failure count)
and logged, and the others go on. A failed day is retried on the next poll: the HF cursor only moves
forward on success, and every poll fetches from the cursor's day to today (at most
:data:`HF_BACKFILL_DAYS`). Re-fetching unchanged content is a no-op in ingest.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperdigest.core import Settings
from paperdigest.store import Store
from paperdigest.store.jobs import record_source, source_state
from paperdigest.store.papers import NewBatch

__all__ = ["HF_BACKFILL_DAYS", "PollReport", "SourcePoller", "default_fetchers"]

log = logging.getLogger("paperdigest.scheduler.sources")

HF_BACKFILL_DAYS = 7
_SKIP_SUFFIXES = (".part", ".tmp", ".crdownload", ".swp")

# name -> callable(cursor) yielding (batch, new cursor or None)
Fetcher = Callable[[str | None, dt.datetime], Iterator[tuple[NewBatch, str | None]]]


@dataclass
class PollReport:
    """What one poll did: batches ingested (new / already known), papers, failing sources."""

    batches: int = 0
    unchanged: int = 0
    papers: int = 0
    new_papers: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        return {"batches": self.batches, "unchanged": self.unchanged, "papers": self.papers,
                "new_papers": self.new_papers, "failed_sources": len(self.failed)}


def _hf(settings: Settings) -> Fetcher:
    def fetch(cursor: str | None, now: dt.datetime) -> Iterator[tuple[NewBatch, str | None]]:
        from paperdigest.ingest import EmptyBatch, fetch_hf

        today = now.astimezone(dt.UTC).date()
        start = today
        if cursor:
            start = max(dt.date.fromisoformat(cursor), today - dt.timedelta(days=HF_BACKFILL_DAYS))
        day = start
        while day <= today:
            try:
                batch = fetch_hf(settings, day, skip_incomplete=True)
            except EmptyBatch:
                # A day with no papers (yet): nothing to ingest, not a failure.
                batch = NewBatch(source="hf", label=f"hf {day}", papers=[], date=day)
            yield batch, day.isoformat()
            day += dt.timedelta(days=1)

    return fetch


def _arxiv(settings: Settings, category: str) -> Fetcher:
    def fetch(cursor: str | None, now: dt.datetime) -> Iterator[tuple[NewBatch, str | None]]:
        from paperdigest.ingest import fetch_arxiv

        yield fetch_arxiv(settings, category, skip_incomplete=True), None

    return fetch


def _watch(folder: Path) -> Fetcher:
    def fetch(cursor: str | None, now: dt.datetime) -> Iterator[tuple[NewBatch, str | None]]:
        from paperdigest.ingest import parse_file

        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name.startswith(".") or path.suffix in _SKIP_SUFFIXES:
                continue
            try:
                batch = parse_file(path, source="watch", today=now.date())
            except Exception:
                _move(path, folder / "failed")
                raise
            yield batch, None
            _move(path, folder / "done")

    return fetch


def _move(path: Path, target_dir: Path) -> None:
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}-{int(path.stat().st_mtime_ns)}{path.suffix}"
    shutil.move(str(path), target)


def default_fetchers(settings: Settings) -> dict[str, Fetcher]:
    """The fetchers for ``settings.sources``: ``hf``, ``arxiv:<category>`` each, ``watch``."""
    out: dict[str, Fetcher] = {}
    for source in settings.sources:
        if source == "hf":
            out["hf"] = _hf(settings)
        elif source == "arxiv":
            for category in settings.arxiv_categories:
                out[f"arxiv:{category}"] = _arxiv(settings, category)
        elif source == "watch" and settings.watch_dir is not None:
            out["watch"] = _watch(settings.watch_dir)
    return out


Ingest = Callable[[Store, NewBatch], Any]


def _default_ingest(store: Store, batch: NewBatch) -> Any:
    from paperdigest.ingest import ingest_batch

    return ingest_batch(store, batch)


class SourcePoller:
    """Polls every fetcher once per :meth:`poll`, isolating failures per source."""

    def __init__(self, store: Store, fetchers: dict[str, Fetcher], ingest: Ingest | None = None) -> None:
        self.store = store
        self.fetchers = fetchers
        self.ingest = ingest or _default_ingest

    def poll(self, now: dt.datetime) -> PollReport:
        report = PollReport()
        for name, fetch in self.fetchers.items():
            try:
                self._poll_one(name, fetch, now, report)
            except Exception as exc:  # one broken source must not stop the others
                message = f"{type(exc).__name__}: {exc}" if not str(exc).startswith(name) else str(exc)
                report.failed[name] = message
                with self.store.transaction() as session:
                    state = record_source(session, name, when=now, error=message)
                    failures = state.failures
                log.error("source %s failed (%d in a row): %s", name, failures, message,
                          exc_info=log.isEnabledFor(logging.DEBUG))
        return report

    def _poll_one(self, name: str, fetch: Fetcher, now: dt.datetime, report: PollReport) -> None:
        with self.store.transaction() as session:
            cursor = source_state(session, name).cursor
        last_batch: int | None = None
        new_cursor: str | None = None
        for batch, step_cursor in fetch(cursor, now):
            if batch.papers:
                result = self.ingest(self.store, batch)
                last_batch = result.batch_id
                if result.created:
                    report.batches += 1
                    report.papers += result.paper_count
                    report.new_papers += getattr(result, "new_papers", 0)
                else:
                    report.unchanged += 1
            if step_cursor is not None:
                # Move the cursor day by day, so a failure later in the loop keeps what succeeded.
                new_cursor = step_cursor
                with self.store.transaction() as session:
                    source_state(session, name).cursor = new_cursor
        with self.store.transaction() as session:
            record_source(session, name, when=now, batch_id=last_batch, cursor=new_cursor)
