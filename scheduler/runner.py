"""``paperdigest run``: the long-running APScheduler process around :class:`SchedulerService`.

Timing choices, on purpose:

* one worker thread for tick, update and refit, so they never overlap; polls run on a second worker,
  because they wait on the network and a slow source must never delay a due digest (their writes are
  short transactions that queue on SQLite's write lock like any other writer);
* ``max_instances=1`` and ``coalesce=True``: a digest run longer than the tick interval makes the
  missed ticks collapse into one run afterwards, never a pile-up;
* ``misfire_grace_time`` = one interval: a tick delayed by a long job or a suspended machine still runs;
  anything older is dropped, which loses nothing because each tick recomputes due readers from the
  database;
* every job also runs once at start-up, so a restart after downtime catches up at once.

Signals: the handler only sets a flag. Everything that takes a lock (stopping the scheduler, logging)
happens on the main thread afterwards, never inside the handler: a handler that interrupts the main
thread while it holds a non-reentrant lock (APScheduler's executor holds one while it starts a worker
thread) and then asks for that same lock would wait for ever.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from paperdigest.core import Settings
from paperdigest.scheduler.lock import SchedulerLock
from paperdigest.scheduler.service import SchedulerService

__all__ = ["build_scheduler", "run_forever"]

log = logging.getLogger("paperdigest.scheduler")


def build_scheduler(service: SchedulerService, settings: Settings) -> BackgroundScheduler:
    """A BackgroundScheduler with the poll, tick and refit jobs (not started)."""
    scheduler = BackgroundScheduler(
        timezone=dt.UTC,
        # Polls get their own worker: a source that answers slowly must not delay due digests.
        executors={"default": ThreadPoolExecutor(max_workers=1), "poll": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    start = dt.datetime.now(dt.UTC)
    tick = dt.timedelta(minutes=settings.tick_minutes)
    poll = dt.timedelta(minutes=settings.poll_minutes)
    refit = dt.timedelta(hours=settings.refit_hours)
    # Start-up order: refit, then the sends on the main worker; the first poll runs beside them, so a
    # restart sends due digests at once even while a source is slow.
    plan: list[tuple[str, Callable[[], Any], dt.timedelta, dt.datetime]] = [
        ("poll", service.poll, poll, start),
        ("refit", service.refit, refit, start + dt.timedelta(milliseconds=1)),
        ("tick", service.tick, tick, start + dt.timedelta(milliseconds=2)),
    ]
    for job_id, func, every, first in plan:
        scheduler.add_job(
            func, IntervalTrigger(seconds=every.total_seconds(), timezone=dt.UTC), id=job_id, name=job_id,
            executor="poll" if job_id == "poll" else "default",
            next_run_time=first, misfire_grace_time=max(60, int(every.total_seconds())),
            replace_existing=True,
        )
    return scheduler


def run_forever(service: SchedulerService, settings: Settings, *, poll_seconds: float = 0.2) -> int:
    """Take the lock, recover interrupted sends, run the jobs until SIGTERM/SIGINT. Returns 0.

    Raises :class:`scheduler.lock.AlreadyRunning` when another scheduler holds the lock.
    """
    with SchedulerLock(service.store):
        service.recover()
        scheduler = build_scheduler(service, settings)
        received: list[int] = []

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            received.append(signum)  # no locks here: see the module docstring

        previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info("scheduler started: tick every %d min, poll every %d min, refit every %d h, sources %s",
                     settings.tick_minutes, settings.poll_minutes, settings.refit_hours,
                     ",".join(settings.sources) or "none")
            scheduler.start()
            while not received:
                time.sleep(poll_seconds)
            log.info("received %s: stopping after the chunk in flight", signal.Signals(received[0]).name)
            service.stop_event.set()
            # Waits for the job in flight, which checks the stop flag between two chunks.
            scheduler.shutdown(wait=True)
            with service.busy:
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        log.info("scheduler stopped")
    return 0
