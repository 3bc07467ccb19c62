"""Chunked delivery: a broken digest fails alone, enqueue stamps, read-only sessions, status by state."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import pytest
from _digest_helpers import GRAPH, KeywordRanker, add_batch, add_readers, now
from paperdigest.digest import FileBackend, send_digests
from paperdigest.scheduler.due import DueDigest
from paperdigest.store import Store
from paperdigest.store.digests import list_digests
from paperdigest.store.models import Digest, JobRun
from paperdigest.workers.client import TickQueue
from sqlalchemy import select, text


def test_one_digest_that_cannot_render_fails_alone(any_store: Store, tmp_path: Path, monkeypatch) -> None:
    add_batch(any_store, GRAPH)
    ids = add_readers(any_store, *[(f"r{i}@example.org", ["graph"]) for i in range(4)])
    ranker = KeywordRanker({str(i): ["graph"] for i in ids})
    from paperdigest.digest import dispatch

    real = dispatch.build_view

    def build_view(reader, *args, **kwargs):
        if reader.id == ids[1]:
            raise ValueError("template exploded")
        return real(reader, *args, **kwargs)

    monkeypatch.setattr(dispatch, "build_view", build_view)
    report = send_digests(any_store, any_store.settings, now=now(), ranker=ranker,
                          backend=FileBackend(tmp_path / "out"))
    assert report.sent == 3 and report.failed == 1
    with any_store.read() as session:
        rows = {d.reader_id: d for d in list_digests(session)}
    assert rows[ids[1]].status == "failed" and "template exploded" in rows[ids[1]].error
    assert {rows[i].status for i in ids if i != ids[1]} == {"sent"}
    assert len(list((tmp_path / "out").glob("*.eml"))) == 3


def test_tick_queue_enqueues_each_digest_once_and_gives_back_on_broker_errors(store: Store) -> None:
    add_batch(store, GRAPH)
    ids = add_readers(store, *[(f"r{i}@example.org", ["graph"]) for i in range(7)])
    when = now()
    due = [DueDigest(rid, "2026-03-02", when) for rid in ids]
    sent: list[dict] = []
    queue = TickQueue(store, store.settings, sent.append, chunk=3, sleep=lambda _s: None)
    assert queue.enqueue(due, when) == {"enqueued": 7, "chunks": 3, "already_queued": 0}
    assert [len(p["readers"]) for p in sent] == [3, 3, 1]
    assert json.loads(json.dumps(sent)) == sent  # plain JSON on the wire
    # The next tick (backlog not yet processed) enqueues nothing again.
    assert queue.enqueue(due, when)["enqueued"] == 0

    down = TickQueue(store, store.settings, _refuse, chunk=3, sleep=lambda _s: None)
    with store.transaction() as session:  # a lost stamp (e.g. a broker that lost its data) expires
        session.execute(Digest.__table__.update().values(claimed_at=when - dt.timedelta(hours=1)))
    with pytest.raises(ConnectionError):
        down.enqueue(due, when)
    with store.read() as session:  # given back: the next tick may enqueue them again at once
        assert set(session.scalars(select(Digest.claimed_by))) == {None}
    assert queue.enqueue(due, when)["enqueued"] == 7


def _refuse(_payload: dict) -> None:
    raise ConnectionError("broker down")


def test_read_sessions_do_not_wait_for_the_write_lock(store: Store) -> None:
    holding = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with store.transaction() as session:
            session.add(JobRun(job="x", status="ok", counts={}))
            session.flush()
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.perf_counter()
        with store.read() as session:
            assert session.scalar(select(JobRun.id)) is None  # the writer's row is not committed
        assert time.perf_counter() - started < 2  # a writer transaction would wait 15 s here
    finally:
        release.set()
        thread.join()
    with store.read() as session:  # a write inside a read session never commits
        session.execute(text("DELETE FROM job_runs"))
    with store.read() as session:
        assert session.scalar(select(JobRun.id)) is not None


def test_status_shows_digest_counts_per_state(initialised_cli, env) -> None:
    out = json.loads(initialised_cli("status", "--json").stdout)
    assert out["digests"] == {"pending": 0, "claimed": 0, "sending": 0, "sent": 0, "failed": 0,
                              "unknown": 0, "empty": 0}
    text_out = initialised_cli("status").stdout
    assert "Digests by state" in text_out and "claimed" in text_out
