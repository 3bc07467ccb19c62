"""Issue #14 item 5: a source that answers slowly must never delay sending due digests."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

from _scheduler_helpers import RowSender, add_batch, add_readers
from paperdigest.scheduler.runner import build_scheduler
from paperdigest.scheduler.service import SchedulerService
from paperdigest.store import Store
from paperdigest.store.papers import NewBatch


def test_tick_runs_while_a_poll_hangs_on_a_slow_source(store: Store) -> None:
    now = dt.datetime.now(dt.UTC)
    hour = (now - dt.timedelta(hours=1)).astimezone(dt.UTC).hour  # the reader's slot has passed
    add_readers(store, [{"email": "ann@example.org", "timezone": "UTC", "send_hour": hour}],
                created_at=now - dt.timedelta(days=2))
    add_batch(store, "today", now - dt.timedelta(minutes=30))
    release = threading.Event()
    polling = threading.Event()

    def slow(cursor: str | None, when: dt.datetime) -> Iterator[tuple[NewBatch, str | None]]:
        polling.set()
        release.wait(30)  # a server dripping its answer
        yield from ()

    sender = RowSender()
    service = SchedulerService(store, store.settings, fetchers={"slow": slow}, send=sender,
                               refit=lambda *_: None)
    scheduler = build_scheduler(service, store.settings)
    scheduler.start()
    try:
        assert polling.wait(10), "the poll never started"
        deadline = time.monotonic() + 15
        while not sender.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not release.is_set()
        assert len(sender.calls) == 1  # the due digest went out while the source still hung
    finally:
        release.set()
        scheduler.shutdown(wait=True)
