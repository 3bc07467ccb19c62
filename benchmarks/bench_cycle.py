"""Benchmark: the whole scheduled cycle — a batch polled, the model folded in, the tick, every digest
delivered to a local SMTP server — in-process or through queue workers, on SQLite or PostgreSQL.

Setup (not timed): ``--readers`` each_batch readers, ``--likes`` likes over a ``--history``-paper past
batch, a TF-IDF model fitted. Timed: a ``--batch``-paper JSON file dropped in the watched folder is
polled and ingested, then one tick runs (in-process: ``send_digests`` for every due reader; queue:
chunks enqueued and ``--workers`` ``paperdigest worker`` processes deliver them) until every digest
is settled. The baseline — the batched ``digest send`` path — runs on a copy of the database taken
right after the poll, so both see the same data. Peak memory: max RSS of this process and of each
worker process (``VmHWM``).

    python benchmarks/bench_cycle.py --readers 10000 --likes 1000000 [--db sqlite|postgresql]
        [--workers 0|1|2] [--queue-url redis://127.0.0.1:6379/0] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_digest import aiosmtpd_server
from paperdigest.core import load_settings
from paperdigest.digest import send_digests
from paperdigest.scheduler.clock import system_clock
from paperdigest.scheduler.service import SchedulerService
from paperdigest.store import Store
from paperdigest.store.models import Digest, Interaction, Paper, Reader
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.store.readers import ReaderFields
from sqlalchemy import text

TOPICS = ["graph neural networks", "image segmentation", "language models", "robot learning",
          "reinforcement learning", "speech recognition", "protein folding", "recommender systems"]
PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"


def _paper(i: int, tag: str) -> dict[str, object]:
    topic = TOPICS[i % len(TOPICS)]
    return {"title": f"{tag} {i}: advances in {topic}",
            "abstract": f"We study {topic} with method {i % 97} and evaluate on benchmark {i % 13}.",
            "authors": [f"Author {i % 311}"]}


def _env(home: Path, db_url: str, port: int, queue_url: str | None, chunk: int = 200) -> dict[str, str]:
    env = {"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_DATABASE_URL": db_url, "PAPERDIGEST_DELIVERY": "smtp",
           "PAPERDIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=30", "PAPERDIGEST_SOURCES": "watch",
           "PAPERDIGEST_CONTENT_BACKEND": "tfidf", "PAPERDIGEST_DIGEST_SIZE": "10"}
    if queue_url:
        env.update({"PAPERDIGEST_QUEUE_URL": queue_url, "PAPERDIGEST_QUEUE_CHUNK": str(chunk),
                    "PAPERDIGEST_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}"})
    return env


CACHE = Path(tempfile.gettempdir()) / "paperdigest-bench-cycle"


def _cache_key(db: str, readers: int, likes: int, history: int) -> str:
    # The set-up depends on these and on the code that writes and fits it: a digest of that code.
    import hashlib
    import inspect

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256((inspect.getsource(setup) + inspect.getsource(_paper)).encode())
    for folder in ("recommender", "ranking", "store"):
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(path.read_bytes())
    return f"{db}-{readers}r-{likes}l-{history}h-{digest.hexdigest()[:10]}"


def setup(env: dict[str, str], readers: int, likes: int, history: int) -> None:
    """Readers, likes and a history batch written in bulk, then a full refit (not timed)."""
    settings = load_settings(env=env)
    store, _ = Store.initialise(settings)
    now = dt.datetime.now(dt.UTC)
    past = now - dt.timedelta(days=3)
    rng = random.Random(7)
    with store.transaction() as session:
        old = [NewPaper(**_paper(i, "h")) for i in range(history)]  # type: ignore[arg-type]
        # A month old: outside every reader's first candidate window (7 days), so only the new
        # batch is ranked, as on a live day.
        upsert_batch(session, NewBatch("history", "history", old), now=now - dt.timedelta(days=30))
        query = Paper.__table__.select().with_only_columns(Paper.id, Paper.title)
        titles = dict(session.execute(query).all())
    for start in range(0, readers, 20_000):  # the same checked fields `users add` stores, in bulk
        with store.transaction() as session:
            session.add_all([
                Reader(**ReaderFields(email=f"reader{i}@example.org", cadence="each_batch",
                                      keywords=[TOPICS[i % len(TOPICS)]]).validated(),
                       created_at=past, updated_at=past)
                for i in range(start, min(readers, start + 20_000))])
    # Likes: each reader prefers papers of their own topic (so the model has something to learn).
    per_reader = max(1, likes // readers)
    paper_ids = sorted(titles)
    by_topic = {t: [p for p in paper_ids if titles[p].endswith(t)] for t in TOPICS}
    rows, done = [], 0
    for i in range(readers):
        pool = by_topic[TOPICS[i % len(TOPICS)]] if rng.random() < 0.8 else paper_ids
        for paper in rng.sample(pool, min(per_reader, len(pool))):
            rows.append({"reader_id": i + 1, "paper_id": paper, "kind": "like", "current": True,
                         "source": "import", "created_at": past})
        if len(rows) >= 50_000 or i == readers - 1:
            with store.transaction() as session:
                session.execute(Interaction.__table__.insert(), rows)
            done += len(rows)
            rows = []
    if store.engine.dialect.name == "postgresql":
        # A live database has been analysed by autovacuum long since; right after a bulk load the
        # planner has no statistics yet and a run copied from it would time bad plans.
        with store.transaction() as session:
            session.execute(text("ANALYZE"))
    from paperdigest.ranking import refit_model

    started = time.perf_counter()
    refit_model(store, settings)
    print(f"setup: {readers} readers, {done} likes, {history} papers; "
          f"refit {time.perf_counter() - started:.1f}s", file=sys.stderr)
    store.close()


def prepared(env: dict[str, str], db_url: str, pg_name: str | None, args: argparse.Namespace) -> None:
    """Set up into ``PAPERDIGEST_HOME`` (and ``pg_name``), from the cache when this set-up was built
    before with the same code; otherwise build it in a child process and keep a copy."""
    home = Path(env["PAPERDIGEST_HOME"])
    key = _cache_key(args.db, args.readers, args.likes, args.history)
    cached, template = CACHE / key, f"bench_cycle_tpl_{key.replace('-', '_')}"
    if not (cached / "done").exists() or args.fresh:
        shutil.rmtree(cached, ignore_errors=True)
        child = [sys.executable, __file__, "--setup-only", "--readers", str(args.readers), "--likes",
                 str(args.likes), "--history", str(args.history)]
        full = os.environ | env
        subprocess.run(child, env=full, check=True)
        shutil.copytree(home, cached / "home")
        if pg_name:
            import psycopg

            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{template}" TEMPLATE "{pg_name}"')
        (cached / "done").write_text(key)
        return
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(cached / "home", home)
    if pg_name:
        import psycopg

        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{pg_name}" TEMPLATE "{template}"')
    print(f"setup: reused {cached}", file=sys.stderr)


def _copy_db(db_url: str) -> str:
    """A copy of the database as it is now; returns its URL."""
    if db_url.startswith("sqlite"):
        src = db_url.split("///", 1)[1]
        dst = src.replace(".sqlite3", "-baseline.sqlite3")
        with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
            a.backup(b)
        return f"sqlite:///{dst}"
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}_base" TEMPLATE "{name}"')
    return f"{db_url}_base"


def _settled(store: Store) -> tuple[int, int]:
    from sqlalchemy import func, select

    with store.read() as session:
        total = session.scalar(select(func.count()).select_from(Digest).where(Digest.period != "seed"))
        done = session.scalar(select(func.count()).select_from(Digest).where(
            Digest.status.in_(("sent", "failed", "unknown", "empty"))))
    return int(total or 0), int(done or 0)


def _hwm_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class FeedbackProbe:
    """POSTs feedback links to a `paperdigest serve` subprocess at `rate`/s on a thread; latencies in ms."""

    def __init__(self, env: dict[str, str], settings: object, readers: int, rate: float) -> None:
        import threading

        from paperdigest.digest.tokens import TokenCodec
        from paperdigest.store.models import Paper

        self.port = _free_port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")} | env
        cmd = [sys.executable, "-m", "paperdigest", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        store = Store.open(settings)  # type: ignore[arg-type]
        with store.read() as session:
            papers = [p for (p,) in session.execute(Paper.__table__.select().with_only_columns(Paper.id)
                                                    .limit(200))]
        codec = TokenCodec(store.secret_keys(), 180)
        store.close()
        rng = random.Random(3)
        self.tokens = [codec.feedback(rng.randrange(1, readers + 1), rng.choice(papers),
                                      rng.choice(("like", "dislike")), None) for _ in range(5000)]
        self.rate, self.latencies, self.errors = rate, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        self._thread.start()

    def _run(self) -> None:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30) as client:
            for token in self.tokens:
                if self._stop.is_set():
                    return
                t = time.perf_counter()
                response = client.post(f"/f/{token}")
                self.latencies.append((time.perf_counter() - t) * 1000)
                self.errors += response.status_code != 200
                time.sleep(max(0.0, 1 / self.rate - (time.perf_counter() - t)))

    def stop(self) -> dict[str, object]:
        self._stop.set()
        self._thread.join(60)
        self.proc.terminate()
        self.proc.wait(30)
        lat = sorted(self.latencies)
        pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)) if lat else (lambda q: None)
        return {"posts": len(lat), "errors": self.errors, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                "max_ms": round(lat[-1], 1) if lat else None}


def _reset_peak() -> None:
    """Start a new peak-memory measurement of this process (Linux: VmHWM back to the current RSS)."""
    Path("/proc/self/clear_refs").write_text("5")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cycle(env: dict[str, str], db_url: str, readers: int, batch: int, workers: int,
          feedback_rate: float = 0.0, baseline: bool = True) -> dict[str, object]:
    from paperdigest.store.jobs import newest_batch

    settings = load_settings(env=env)
    store = Store.open(settings)
    # `run` is long-lived: libraries imported and code paths warm before a tick. A dry run for a few
    # readers (writes nothing) warms them for the baseline and the tick alike.
    send_digests(store, settings, now=dt.datetime.now(dt.UTC), readers=list(range(1, 21)), dry_run=True)
    settings.watch_dir.mkdir(parents=True, exist_ok=True)
    (settings.watch_dir / "new.json").write_text(json.dumps([_paper(i, "new") for i in range(batch)]))
    t0 = time.perf_counter()
    poll = SchedulerService(store, settings, clock=system_clock).poll()
    poll_s = time.perf_counter() - t0
    with store.read() as session:
        period = f"batch:{newest_batch(session, dt.datetime.now(dt.UTC))[0]}"
    store.close()
    # Baseline first, on a copy taken now: the batched `digest send` path, same readers, same period.
    base_sent, base_s, base_cpu, base_peak = 0, float("nan"), float("nan"), None
    if baseline:
        _reset_peak()
        base_settings = load_settings(env=env | {"PAPERDIGEST_DATABASE_URL": _copy_db(db_url)})
        base_store = Store.open(base_settings)
        b0, c0 = time.perf_counter(), time.process_time()
        base_sent = send_digests(base_store, base_settings, now=dt.datetime.now(dt.UTC),
                                 period_for=lambda _r, _n: period).sent
        base_s, base_cpu = time.perf_counter() - b0, time.process_time() - c0
        base_store.close()
        base_peak = round(_hwm_mib(os.getpid()))

    procs: list[subprocess.Popen] = []
    peaks: dict[int, float] = {}
    if workers:
        full = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")} | env
        procs = [subprocess.Popen([sys.executable, "-m", "paperdigest", "worker"], env=full,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
        time.sleep(8)  # process start-up, before the clock starts
    store = Store.open(settings)
    enqueue = None
    if workers:
        from paperdigest.admin.cmd_run import _enqueuer

        enqueue = _enqueuer(store, settings)
    service = SchedulerService(store, settings, clock=system_clock, enqueue=enqueue)
    probe = FeedbackProbe(env, settings, readers, feedback_rate) if feedback_rate else None
    if probe:
        probe.start()
    _reset_peak()  # the tick's own peak, not the baseline's or the set-up's
    t1, c1 = time.perf_counter(), time.process_time()
    tick = service.tick()
    while workers:
        total, done = _settled(store)
        for proc in procs:
            peaks[proc.pid] = max(peaks.get(proc.pid, 0.0), _hwm_mib(proc.pid))
        if total >= readers and done >= total:
            break
        time.sleep(0.5)
    tick_s, tick_cpu = time.perf_counter() - t1, time.process_time() - c1
    feedback = probe.stop() if probe else None
    for proc in procs:
        peaks[proc.pid] = max(peaks.get(proc.pid, 0.0), _hwm_mib(proc.pid))
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(120)
    _total, done = _settled(store)
    store.close()
    return {"readers": readers, "workers": workers, "poll": poll.get("papers", poll), "tick": tick,
            "settled": done, "wall_s": round(poll_s + tick_s, 1), "poll_s": round(poll_s, 1),
            "tick_s": round(tick_s, 1), "digests_per_s": round(done / tick_s, 1),
            "baseline_sent": base_sent,
            "baseline_s": round(base_s, 1), "baseline_digests_per_s": round(base_sent / base_s, 1),
            "ratio_tick_vs_batched": round((done / tick_s) / (base_sent / base_s), 2) if base_sent else None,
            # CPU seconds of this process: comparable on a machine shared with other jobs (in-process only).
            "tick_cpu_ms_per_digest": round(1000 * tick_cpu / max(done, 1), 2),
            "baseline_cpu_ms_per_digest": (round(1000 * base_cpu / base_sent, 2) if base_sent else None),
            "peak_mib_clock": round(_hwm_mib(os.getpid())), "peak_mib_baseline": base_peak,
            "peak_mib_workers": [round(v) for v in peaks.values()], "feedback_during_tick": feedback}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--likes", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=3_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=0, help="0: in-process tick")
    parser.add_argument("--queue-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--chunk", type=int, default=200, help="readers per queued chunk")
    parser.add_argument("--feedback-rate", type=float, default=0.0,
                        help="feedback POSTs per second to `paperdigest serve` during the tick (0: none)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the batched `digest send` run")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached set-up")
    parser.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.setup_only:  # the child of `prepared`: the environment says where
        setup(dict(os.environ), args.readers, args.likes, args.history)
        return
    home = Path(tempfile.mkdtemp(prefix="bench-cycle-"))
    pg_name = None
    if args.db == "postgresql":
        import psycopg

        pg_name = f"bench_cycle_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_name}"
    else:
        db_url = f"sqlite:///{home / 'paperdigest.sqlite3'}"
    try:
        with aiosmtpd_server() as (port, _pid):
            env = _env(home, db_url, port, args.queue_url if args.workers else None, args.chunk)
            prepared(env, db_url, pg_name, args)
            result = cycle(env, db_url, args.readers, args.batch, args.workers, args.feedback_rate,
                           not args.no_baseline)
        result.update(db=args.db, likes=args.likes, batch=args.batch)
        print(json.dumps(result, default=str, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, default=str, indent=2))
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if pg_name:
            import psycopg

            with psycopg.connect(PG, autocommit=True) as conn:
                for name in (pg_name, f"{pg_name}_base"):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
