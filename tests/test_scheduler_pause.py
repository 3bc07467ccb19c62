"""A dated pause through the scheduler: no digest through its last day, the usual one after it."""

from __future__ import annotations

import datetime as dt

from _scheduler_helpers import RowSender, add_batch, add_readers, at
from paperdigest.scheduler.service import SchedulerService
from paperdigest.store import Store
from paperdigest.store.models import Reader
from paperdigest.store.readers import pause_reader


def test_a_paused_reader_is_not_due_until_the_pause_is_over(any_store: Store) -> None:
    now = [at("2026-03-02T06:00+00:00")]
    [rid] = add_readers(any_store, [{"email": "berlin@example.org", "timezone": "Europe/Berlin",
                                     "send_hour": 8}], created_at=at("2026-03-01T06:00+00:00"))
    with any_store.transaction() as session:
        reader = session.get(Reader, rid)
        assert reader is not None
        pause_reader(session, reader, dt.date(2026, 3, 3), now[0])  # through Tuesday, Berlin time
    sender = RowSender()
    svc = SchedulerService(any_store, any_store.settings, clock=lambda: now[0], fetchers={}, send=sender)
    for day in ("2026-03-02", "2026-03-03", "2026-03-04"):
        add_batch(any_store, day, at(f"{day}T05:00+00:00"))
        now[0] = at(f"{day}T07:05+00:00")  # 08:05 in Berlin
        svc.tick()
    assert [period for _, period in sender.calls] == ["2026-03-04"]
    with any_store.transaction() as session:
        reader = session.get(Reader, rid)
        assert reader is not None and (reader.status, reader.paused_until) == ("active", None)
