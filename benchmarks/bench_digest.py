"""Benchmark: render and deliver digests to a local SMTP server.

Against each target server, repeated ``--repeat`` times (the median is reported):

* ``render+deliver`` — ``--digests`` digests of 10 papers each are composed (view-model, HTML with
  CSS inlined, text, MIME bytes) and delivered over one SMTP connection by ``SmtpBackend``, with a
  ``DeliveryWorker`` thread sending while the next digest is composed (as ``digest.dispatch``);
* ``send_digests`` — the whole product path on a SQLite store for ``--readers`` readers: digest
  rows, claims, rendering, delivery and status updates (ranking by a fixed stand-in ranker, since
  the recommender has its own benchmark);
* the halves (composing alone, SMTP alone with pre-composed messages) and three ways of joining
  them on ``--parts`` digests: one thread (compose, then send), the worker thread, and composing
  in a forked child process while this one sends.

Targets, each in its own process: aiosmtpd with a discarding handler (Python, like the tests'
server; it spends about as much CPU per message as composing does) and, when installed
(``apt-get install postfix``), Postfix's ``smtp-sink`` (C; accepts and discards). Peak memory is
the benchmark process's maximum resident set size, read right after the first render+deliver run
(streaming) and at the end (which includes the ``--parts`` pre-composed messages).

Wall-clock rates on a shared machine depend on what else runs, so CPU time per message is reported
too: composing and the SMTP client from this process's rusage, the server from ``/proc/<pid>/stat``.

    python benchmarks/bench_digest.py [--digests 10000] [--readers 2000] [--parts 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from paperdigest.core import load_settings
from paperdigest.core.settings import SmtpConfig
from paperdigest.digest.compose import (
    ItemInfo,
    PaperInfo,
    ReaderInfo,
    build_view,
    compose_message,
    message_id_for,
)
from paperdigest.digest.delivery import DeliveryResult, DeliveryWorker, Outgoing, SmtpBackend
from paperdigest.digest.send import send_digests
from paperdigest.digest.tokens import TokenCodec
from paperdigest.store import Store
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.store.readers import ReaderFields, add_reader

_SERVER = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"
c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SMTP_SINK = "/usr/sbin/smtp-sink"


@contextmanager
def aiosmtpd_server() -> Iterator[tuple[int, int]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP server did not start")
        yield port, proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


@contextmanager
def smtp_sink_server() -> Iterator[tuple[int, int]]:
    """Postfix's smtp-sink on loopback (backlog 128); it runs as the ``postfix`` user under root."""
    port = _free_port()
    user = ["-u", "postfix"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([SMTP_SINK, *user, f"127.0.0.1:{port}", "128"])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("smtp-sink did not start") from None
                time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _items(n: int = 10) -> list[ItemInfo]:
    words = ["graph", "neural", "networks", "attention", "transformers", "diffusion", "retrieval", "agents"]
    return [ItemInfo(PaperInfo(f"2511.{i:05d}", f"Paper {i}: {' '.join(words[i % 5:i % 5 + 4])}",
                               " ".join(words * 8), ("Ada Lovelace", "Alan Turing", "Grace Hopper"),
                               f"https://arxiv.org/abs/2511.{i:05d}"), 1.0 - i / 20,
                     "similar to ‘Graph attention networks’") for i in range(n)]


_CHILD: dict[str, object] = {}


def _compose(i: int, settings: object = None, codec: TokenCodec | None = None) -> Outgoing:
    settings = settings or _CHILD["settings"]
    codec = codec or _CHILD["codec"]  # type: ignore[assignment]
    reader = ReaderInfo(i + 1, f"reader{i}@example.org", f"Reader {i}")
    view = build_view(reader, i + 1, "2026-11-25", _ITEMS, settings, codec)  # type: ignore[arg-type]
    mail = compose_message(view, reader, settings=settings, now=_NOW,  # type: ignore[arg-type]
                           message_id=message_id_for(i + 1, i + 1, "2026-11-25", settings))  # type: ignore[arg-type]
    return Outgoing(i + 1, "digest@localhost", mail.recipient, mail.data, f"d{i}",
                    eight_bit=mail.eight_bit)


def _child_setup(home: str) -> None:
    _CHILD["settings"] = load_settings(env={"PAPERDIGEST_HOME": home})
    _CHILD["codec"] = TokenCodec(["benchmark-key"])


def _backend(port: int) -> SmtpBackend:
    backend = SmtpBackend(SmtpConfig("127.0.0.1", port, False, False, None, None, 30.0))
    backend.open()
    return backend


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float | None:
    """CPU seconds used so far by another process (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _check(results: Sequence[DeliveryResult]) -> None:
    failed = [r for r in results if r.status != "sent"]
    if failed:
        raise RuntimeError(f"{len(failed)} deliveries failed, e.g. {failed[0]}")


def compose_alone(count: int, home: Path) -> float:
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home)})
    codec = TokenCodec(["benchmark-key"])
    started = time.perf_counter()
    for i in range(count):
        _compose(i, settings, codec)
    return count / (time.perf_counter() - started)


def smtp_alone(mails: Sequence[Outgoing], port: int) -> float:
    backend = _backend(port)
    started = time.perf_counter()
    results = [backend.deliver(mail) for mail in mails]
    rate = len(mails) / (time.perf_counter() - started)
    backend.close()
    _check(results)
    return rate


def joined_serial(count: int, port: int, home: Path) -> float:
    """Compose, send, compose, send... on one thread."""
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home)})
    codec = TokenCodec(["benchmark-key"])
    started = time.perf_counter()
    backend = _backend(port)
    results = [backend.deliver(_compose(i, settings, codec)) for i in range(count)]
    backend.close()
    _check(results)
    return count / (time.perf_counter() - started)


def joined_process(count: int, port: int, home: Path) -> float:
    """A forked child composes (its own GIL) while this process sends; the fork is timed too."""
    started = time.perf_counter()
    backend = _backend(port)
    context = multiprocessing.get_context("fork")
    with context.Pool(1, initializer=_child_setup, initargs=(str(home),)) as pool:
        results = [backend.deliver(mail) for mail in pool.imap(_compose, range(count), chunksize=8)]
    backend.close()
    _check(results)
    return count / (time.perf_counter() - started)


def bench_render_deliver(count: int, port: int, home: Path) -> float:
    """Compose on this thread while a ``DeliveryWorker`` thread sends, as digest.dispatch does."""
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home)})
    codec = TokenCodec(["benchmark-key"])
    started = time.perf_counter()
    backend = _backend(port)
    worker = DeliveryWorker(backend)
    for i in range(count):
        worker.submit(_compose(i, settings, codec), i)
    results = worker.close()
    backend.close()
    _check([r for _, r in results])
    return count / (time.perf_counter() - started)


@dataclass(frozen=True)
class _Rec:
    paper_id: str
    score: float
    reason: str


class _FixedRanker:
    """Every reader gets the first ``k`` candidates: isolates the digest path from ranking."""

    def rank(self, readers: Sequence[str], candidates: pd.DataFrame, k: int = 10,
             exclude: Mapping[str, set[str]] | None = None, threshold: float | None = None,
             diversity: float = 0.0) -> dict[str, list[_Rec]]:
        top = [_Rec(pid, 1.0 - i / 100, "popular in this batch")
               for i, pid in enumerate(candidates["id"][:k])]
        return {r: top for r in readers}


def bench_send_digests(readers: int, port: int, home: Path) -> float:
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_DELIVERY": "smtp",
                                  "PAPERDIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    store, _ = Store.initialise(settings)
    with store.transaction() as session:
        upsert_batch(session, NewBatch("bench", "bench", [
            NewPaper(title=i.paper.title, abstract=i.paper.abstract, authors=list(i.paper.authors),
                     url=i.paper.url) for i in _items(30)]))
        for i in range(readers):
            add_reader(session, ReaderFields(email=f"reader{i}@example.org", name=f"Reader {i}"))
    started = time.perf_counter()
    report = send_digests(store, settings, now=dt.datetime.now(dt.UTC), ranker=_FixedRanker())
    rate = readers / (time.perf_counter() - started)
    store.close()
    if report.sent != readers:
        raise RuntimeError(f"only {report.sent} of {readers} sent: {report.counts()}")
    return rate


_ITEMS = _items()
_NOW = dt.datetime.now(dt.UTC)


def _sample_message() -> bytes:
    settings = load_settings(env={"PAPERDIGEST_HOME": tempfile.gettempdir()})
    reader = ReaderInfo(1, "reader@example.org", "Reader")
    view = build_view(reader, 1, "2026-11-25", _items(), settings, TokenCodec(["k"]))
    return compose_message(view, reader, settings=settings, now=dt.datetime.now(dt.UTC),
                           message_id="<1@x>").data


def _median(fn: Callable[[], float], repeat: int) -> float:
    return round(statistics.median(fn() for _ in range(repeat)), 1)


def bench_target(name: str, port: int, pid: int, args: argparse.Namespace, peak: dict[str, float]
                 ) -> dict[str, object]:
    """Every measurement against one running server (``pid``: the server's process)."""
    def fresh(fn: Callable[[Path], float]) -> Callable[[], float]:
        def run() -> float:
            with tempfile.TemporaryDirectory() as tmp:
                return fn(Path(tmp))
        return run

    render = _median(fresh(lambda home: bench_render_deliver(args.digests, port, home)), args.repeat)
    peak.setdefault("after_first_render_deliver", _peak_mib())
    full = _median(fresh(lambda home: bench_send_digests(args.readers, port, home)), args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        settings, codec = load_settings(env={"PAPERDIGEST_HOME": tmp}), TokenCodec(["benchmark-key"])
        mails = [_compose(i, settings, codec) for i in range(args.parts)]
    client_cpu, server_cpu = _cpu_self(), _cpu_of(pid)
    smtp = _median(lambda: smtp_alone(mails, port), args.repeat)
    per_message = 1000 / (args.repeat * len(mails))  # CPU seconds -> ms per message
    cpu = {"smtp_client": round((_cpu_self() - client_cpu) * per_message, 3)}
    if server_cpu is not None and (server_now := _cpu_of(pid)) is not None:
        cpu["server"] = round((server_now - server_cpu) * per_message, 3)
    serial = _median(fresh(lambda home: joined_serial(args.parts, port, home)), args.repeat)
    thread = _median(fresh(lambda home: bench_render_deliver(args.parts, port, home)), args.repeat)
    process = _median(fresh(lambda home: joined_process(args.parts, port, home)), args.repeat)
    return {
        "server": name,
        "render_deliver_per_s_median": render,
        "send_digests_per_s_median": full,
        "smtp_only_per_s_median": smtp,
        "cpu_ms_per_message_smtp_only": cpu,
        f"joined_{args.parts}_per_s_median": {"serial": serial, "worker_thread": thread,
                                              "compose_process": process},
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digests", type=int, default=10_000)
    parser.add_argument("--readers", type=int, default=2_000)
    parser.add_argument("--parts", type=int, default=2_000, help="digests for the halves and joins")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    servers: list[tuple[str, Callable[[], AbstractContextManager[tuple[int, int]]]]] = [
        ("aiosmtpd", aiosmtpd_server)]
    notes = []
    if os.access(SMTP_SINK, os.X_OK):
        servers.append(("smtp-sink", smtp_sink_server))
    else:
        notes.append(f"{SMTP_SINK} not found (Debian package postfix): smtp-sink target skipped")
    peak: dict[str, float] = {}
    targets = []
    for name, start in servers:
        with start() as (port, pid):
            targets.append(bench_target(name, port, pid, args, peak))
    with tempfile.TemporaryDirectory() as tmp:
        started_cpu = _cpu_self()
        compose = _median(lambda: compose_alone(args.parts, Path(tmp)), args.repeat)
        compose_cpu = round((_cpu_self() - started_cpu) * 1000 / (args.repeat * args.parts), 3)
    print(json.dumps({
        "digests": args.digests, "readers": args.readers, "parts": args.parts, "repeat": args.repeat,
        "cpus": os.cpu_count(), "python": sys.version.split()[0],
        "compose_only_per_s_median": compose,
        "compose_cpu_ms_per_message": compose_cpu,
        "targets": targets,
        "message_bytes": len(_sample_message()),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mib": {"render_deliver": peak.get("after_first_render_deliver"), "whole_run": _peak_mib()},
        "notes": notes,
    }, indent=2))


if __name__ == "__main__":
    main()
