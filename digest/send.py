"""Sending digests: pick papers, record the digest, render it, deliver it once.

A run has four steps, each in short transactions so a crash leaves nothing half written:

0. *recover* — digests claimed by a run that is gone go back to ``pending``; the few it had in flight
   (at most ``HAND_OVER_GROUP``) become ``unknown`` (:func:`digest.dispatch.recover_claims`);
1. *prepare* — for every reader, the digest row of (reader, period) is found or created ``pending``
   and filled with the ranked papers (or marked ``empty`` with the reason); readers whose candidate
   window is the same are ranked together;
2. *claim* — ``pending -> claimed`` for a chunk by one conditional UPDATE, so of two concurrent runs
   only one sends;
3. *deliver* — ``claimed -> sending`` right before the hand-over, then sent / failed / unknown, or back
   to pending when nothing was handed over (a later run retries it).

A digest that is ``sent``, ``failed``, ``unknown`` or ``empty`` is never sent again by a run;
``resend_digest`` is the operator's explicit way to retry a ``failed`` or ``unknown`` one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paperdigest.core import Settings
from paperdigest.core.chunks import chunked
from paperdigest.core.errors import InvalidInput, NotFound
from paperdigest.digest.compose import (
    ItemInfo,
    ReaderInfo,
    build_view,
    reader_info,
)
from paperdigest.digest.delivery import DeliveryBackend, make_backend
from paperdigest.digest.dispatch import CHUNK, MAX_ATTEMPTS, Delivered, deliver_ready, recover_claims
from paperdigest.digest.rank import PreparedReader, rank_readers
from paperdigest.digest.render import render_email_html
from paperdigest.digest.tokens import TokenCodec
from paperdigest.ranking.model_store import Ranker, load_model
from paperdigest.store import Store
from paperdigest.store.digests import (
    fail_digest,
    find_digest,
    get_or_create_many,
    item_counts,
    last_delivered_many,
    reopen_digest,
    seen_many,
)
from paperdigest.store.models import Reader
from paperdigest.store.readers import list_readers, readers_by_id, validate_email, wake_paused_readers

__all__ = [
    "FIRST_DIGEST_DAYS",
    "MAX_ATTEMPTS",
    "ReaderOutcome",
    "SendReport",
    "default_period",
    "reader_info",
    "resend_digest",
    "send_digests",
]

log = logging.getLogger(__name__)

FIRST_DIGEST_DAYS = 7  # a reader's first digest looks this far back
_CHUNK = 200  # readers per prepare transaction


@dataclass(frozen=True)
class ReaderOutcome:
    reader_id: int
    period: str
    status: str  # sent, failed, unknown, empty, skipped, deferred, stopped, or 'dry-run'
    digest_id: int | None = None
    papers: int = 0
    detail: str = ""


@dataclass
class SendReport:
    """Counts and per-reader outcomes of one run."""

    dry_run: bool = False
    outcomes: list[ReaderOutcome] = field(default_factory=list)

    def _count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def sent(self) -> int:
        return self._count("sent")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def unknown(self) -> int:
        return self._count("unknown")

    @property
    def empty(self) -> int:
        return self._count("empty")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def deferred(self) -> int:
        return self._count("deferred")

    @property
    def stopped(self) -> int:
        return self._count("stopped")

    def counts(self) -> dict[str, int]:
        keys = ("sent", "failed", "unknown", "empty", "skipped", "deferred", "stopped")
        out = {k: self._count(k) for k in keys}
        if self.dry_run:
            out["would_send"] = self._count("dry-run")
        return out


def default_period(reader: Reader, now: dt.datetime) -> str:
    """The reader's local date, ``YYYY-MM-DD``: one manual digest per reader and day."""
    try:
        zone = ZoneInfo(reader.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date().isoformat()


def _address_problem(reader: ReaderInfo) -> str | None:
    if reader.format != "email":
        return None
    if not reader.email.strip():
        return f"reader {reader.id} has no email address"
    try:
        validate_email(reader.email)
    except InvalidInput as exc:
        return f"reader {reader.id}: {exc}"
    return None


def _select_readers(store: Store, ids: Sequence[int] | None, now: dt.datetime,
                    period_for: Callable[[Reader, dt.datetime], str]
                    ) -> tuple[list[tuple[ReaderInfo, str]], list[ReaderOutcome]]:
    chosen: list[tuple[ReaderInfo, str]] = []
    skipped: list[ReaderOutcome] = []
    with store.transaction() as session:
        wake_paused_readers(session, now)  # a dated pause that is over ends before choosing
        if ids is None:
            rows = list_readers(session, "active")
        else:
            wanted = [int(rid) for rid in dict.fromkeys(ids)]
            found = {r.id: r for part in chunked(wanted) for r in readers_by_id(session, part)}
            missing = [rid for rid in wanted if rid not in found]
            if missing:
                raise NotFound(f"no reader {missing[0]}")
            rows = [found[rid] for rid in wanted]
        for reader in rows:
            period = period_for(reader, now)
            if reader.status != "active":
                skipped.append(ReaderOutcome(reader.id, period, "skipped",
                                             detail=f"reader is {reader.status}"))
                continue
            chosen.append((reader_info(reader), period))
    return chosen, skipped


def _prepare(store: Store, chosen: list[tuple[ReaderInfo, str]], now: dt.datetime, dry_run: bool,
             report: SendReport) -> tuple[list[PreparedReader], list[tuple[ReaderInfo, int, str]]]:
    """Rows for every reader; returns those still to rank and the pending digests already filled."""
    to_rank: list[PreparedReader] = []
    ready: list[tuple[ReaderInfo, int, str]] = []
    first_window = now - dt.timedelta(days=FIRST_DIGEST_DAYS)
    for start in range(0, len(chosen), _CHUNK):
        chunk = chosen[start:start + _CHUNK]
        with store.transaction() as session:
            wanted = [(reader.id, period, reader.format) for reader, period in chunk]
            if dry_run:
                rows = {(r, p): d for r, p, _ in wanted if (d := find_digest(session, r, p)) is not None}
            else:
                rows = get_or_create_many(session, wanted, now=now)
            ids = [reader.id for reader, _ in chunk]
            counts = item_counts(session, [row.id for row in rows.values()])
            delivered, seen = last_delivered_many(session, ids), seen_many(session, ids)
            for reader, period in chunk:
                row = rows.get((reader.id, period))
                if row is not None and row.status != "pending":
                    report.outcomes.append(ReaderOutcome(
                        reader.id, period, "skipped", row.id, counts.get(row.id, 0),
                        f"digest {row.id} for {period} is {row.status}"))
                    continue
                problem = _address_problem(reader)
                if problem:
                    if row is not None:
                        fail_digest(session, row, problem)
                    report.outcomes.append(ReaderOutcome(reader.id, period, "failed",
                                                         row.id if row else None, 0, problem))
                    continue
                if row is not None and counts.get(row.id):
                    ready.append((reader, row.id, period))  # filled by an earlier run: keep its papers
                    continue
                to_rank.append(PreparedReader(reader, period, row.id if row else None,
                                              delivered.get(reader.id, first_window),
                                              seen[reader.id]))
    return to_rank, ready


def send_digests(
    store: Store,
    settings: Settings,
    *,
    now: dt.datetime,
    readers: Sequence[int] | None = None,
    period_for: Callable[[Reader, dt.datetime], str] | None = None,
    dry_run: bool = False,
    backend: DeliveryBackend | None = None,
    ranker: Ranker | None = None,
    stop: Callable[[], bool] | None = None,
    chunk: int = CHUNK,
) -> SendReport:
    """Build and deliver the digest of each (active) reader for the period ``now`` falls in.

    Parameters
    ----------
    now
        Aware time of the run; papers are those of batches fetched after the reader's previous
        delivered digest (the first digest: the last 7 days) and up to ``now``.
    readers
        Reader ids; default: every active reader. An unknown id raises :class:`NotFound`.
    period_for
        ``(reader, now) -> period`` label; default :func:`default_period` (local date).
    dry_run
        Rank and render but write and send nothing.
    backend
        Default: :func:`digest.make_backend` (``settings.delivery``).
    ranker
        Default: the saved recommender with fresh feedback folded in (:func:`digest.load_model`).
    stop
        Asked between delivery chunks (SIGTERM in the scheduler); digests not started stay pending.
    chunk
        Digests claimed and delivered per chunk (one backend connection each).
    """
    if now.tzinfo is None:
        raise InvalidInput("send_digests needs an aware 'now' (e.g. datetime.now(UTC))")
    report = SendReport(dry_run=dry_run)
    if not dry_run:
        recover_claims(store)
    chosen, skipped = _select_readers(store, readers, now, period_for or default_period)
    report.outcomes.extend(skipped)
    to_rank, ready = _prepare(store, chosen, now, dry_run, report)
    if to_rank:
        ranked = rank_readers(store, settings, to_rank, now=now, dry_run=dry_run,
                              ranker_factory=lambda: ranker or load_model(store, settings))
        for prepared, items, note in ranked:
            if not items:
                report.outcomes.append(ReaderOutcome(prepared.reader.id, prepared.period, "empty",
                                                     prepared.digest_id, 0, note))
                continue
            if dry_run:
                report.outcomes.append(_dry_run_outcome(prepared.reader, prepared.period, items,
                                                        settings, store))
                continue
            if prepared.digest_id is not None:  # always set outside a dry run
                ready.append((prepared.reader, prepared.digest_id, prepared.period))
    if ready and not dry_run:
        _deliver(store, settings, ready, now, backend or make_backend(settings), report, stop, chunk)
    return report


def _dry_run_outcome(reader: ReaderInfo, period: str, items: list[ItemInfo], settings: Settings,
                     store: Store) -> ReaderOutcome:
    codec = TokenCodec(store.secret_keys(), settings.feedback_max_age_days)
    view = build_view(reader, None, period, items, settings, codec)
    render_email_html(view)  # a template error shows up in a dry run too
    return ReaderOutcome(reader.id, period, "dry-run", None, len(items), view.subject)


def _deliver(store: Store, settings: Settings, ready: list[tuple[ReaderInfo, int, str]],
             now: dt.datetime, backend: DeliveryBackend, report: SendReport,
             stop: Callable[[], bool] | None = None, chunk: int = CHUNK) -> None:
    def emit(done: Delivered) -> None:
        report.outcomes.append(ReaderOutcome(done.reader.id, done.period, done.status, done.digest_id,
                                             done.papers, done.detail))

    deliver_ready(store, settings, ready, now, backend, emit, stop=stop, chunk=chunk)


def resend_digest(store: Store, settings: Settings, digest_id: int, *, now: dt.datetime,
                  backend: DeliveryBackend | None = None) -> ReaderOutcome:
    """Explicitly deliver a ``failed`` or ``unknown`` digest again (same papers, same Message-ID)."""
    with store.transaction() as session:
        digest = reopen_digest(session, digest_id)
        reader = session.get(Reader, digest.reader_id)
        if reader is None:
            raise NotFound(f"digest {digest_id} has no reader")
        info, period = reader_info(reader), digest.period
        has_items = bool(digest.items)
    if not has_items:
        # Failed before papers were picked (e.g. no address): pick them now through a normal run.
        report = send_digests(store, settings, now=now, readers=[info.id],
                              period_for=lambda _r, _n: period, backend=backend)
        return next(o for o in report.outcomes if o.reader_id == info.id)
    report = SendReport()
    _deliver(store, settings, [(info, digest_id, period)], now, backend or make_backend(settings), report)
    return report.outcomes[0]
