"""``paperdigest run|status|stats|demo`` through the real CLI (in-process and as a subprocess)."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from _scheduler_helpers import add_batch, add_readers
from paperdigest.core import load_settings
from paperdigest.store import Store
from paperdigest.store.feedback import record_feedback
from paperdigest.store.jobs import finish_job, start_job
from paperdigest.store.models import Digest, DigestItem, Paper, Reader, utcnow
from sqlalchemy import select, update


def test_status_reports_jobs_sources_and_the_last_digest_run(initialised_cli, env):
    store = Store.open(load_settings(env=env))
    try:
        add_batch(store, "hf 2026-03-02", utcnow(), source="hf")
        with store.transaction() as session:
            run = start_job(session, "tick", utcnow())
            finish_job(session, run.id, status="ok", counts={"due": 3, "sent": 2, "failed": 1})
    finally:
        store.close()
    result = initialised_cli("status", "--json")
    data = json.loads(result.stdout)
    assert data["running"] == "no"
    assert data["last_digest_run"]["sent"] == 2 and data["last_digest_run"]["failed"] == 1
    assert [s["source"] for s in data["sources"]] == ["hf"] and data["sources"][0]["papers"] == 3
    tick = next(j for j in data["jobs"] if j["job"] == "tick")
    assert tick["last_status"] == "ok" and tick["next_run"] != "at start-up"
    text = initialised_cli("status").stdout
    assert "Last digest run:" in text and "sent=2" in text


def test_stats_counts_per_day_and_like_rate_by_position(initialised_cli, env):
    store = Store.open(load_settings(env=env))
    now = utcnow()
    try:
        [a, b] = add_readers(store, [{"email": "a@example.org"}, {"email": "b@example.org"}],
                             created_at=now - dt.timedelta(days=3))
        add_batch(store, "b1", now - dt.timedelta(days=1))
        with store.transaction() as session:
            ids = list(session.scalars(select(Paper.id).order_by(Paper.id)))
            for reader_id, status in ((a, "sent"), (b, "unknown")):
                digest = Digest(reader_id=reader_id, period="p1", status=status, created_at=now,
                                sent_at=now if status == "sent" else None)
                session.add(digest)
                session.flush()
                for rank, paper_id in enumerate(ids[:2], start=1):
                    session.add(DigestItem(digest_id=digest.id, paper_id=paper_id, rank=rank, score=1.0))
            record_feedback(session, a, ids[0], "like", "email", when=now + dt.timedelta(minutes=1))
            record_feedback(session, a, ids[1], "dislike", "email", when=now + dt.timedelta(minutes=1))
            record_feedback(session, a, ids[1], "click", "email", when=now + dt.timedelta(minutes=1))
            session.execute(update(Reader).where(Reader.id == b).values(status="unsubscribed",
                                                                        unsubscribed_at=now))
    finally:
        store.close()
    data = json.loads(initialised_cli("stats", "--days", "3", "--json").stdout)
    assert len(data["days"]) == 3
    today = data["days"][-1]
    assert today["sent"] == 1 and today["unknown"] == 1 and today["likes"] == 1
    assert today["dislikes"] == 1 and today["clicks"] == 1 and today["unsubscribes"] == 1
    assert sum(d["sent"] for d in data["days"][:-1]) == 0
    assert data["like_rate_by_position"] == [
        {"position": 1, "shown": 1, "liked": 1, "like_rate": 1.0},
        {"position": 2, "shown": 1, "liked": 0, "like_rate": 0.0},
    ]
    assert "Like rate by position" in initialised_cli("stats").stdout


def test_stats_refuses_a_bad_day_count(initialised_cli):
    result = initialised_cli("stats", "--days", "0", ok=False)
    assert result.exit_code == 1 and result.stderr == "Error: --days must be between 1 and 3650, got 0\n"


def test_run_refuses_a_bad_log_format(initialised_cli):
    result = initialised_cli("run", "--log-format", "xml", ok=False)
    assert result.exit_code == 2 and "Error: --log-format: must be 'text' or 'json'" in result.stderr


RUN = [sys.executable, "-m", "paperdigest", "run"]


def _run_env(env: dict[str, str]) -> dict[str, str]:
    """The environment for ``paperdigest run`` as a subprocess: no sources, the TF-IDF backend."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")}
    return {**full, **env, "PAPERDIGEST_SOURCES": "", "PAPERDIGEST_CONTENT_BACKEND": "tfidf"}


def test_a_second_run_exits_with_one_clear_line(initialised_cli, env):
    full = _run_env(env)
    cmd = [*RUN, "--log-format", "json"]
    first = subprocess.Popen(cmd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lock = env["PAPERDIGEST_HOME"] + "/scheduler.lock"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (os.path.exists(lock) and os.path.getsize(lock)):
            time.sleep(0.05)
        second = subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=60)
        assert second.returncode == 3
        assert second.stderr.strip().splitlines() == [
            f"Error: another scheduler (pid {first.pid}) is running on this database (lock {lock})"]
    finally:
        first.send_signal(2)  # SIGINT: graceful
        out = first.communicate(timeout=30)[1]
    assert first.returncode == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    assert any("stopping after the chunk in flight" in line["message"] for line in lines)
    assert lines[-1]["message"] == "scheduler stopped"


def test_demo_refuses_a_non_empty_folder_that_is_not_a_demo(cli, tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.tex").write_text("do not delete")
    result = cli("demo", "--dir", str(folder), ok=False)
    assert result.exit_code != 0
    assert result.stderr.strip() == (f"Error: refusing to use {folder}: it is not empty and not a "
                                     "paperdigest demo folder (choose another --dir)")
    assert (folder / "thesis.tex").read_text() == "do not delete"


@pytest.mark.slow
def test_sigterm_at_any_moment_of_start_up_stops_run_cleanly(initialised_cli, env):
    """Signals that land while the scheduler is submitting its start-up jobs must still stop it.

    A handler that stops the scheduler itself can deadlock there (the executor holds a
    non-reentrant lock while it starts its worker thread); CI once caught exactly that.
    """
    full, cmd = _run_env(env), RUN
    rng = random.Random(7)
    for trial in range(12):
        proc = subprocess.Popen(cmd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            line = ""
            while "scheduler started" not in line:
                line = proc.stderr.readline()
                assert line, f"trial {trial}: run ended before it started"
            time.sleep(rng.random() * 0.02)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = None
        finally:
            rest = proc.communicate(timeout=10)[1]
        assert code == 0, f"trial {trial}: exit {code}\n{rest[-3000:]}"
        assert "scheduler stopped" in rest
