"""The scheduler's jobs — poll, tick, refit — as plain methods driven by an injectable clock.

APScheduler only decides *when* a method runs (see :mod:`scheduler.runner`); what a method does depends
on the database and ``clock()`` alone, so tests call the methods directly with a fake clock.

Each job run writes one ``job_runs`` row and one log line with its counts and duration; rows older
than :data:`JOB_HISTORY` are pruned. Jobs never overlap: a run that finds another one in flight
records ``skipped`` (e.g. a digest run longer than the tick interval).

The tick is batch-first: every due reader goes into one ``send_digests`` call, which ranks readers of
the same candidate window together and delivers in chunks over one connection each, asking
:attr:`SchedulerService.stop_event` between chunks. With a queue (``PAPERDIGEST_QUEUE_URL``) the tick
only enqueues chunks of due readers and the workers do the same call per chunk. Feedback is folded
into the model when the tick loads it, so there is no separate "update" job.
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
from paperdigest.store.jobs import digest_state, finish_job, newest_batch, prune_job_runs, start_job
from paperdigest.store.readers import list_readers, wake_paused_readers

__all__ = ["JOB_NAMES", "SchedulerService", "Sender"]

log = logging.getLogger("paperdigest.scheduler")

JOB_NAMES = ("poll", "tick", "refit")
# How long job_runs rows are kept (the scheduler writes a few hundred a day).
JOB_HISTORY = dt.timedelta(days=30)
# Digest rows older than this cannot hold a period the due rules still look at (weekly + slack).
_PERIOD_HORIZON = dt.timedelta(days=15)

Sender = Callable[..., Any]  # digest.send_digests(store, settings, *, now, readers, period_for, stop, ...)
Enqueue = Callable[[list[DueDigest], dt.datetime], dict[str, Any]]  # queue.client.TickQueue.enqueue


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
    for key in ("sent", "failed", "unknown", "empty", "skipped", "stopped"):
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
    send, refit
        The digest service functions (defaults: ``digest.send_digests``, ``ranking.refit_model``).
    ingest
        ``ingest_batch`` (default: ``ingest.ingest_batch``).
    enqueue
        With a queue: hands the due digests to the workers instead of sending them here.
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
        ingest: Ingest | None = None,
        enqueue: Enqueue | None = None,
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
        self.enqueue = enqueue
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
            prune_job_runs(session, now - JOB_HISTORY)

    @property
    def busy(self) -> threading.Lock:
        """Held while a job runs; acquire it to wait for the job in flight."""
        return self._busy

    # -- jobs ---------------------------------------------------------------------------------------
    def recover(self) -> int:
        """Claims of runs that are gone: their unsent digests go back to ``pending`` (sent by the next
        tick), the one each had in flight becomes ``unknown``. Returns how many became ``unknown``."""
        from paperdigest.digest.dispatch import recover_claims

        _released, lost = recover_claims(self.store)
        return len(lost)

    def poll(self) -> dict[str, Any]:
        """Poll every source once and ingest what is new."""
        def body(now: dt.datetime) -> dict[str, Any]:
            return self.poller.poll(now).counts()

        return self._run("poll", body, self._polling)

    def due(self, now: dt.datetime | None = None) -> list[DueDigest]:
        """The digests due at ``now`` (default: the clock), from database state."""
        now = now or self.clock()
        with self.store.transaction() as session:
            wake_paused_readers(session, now)  # a dated pause that is over: due again today
        with self.store.read() as session:
            readers = list_readers(session, status="active")
            periods, last = digest_state(session, since=now - _PERIOD_HORIZON)
            newest = newest_batch(session, now)
        return due_digests(readers, now=now, periods_done=periods, last_digest_at=last, newest_batch=newest)

    def tick(self) -> dict[str, Any]:
        """Send (or enqueue) every due digest; stops between two chunks when :attr:`stop_event` is set."""
        return self._run("tick", self._tick)

    def _tick(self, now: dt.datetime) -> dict[str, Any]:
        self.recover()  # a dead run's claimed digests become due again
        due = self.due(now)
        totals: dict[str, Any] = {"due": len(due)}
        if not due:
            return {**totals, "sent": 0, "failed": 0, "unknown": 0, "empty": 0, "skipped": 0}
        if self.enqueue is not None:
            return {**totals, **self.enqueue(due, now)}
        periods = {item.reader_id: item.period for item in due}
        extra: dict[str, Any] = {}
        if self.load_ranker is not None:
            extra["ranker"] = self.load_ranker(self.store, self.settings)

        def period_for(reader: Any, _now: dt.datetime) -> str:
            return periods[reader.id]

        report = self.send(self.store, self.settings, now=now, readers=list(periods), period_for=period_for,
                           stop=self.stop_event.is_set, **extra)
        counts = _report_counts(report)
        stopped = counts.pop("stopped", 0)
        if stopped:
            counts["not_started"] = stopped
        return {**totals, **counts}

    def refit(self) -> dict[str, Any]:
        """Full recommender refit."""
        def body(_now: dt.datetime) -> dict[str, Any]:
            info = self.refit_fn(self.store, self.settings) or {}
            return {k: v for k, v in dict(info).items() if isinstance(v, int | float | str | bool)}

        return self._run("refit", body)

    def jobs(self) -> Sequence[tuple[str, Callable[[], dict[str, Any]]]]:
        return [("poll", self.poll), ("tick", self.tick), ("refit", self.refit)]
