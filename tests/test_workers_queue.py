"""Digest workers on a real broker: bad queue settings, idempotent chunks, worker kills, broker restarts.

The slow tests use the real parts: PostgreSQL, RabbitMQ or a private Redis, `paperdigest worker`
subprocesses and aiosmtpd on loopback. Locally they skip when a server is missing; under CI=true
they fail instead.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from _workers_helpers import Inbox, Worker, add_papers, check_once, seed, wait_settled
from conftest import IN_CI, free_port, need
from paperdigest.core import ConfigError, load_settings
from paperdigest.digest.dispatch import HAND_OVER_GROUP
from paperdigest.scheduler.service import SchedulerService
from paperdigest.store import Store

RABBIT = "amqp://guest:guest@127.0.0.1:5672/%2F"
READERS = 30
TRIALS = 20


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_queue_url_with_a_wrong_scheme_names_the_setting(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^PAPERDIGEST_QUEUE_URL: must be a redis:// or amqp:// URL, "
                                          r"got scheme 'http'$"):
        load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_QUEUE_URL": "http://u:secret@h/"})


@pytest.mark.parametrize(("url", "command"), [("redis://127.0.0.1:{port}/0", ["worker"]),
                                              ("amqp://guest:guest@127.0.0.1:{port}/", ["run", "--once"])])
def test_unreachable_broker_at_start_up_is_one_line_and_exit_2(initialised_cli, env, url, command) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")}
    full.update(env)
    full.update({"PAPERDIGEST_QUEUE_URL": url.format(port=free_port()), "PAPERDIGEST_SOURCES": ""})
    done = subprocess.run([sys.executable, "-m", "paperdigest", *command], env=full, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot reach the queue broker at "), done.stderr
    assert "(PAPERDIGEST_QUEUE_URL)" in lines[0] and "guest:guest" not in lines[0]


@pytest.fixture(scope="module")
def smtp():
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        need(False, "aiosmtpd is not installed")
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _env(home: Path, database_url: str, smtp_port: int, queue_url: str) -> dict[str, str]:
    return {"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_DATABASE_URL": database_url,
            "PAPERDIGEST_DELIVERY": "smtp", "PAPERDIGEST_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?timeout=5",
            "PAPERDIGEST_CONTENT_BACKEND": "tfidf", "PAPERDIGEST_SOURCES": "",
            "PAPERDIGEST_QUEUE_URL": queue_url, "PAPERDIGEST_QUEUE_NAME": f"pd-test-{uuid.uuid4().hex[:10]}"}


def _clock(store: Store, env: dict[str, str], chunk: int) -> SchedulerService:
    """The scheduler side: a service whose tick enqueues chunks of ``chunk`` readers."""
    from paperdigest.workers.broker import declare_actor, make_broker
    from paperdigest.workers.client import TickQueue

    settings = load_settings(env=env)
    broker = make_broker(settings)
    actor = declare_actor(broker, settings, lambda payload: None)
    queue = TickQueue(store, settings, actor.send, chunk=chunk, sleep=lambda s: time.sleep(min(s, 0.5)))
    service = SchedulerService(store, settings, fetchers={}, enqueue=queue.enqueue)
    service.broker = broker  # type: ignore[attr-defined]  # closed by the test
    return service


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_a_worker_mid_chunk_loses_and_doubles_nothing(tmp_path, smtp, pg_database):
    """PostgreSQL + RabbitMQ + two worker processes; one is SIGKILLed mid-chunk and restarted, 20 times."""
    need(_reachable(5672), "RabbitMQ is not running on 127.0.0.1:5672")
    inbox, port = smtp
    env = _env(tmp_path / "home", pg_database, port, RABBIT)
    store = seed(env, READERS)
    clock = _clock(store, env, chunk=5)
    workers = [Worker(env), Worker(env)]
    rng = random.Random(9)
    kills_mid_run = unknown_total = 0
    try:
        for worker in workers:
            worker.wait_started()
        for trial in range(TRIALS):
            inbox.take()
            batch = add_papers(store, f"trial{trial}")
            result = clock.tick()
            assert result.get("enqueued") == READERS, result
            target = rng.randrange(1, READERS - 2)
            deadline = time.monotonic() + 60
            while inbox.count() < target and time.monotonic() < deadline:
                time.sleep(0.002)
            victim = rng.randrange(2)
            workers[victim].proc.send_signal(signal.SIGKILL)
            workers[victim].proc.wait(10)
            kills_mid_run += inbox.count() < READERS
            workers[victim] = Worker(env)
            try:
                states = wait_settled(store, f"batch:{batch}", READERS)
            except AssertionError as exc:
                logs = "\n".join(w.log() for w in workers)
                raise AssertionError(f"trial {trial}: {exc}\nworker logs:\n{logs}") from None
            unknown_total += check_once(states, inbox.take(), max_unknown=HAND_OVER_GROUP)
            workers[victim].wait_started()
        assert kills_mid_run >= TRIALS // 2, f"only {kills_mid_run} of {TRIALS} kills landed mid-run"
    finally:
        for worker in workers:
            worker.stop(signal.SIGTERM)
        clock.broker.close()
        store.close()
    assert unknown_total <= TRIALS * HAND_OVER_GROUP


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of our own on a free port (restarting the shared one would disturb other tests)."""
    binary = shutil.which("redis-server")
    need(binary is not None, "redis-server is not installed")
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    # appendonly: a restarted broker keeps its queue, as a production one would.
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
           "--appendfsync", "always", "--dir", str(folder)]

    class Server:
        proc: subprocess.Popen | None = None

        def start(self) -> None:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 20
            while not _reachable(port):
                assert time.monotonic() < deadline, "private redis did not start"
                time.sleep(0.05)

        def stop(self) -> None:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(20)

    server = Server()
    server.start()
    yield server, f"redis://127.0.0.1:{port}/0"
    server.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_broker_restarted_mid_run_sends_everything_once(tmp_path, smtp, pg_database, private_redis):
    server, url = private_redis
    inbox, port = smtp
    env = _env(tmp_path / "home", pg_database, port, url)
    store = seed(env, READERS)
    clock = _clock(store, env, chunk=3)
    worker = Worker(env)
    try:
        worker.wait_started()
        inbox.take()
        batch = add_papers(store, "restart")
        assert clock.tick()["enqueued"] == READERS
        deadline = time.monotonic() + 60
        while inbox.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.stop()  # the broker goes away mid-run ...
        # ... a tick now cannot enqueue: it logs, retries, fails, and gives the rows back.
        second = add_papers(store, "during outage")
        assert clock.tick()["status"] == "error"
        time.sleep(1)
        server.start()  # ... and comes back with its queue
        received = []
        states = wait_settled(store, f"batch:{batch}", READERS, timeout=180)
        # each_batch readers: the newer batch is their due period now; the next tick enqueues it.
        assert clock.tick()["enqueued"] == READERS
        later = wait_settled(store, f"batch:{second}", READERS, timeout=180)
        received = inbox.take()
        first_ids = [r for r in received if f"batch-{batch}." in r[1]]
        check_once(states, first_ids, max_unknown=0)
        check_once(later, [r for r in received if f"batch-{second}." in r[1]], max_unknown=0)
        assert any("connection" in line.lower() for line in worker.lines), worker.log()
    finally:
        assert worker.stop(signal.SIGTERM) == 0, worker.log()
        clock.broker.close()
        store.close()


def test_ci_has_the_brokers() -> None:
    """Under CI=true, scripts/setup --test must have started Redis and RabbitMQ."""
    if not IN_CI:
        pytest.skip("only checked under CI=true")
    assert _reachable(6379) and _reachable(5672)


@pytest.mark.slow
def test_worker_processes_start_and_stop_on_sigterm(initialised_cli, env) -> None:
    need(_reachable(6379), "Redis is not running on 127.0.0.1:6379")
    worker = Worker({**env, "PAPERDIGEST_QUEUE_URL": "redis://127.0.0.1:6379/0",
                     "PAPERDIGEST_QUEUE_NAME": f"pd-test-{uuid.uuid4().hex[:10]}"}, processes=2)
    deadline = time.monotonic() + 120
    while sum("worker started" in line for line in list(worker.lines)) < 2:
        assert time.monotonic() < deadline and worker.proc.poll() is None, worker.log()
        time.sleep(0.1)
    assert worker.stop(signal.SIGTERM) == 0, worker.log()
    assert sum("worker stopped" in line for line in worker.lines) == 2, worker.log()
