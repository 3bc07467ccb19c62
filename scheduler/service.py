"""The scheduler's jobs — poll, tick, refit, update — as plain methods driven by an injectable clock.

APScheduler only decides *when* a method runs (see :mod:`scheduler.runner`); what a method does depends
on the database and ``clock()`` alone, so tests call the methods directly with a fake clock.

Each job run writes one ``job_runs`` row and one log line with its counts and duration. Jobs never
overlap: a run that finds another one in flight records ``skipped`` (e.g. a digest run longer than
the tick interval).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from paperdigest.core import Settings
from paperdigest.scheduler.clock import Clock, system_clock
from paperdigest.scheduler.due import DueDigest, due_digests
from paperdigest.scheduler.sources import Fetcher, Ingest, SourcePoller, default_fetchers
from paperdigest.store import Store
from paperdigest.store.jobs import digest_state, finish_job, mark_interrupted_sends, newest_batch, start_job
from paperdigest.store.readers import list_readers, wake_paused_readers

__all__ = ["JOB_NAMES", "SchedulerService", "Sender"]

log = logging.getLogger("paperdigest.scheduler")

JOB_NAMES = ("poll", "tick", "update", "refit")
# Digest rows older than this cannot hold a period the due rules still look at (weekly + slack).
_PERIOD_HORIZON = dt.timedelta(days=15)

Sender = Callable[..., Any]  # digest.send_digests(store, settings, *, now, readers, period_for, ...)


def _default_send(store: Store, settings: Settings, **kwargs: Any) -> Any:
    from paperdigest.digest import send_digests

    return send_digests(store, settings, **kwargs)


def _default_ranker(store: Store, settings: Settings) -> Any:
    from paperdigest.ranking import load_model

    return load_model(store, settings)


def _default_refit(store: Store, settings: Settings) -> Any:
    from paperdigest.ranking import refit_model

    return refit_model(store, settings)


def _report_counts(report: Any) -> dict[str, int]:
    """Counts of a digest SendReport, whether it exposes a ``counts`` mapping or attributes."""
    counts = getattr(report, "counts", None)
    if callable(counts):
        counts = counts()
    if isinstance(counts, Mapping):
        return {k: int(v) for k, v in counts.items() if isinstance(v, int)}
    out = {}
    for key in ("sent", "failed", "unknown", "empty", "skipped"):
        value = getattr(report, key, 0)
        out[key] = len(value) if isinstance(value, list | tuple | set) else int(value or 0)
    return out


class SchedulerService:
    """The scheduler's jobs over one store.

    Parameters
    ----------
    store, settings
        The database and settings.
    clock
        Returns the aware current time; the only source of "now".
    fetchers
        Source name -> fetcher (default: from ``settings.sources``).
    send, refit, update
        The digest service functions (defaults: ``digest.send_digests``, ``digest.refit_model``, and
        no separate light update, because the digest service folds new feedback in before ranking).
    ingest
        ``ingest_batch`` (default: ``ingest.ingest_batch``).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        fetchers: dict[str, Fetcher] | None = None,
        send: Sender | None = None,
        refit: Callable[[Store, Settings], Any] | None = None,
        update: Callable[[Store, Settings], Any] | None = None,
        ingest: Ingest | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.poller = SourcePoller(store, fetchers if fetchers is not None else default_fetchers(settings),
                                   ingest)
        self.send = send or _default_send
        # With the real digest service the model is loaded (feedback folded in) once per tick, not
        # once per reader.
        self.load_ranker = _default_ranker if send is None else None
        self.refit_fn = refit or _default_refit
        self.update_fn = update
        self.stop_event = threading.Event()
        self._busy = threading.Lock()
        # Polls wait on the network: they have their own lock (and their own worker in the runner), so a
        # slow source never holds up a tick. Their writes are short transactions of their own.
        self._polling = threading.Lock()
        self._new_papers = False

    # -- job plumbing -------------------------------------------------------------------------------
    def _run(self, job: str, body: Callable[[dt.datetime], dict[str, Any]],
             lock: threading.Lock | None = None) -> dict[str, Any]:
        now = self.clock()
        lock = lock or self._busy
        if not lock.acquire(blocking=False):
            counts = {"reason": "another job is still running"}
            self._record(job, now, "skipped", counts, None, 0.0)
            return {"status": "skipped", **counts}
        started = time.perf_counter()
        try:
            counts = body(now)
        except Exception as exc:
            elapsed = time.perf_counter() - started
            self._record(job, now, "error", {}, f"{type(exc).__name__}: {exc}", elapsed)
            log.error("job=%s status=error duration=%.2fs error=%s: %s", job, elapsed,
                      type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG),
                      extra={"job": job, "status": "error", "duration_s": round(elapsed, 3)})
            return {"status": "error", "error": str(exc)}
        finally:
            lock.release()
        elapsed = time.perf_counter() - started
        status = "ok" if not counts.get("failed_sources") else "partial"
        self._record(job, now, status, counts, None, elapsed)
        shown = " ".join(f"{k}={v}" for k, v in counts.items())
        log.info("job=%s status=%s duration=%.2fs %s", job, status, elapsed, shown,
                 extra={"job": job, "status": status, "duration_s": round(elapsed, 3), "counts": counts})
        return {"status": status, **counts}

    def _record(self, job: str, now: dt.datetime, status: str, counts: dict[str, Any],
                error: str | None, elapsed: float) -> None:
        with self.store.transaction() as session:
            run = start_job(session, job, now)
            finish_job(session, run.id, status=status, counts=counts, error=error,
                       when=now + dt.timedelta(seconds=elapsed))

    @property
    def busy(self) -> threading.Lock:
        """Held while a job runs; acquire it to wait for the job in flight."""
        return self._busy

    # -- jobs ---------------------------------------------------------------------------------------
    def recover(self) -> int:
        """At start-up, under the scheduler lock: digests a dead process left ``sending`` become
        ``unknown`` (never resent automatically). Returns how many."""
        with self.store.transaction() as session:
            ids = mark_interrupted_sends(session, self.clock())
        if ids:
            log.warning("marked %d digest(s) left in 'sending' by a stopped process as 'unknown': ids %s",
                        len(ids), ", ".join(map(str, ids[:20])))
        return len(ids)

    def poll(self) -> dict[str, Any]:
        """Poll every source once and ingest what is new."""
        def body(now: dt.datetime) -> dict[str, Any]:
            report = self.poller.poll(now)
            if report.batches:
                self._new_papers = True
            return report.counts()

        return self._run("poll", body, self._polling)

    def due(self, now: dt.datetime | None = None) -> list[DueDigest]:
        """The digests due at ``now`` (default: the clock), from database state."""
        now = now or self.clock()
        with self.store.transaction() as session:
            wake_paused_readers(session, now)  # a dated pause that is over: due again today
            readers = list_readers(session, status="active")
            periods, last = digest_state(session, since=now - _PERIOD_HORIZON)
            newest = newest_batch(session, now)
        return due_digests(readers, now=now, periods_done=periods, last_digest_at=last, newest_batch=newest)

    def tick(self) -> dict[str, Any]:
        """Send every due digest; stops between two readers when :attr:`stop_event` is set."""
        return self._run("tick", self._tick)

    def _tick(self, now: dt.datetime) -> dict[str, Any]:
        due = self.due(now)
        totals = {"due": len(due), "sent": 0, "failed": 0, "unknown": 0, "empty": 0, "skipped": 0}
        extra: dict[str, Any] = {}
        if due and self.load_ranker is not None:
            extra["ranker"] = self.load_ranker(self.store, self.settings)
        # One reader per call, so a stop request (SIGTERM) takes effect after the message in flight.
        for item in due:
            if self.stop_event.is_set():
                totals["not_started"] = totals.get("not_started", 0) + 1
                continue
            self._send_one(item, now, totals, extra)
        return totals

    def _send_one(self, item: DueDigest, now: dt.datetime, totals: dict[str, int],
                  extra: dict[str, Any]) -> None:
        def period_for(_reader: Any, _now: dt.datetime, period: str = item.period) -> str:
            return period

        try:
            report = self.send(self.store, self.settings, now=now, readers=[item.reader_id],
                               period_for=period_for, **extra)
        except Exception as exc:  # a broken reader must not stop the run for the others
            totals["failed"] += 1
            log.error("digest for reader %d period %s failed: %s: %s", item.reader_id, item.period,
                      type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return
        for key, value in _report_counts(report).items():
            totals[key] = totals.get(key, 0) + value

    def refit(self) -> dict[str, Any]:
        """Full recommender refit."""
        def body(_now: dt.datetime) -> dict[str, Any]:
            info = self.refit_fn(self.store, self.settings) or {}
            self._new_papers = False
            return {k: v for k, v in dict(info).items() if isinstance(v, int | float | str | bool)}

        return self._run("refit", body)

    def update(self) -> dict[str, Any]:
        """Light recommender update after new papers (a no-op without an update function)."""
        def body(_now: dt.datetime) -> dict[str, Any]:
            if self.update_fn is None or not self._new_papers:
                return {"updated": 0}
            self.update_fn(self.store, self.settings)
            self._new_papers = False
            return {"updated": 1}

        return self._run("update", body)

    def jobs(self) -> Sequence[tuple[str, Callable[[], dict[str, Any]]]]:
        return [("poll", self.poll), ("tick", self.tick), ("update", self.update), ("refit", self.refit)]
