"""Real parts for the queue-worker tests: an SMTP inbox (aiosmtpd), worker subprocesses, a seeded home."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time

from paperdigest.core import load_settings
from paperdigest.store import Store
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.store.readers import ReaderFields, add_reader

TOPICS = ("graph neural networks", "image segmentation", "language models", "robot learning")


class Inbox:
    """aiosmtpd handler that records (recipient, Message-ID) of every message it accepts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes

        message_id = message_from_bytes(envelope.content).get("Message-ID", "")
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((rcpt.lower(), message_id))
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def take(self) -> list[tuple[str, str]]:
        with self.lock:
            out, self.received = self.received, []
        return out


def add_papers(store: Store, label: str, n: int = 8) -> int:
    """One new batch fetched now (a new period for each_batch readers); returns its id."""
    papers = [NewPaper(title=f"{label}: a study of {TOPICS[i % 4]}, part {i}",
                       abstract=f"We improve {TOPICS[i % 4]} with method {label}-{i}.") for i in range(n)]
    with store.transaction() as session:
        return upsert_batch(session, NewBatch(source="test", label=label, papers=papers)).batch_id


def seed(env: dict[str, str], readers: int) -> Store:
    """Initialise the home/database of ``env`` with ``readers`` each_batch readers and a fitted model."""
    settings = load_settings(env=env)
    store, _ = Store.initialise(settings)
    from paperdigest.store.models import Base

    with store.engine.begin() as conn:  # the session's PostgreSQL database may hold an earlier test's rows
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    created = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    add_papers(store, "seed", 24)
    with store.transaction() as session:
        for i in range(readers):
            reader = add_reader(session, ReaderFields(
                email=f"reader{i}@example.org", cadence="each_batch", keywords=[TOPICS[i % 4]],
                digest_size=2))
            reader.created_at = created
    from paperdigest.ranking import refit_model

    refit_model(store, settings)
    return store


class Worker:
    """``paperdigest worker`` as a subprocess; stderr collected by a thread."""

    def __init__(self, env: dict[str, str], processes: int = 1) -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")}
        full.update(env)
        self.proc = subprocess.Popen([sys.executable, "-m", "paperdigest", "worker", "--processes",
                                      str(processes)], env=full, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.lines.append(line)

    def wait_started(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any("worker started" in line for line in list(self.lines)):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}: {self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"worker did not start: {self.log()}")

    def log(self) -> str:
        self._reader.join(5)
        return "".join(self.lines)[-4000:]

    def stop(self, sig: int) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def digest_states(db: Store, period: str) -> dict[str, str]:
    """Reader email -> status of their digest for ``period``."""
    from paperdigest.store.models import Digest, Reader
    from sqlalchemy import select

    with db.read() as session:
        rows = session.execute(select(Reader.email, Digest.status)
                               .join(Reader, Reader.id == Digest.reader_id).where(Digest.period == period))
        return dict(rows.all())


_SETTLED = ("sent", "unknown", "failed", "empty")


def wait_settled(db: Store, period: str, readers: int, timeout: float = 120) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = digest_states(db, period)
        if len(states) == readers and all(s in _SETTLED for s in states.values()):
            return states
        time.sleep(0.1)
    raise AssertionError(f"digests of {period} not settled in {timeout}s: {sorted(states.values())}")


def check_once(states: dict[str, str], received: list[tuple[str, str]], max_unknown: int) -> int:
    """0 doubled, 0 lost: each reader got one message or is ``unknown``; returns the unknown count."""
    per_reader: dict[str, int] = {}
    for rcpt, _ in received:
        per_reader[rcpt] = per_reader.get(rcpt, 0) + 1
    assert len({mid for _, mid in received}) == len(received), "a Message-ID arrived twice"
    for email, status in states.items():
        count = per_reader.get(email, 0)
        assert count <= 1, f"{email} received {count} digests"
        # In flight at a kill: it may have arrived or not, so it is unknown either way.
        allowed = ("sent", "unknown") if count else ("unknown",)
        assert status in allowed, f"{email}: {status}, received {count}"
    unknown = sum(s == "unknown" for s in states.values())
    assert unknown <= max_unknown, f"{unknown} unknown, at most {max_unknown} may be in flight"
    return unknown
