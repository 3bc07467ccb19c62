"""The scheduler's jobs on a real database, driven by a fake clock (never by sleeping)."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading

import pytest
from _digest_helpers import KeywordRanker
from _scheduler_helpers import RowSender, add_batch, add_readers, at
from paperdigest.core.errors import ConfigError
from paperdigest.digest import FileBackend, send_digests
from paperdigest.scheduler.clock import clock_from_env, fixed_clock
from paperdigest.scheduler.lock import AlreadyRunning, SchedulerLock
from paperdigest.scheduler.logs import configure_logging, redact
from paperdigest.scheduler.service import SchedulerService
from paperdigest.store import Store
from paperdigest.store.models import Batch, Digest, JobRun, SourceState
from paperdigest.store.papers import NewBatch, NewPaper
from sqlalchemy import select


class Clock:
    def __init__(self, when: str) -> None:
        self.now = at(when)

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, when: str) -> None:
        self.now = at(when)


def service(store: Store, clock: Clock, sender: RowSender, fetchers=None) -> SchedulerService:
    return SchedulerService(store, store.settings, clock=clock, fetchers=fetchers or {}, send=sender)


def test_tick_sends_each_due_reader_once_across_ticks_and_restarts(any_store: Store):
    clock = Clock("2026-03-02T06:00+00:00")
    add_readers(any_store, [
        {"email": "berlin@example.org", "timezone": "Europe/Berlin", "send_hour": 8},
        {"email": "ny@example.org", "timezone": "America/New_York", "send_hour": 8},
        {"email": "weekly@example.org", "cadence": "weekly", "weekday": "wed", "send_hour": 8},
    ], created_at=at("2026-03-01T14:00+00:00"))  # after New York's 2026-03-01 slot
    add_batch(any_store, "monday", at("2026-03-02T05:00+00:00"))
    sender = RowSender()
    svc = service(any_store, clock, sender)
    assert svc.tick()["due"] == 0
    clock.set("2026-03-02T07:05+00:00")  # 08:05 in Berlin
    assert svc.tick()["sent"] == 1
    assert svc.tick()["due"] == 0  # the next tick sees the row
    restarted = service(any_store, clock, sender)  # a new process: state comes from the database
    clock.set("2026-03-02T13:05+00:00")  # 08:05 in New York
    assert restarted.tick()["sent"] == 1
    clock.set("2026-03-04T08:05+00:00")  # Wednesday: the weekly reader
    result = restarted.tick()
    assert result["sent"] == 1
    assert sorted(period for _, period in sender.calls) == ["2026-03-02", "2026-03-02", "2026-W10"]
    assert len(set(sender.calls)) == len(sender.calls)
    with any_store.transaction() as session:
        runs = session.scalars(select(JobRun).where(JobRun.job == "tick").order_by(JobRun.id)).all()
    assert [r.counts["due"] for r in runs] == [0, 1, 0, 1, 1]
    assert runs[-1].started_at == at("2026-03-04T08:05+00:00") and runs[-1].status == "ok"


def test_digest_run_longer_than_the_tick_interval_is_not_overlapped(store: Store):
    clock = Clock("2026-03-02T09:00+00:00")
    add_readers(store, [{"email": "a@example.org"}, {"email": "b@example.org"}],
                created_at=at("2026-03-01T12:00+00:00"))
    add_batch(store, "b1", at("2026-03-02T05:00+00:00"))
    gate = threading.Event()
    sender = RowSender(gate)
    svc = service(store, clock, sender)
    first: dict = {}
    worker = threading.Thread(target=lambda: first.update(svc.tick()))
    worker.start()
    assert sender.started.wait(10)
    clock.set("2026-03-02T09:05+00:00")  # the next tick fires while the first still sends
    assert svc.tick()["status"] == "skipped"
    gate.set()
    worker.join(10)
    assert first["sent"] == 2
    assert svc.tick()["due"] == 0
    assert len(sender.calls) == 2
    with store.transaction() as session:
        statuses = session.scalars(select(JobRun.status).where(JobRun.job == "tick").order_by(JobRun.id))
        assert list(statuses) == ["skipped", "ok", "ok"]


class _StopAfterFirst(FileBackend):
    """Delivers to files; the first delivery also requests a stop (SIGTERM mid-chunk)."""

    def __init__(self, folder, event: threading.Event) -> None:
        super().__init__(folder)
        self.event = event

    def deliver(self, item):
        self.event.set()
        return super().deliver(item)


def _real_send(store: Store, ids: list[int], backend, chunk: int = 200):
    ranker = KeywordRanker({str(i): ["graph"] for i in ids})
    return functools.partial(send_digests, ranker=ranker, backend=backend, chunk=chunk)


def test_stop_request_ends_the_run_between_two_chunks(store: Store, tmp_path):
    clock = Clock("2026-03-02T09:00+00:00")
    ids = add_readers(store, [{"email": f"r{i}@example.org", "keywords": ["graph"]} for i in range(5)],
                      created_at=at("2026-03-01T12:00+00:00"))
    add_batch(store, "b1", at("2026-03-02T05:00+00:00"))
    svc = SchedulerService(store, store.settings, clock=clock, fetchers={})
    svc.send = _real_send(store, ids, _StopAfterFirst(tmp_path / "out", svc.stop_event), chunk=2)
    result = svc.tick()
    # The chunk in flight (2 digests) finishes; the next chunks are left pending for the next run.
    assert result["sent"] == 2 and result["not_started"] == 3
    assert len(list((tmp_path / "out").glob("*.eml"))) == 2
    svc.stop_event.clear()
    svc.send = _real_send(store, ids, FileBackend(tmp_path / "out"))
    assert svc.tick()["sent"] == 3
    with store.transaction() as session:
        assert sorted(session.scalars(select(Digest.status))) == ["sent"] * 5


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_recover_takes_over_a_dead_runs_claims(store: Store, tmp_path):
    clock = Clock("2026-03-02T09:00+00:00")
    ids = add_readers(store, [{"email": f"r{i}@example.org", "keywords": ["graph"]} for i in range(3)],
                      created_at=at("2026-03-01T12:00+00:00"))
    add_batch(store, "b1", at("2026-03-02T05:00+00:00"))
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    alive = f"{socket.gethostname()}:{os.getppid()}"
    with store.transaction() as session:
        session.add(Digest(reader_id=ids[0], period="2026-03-02", status="sending", created_at=clock.now,
                           claimed_by=dead, claimed_at=clock.now))
        session.add(Digest(reader_id=ids[1], period="2026-03-02", status="claimed", created_at=clock.now,
                           claimed_by=dead, claimed_at=dt.datetime.now(dt.UTC)))
        session.add(Digest(reader_id=ids[2], period="2026-03-02", status="claimed", created_at=clock.now,
                           claimed_by=alive, claimed_at=dt.datetime.now(dt.UTC)))
    svc = SchedulerService(store, store.settings, clock=clock, fetchers={})
    svc.send = _real_send(store, ids, FileBackend(tmp_path / "out"))
    assert svc.recover() == 1
    with store.transaction() as session:
        states = dict(session.execute(select(Digest.reader_id, Digest.status)).all())
        digest = session.scalar(select(Digest).where(Digest.reader_id == ids[0]))
        assert "stopped" in digest.note
    # In flight when its run died: unknown. Claimed but never handed over: pending again, then sent.
    # A live run's claim is left alone.
    assert states == {ids[0]: "unknown", ids[1]: "pending", ids[2]: "claimed"}
    assert svc.tick()["due"] == 1
    with store.transaction() as session:
        states = dict(session.execute(select(Digest.reader_id, Digest.status)).all())
    assert states == {ids[0]: "unknown", ids[1]: "sent", ids[2]: "claimed"}


def test_job_runs_are_pruned(store: Store):
    clock = Clock("2026-03-02T09:00+00:00")
    svc = service(store, clock, RowSender())
    svc.tick()
    clock.set("2026-04-15T09:00+00:00")
    svc.tick()
    with store.transaction() as session:
        assert [r.started_at for r in session.scalars(select(JobRun))] == [clock.now]


def test_a_failing_source_is_logged_counted_retried_and_the_others_go_on(store: Store, caplog):
    clock = Clock("2026-03-02T09:00+00:00")
    day = {"broken": True}

    def flaky(cursor, now):
        if day["broken"]:
            raise ConnectionError("http://127.0.0.1:9/api/daily_papers?date=2026-03-02: connection refused")
        batch = NewBatch(source="hf", label="hf 2026-03-02", papers=[NewPaper(title="A flaky paper")])
        yield batch, "2026-03-02"

    def steady(cursor, now):
        yield NewBatch(source="arxiv", label="cs.LG", papers=[NewPaper(title="A steady paper")]), None

    svc = service(store, clock, RowSender(), fetchers={"hf": flaky, "arxiv:cs.LG": steady})
    with caplog.at_level(logging.ERROR, logger="paperdigest.scheduler"):
        result = svc.poll()
    assert result["status"] == "partial" and result["batches"] == 1 and result["failed_sources"] == 1
    assert "source hf failed (1 in a row)" in caplog.text and "connection refused" in caplog.text
    clock.set("2026-03-03T09:00+00:00")
    svc.poll()
    with store.transaction() as session:
        state = session.get(SourceState, "hf")
        assert state.failures == 2 and state.last_success_at is None
    day["broken"] = False
    clock.set("2026-03-04T09:00+00:00")
    assert svc.poll()["status"] == "ok"
    with store.transaction() as session:
        state = session.get(SourceState, "hf")
        assert state.failures == 0 and state.last_error is None and state.cursor == "2026-03-02"
        assert state.last_success_at == at("2026-03-04T09:00+00:00")
        assert sorted(session.scalars(select(Batch.source))) == ["arxiv", "hf"]


def test_only_one_scheduler_per_sqlite_database(store: Store):
    with SchedulerLock(store), pytest.raises(AlreadyRunning, match="another scheduler"):
        SchedulerLock(store).acquire()
    with SchedulerLock(store):  # released on exit: can be taken again
        pass


@pytest.mark.postgres
def test_only_one_scheduler_per_postgresql_database(pg_store: Store):
    second = Store(pg_store.settings)
    try:
        with SchedulerLock(pg_store), pytest.raises(AlreadyRunning, match="advisory lock"):
            SchedulerLock(second).acquire()
        with SchedulerLock(second):
            pass
    finally:
        second.close()


def test_json_logs_carry_counts_and_never_a_full_email(store: Store):
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    try:
        svc = service(store, Clock("2026-03-02T09:00+00:00"), RowSender())
        svc.tick()
        logging.getLogger("paperdigest.digest").warning("could not reach alice.smith@example.org via "
                                                        "smtp://bob:hunter2@mail.example.org")
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    tick = next(line for line in lines if line.get("job") == "tick")
    assert tick["counts"]["due"] == 0 and tick["status"] == "ok" and "duration_s" in tick
    text = stream.getvalue()
    assert "alice.smith@" not in text and "a***@example.org" in text and "hunter2" not in text


def test_redact_masks_addresses_and_url_credentials():
    assert redact("to bob@example.org") == "to b***@example.org"
    assert redact("smtps://user:secret@host:465") == "smtps://***:***@host:465"


def test_fake_now_is_parsed_strictly():
    assert clock_from_env({"PAPERDIGEST_FAKE_NOW": "2026-03-02T09:00:00+01:00"})() == at(
        "2026-03-02T08:00+00:00")
    with pytest.raises(ConfigError, match="PAPERDIGEST_FAKE_NOW"):
        clock_from_env({"PAPERDIGEST_FAKE_NOW": "2026-03-02T09:00"})
    with pytest.raises(ConfigError, match="not an ISO"):
        clock_from_env({"PAPERDIGEST_FAKE_NOW": "tomorrow"})
    with pytest.raises(ValueError):
        fixed_clock(dt.datetime(2026, 3, 2))
