"""Load on the feedback app: wrk POSTs feedback links at ``paperdigest serve --workers N`` on loopback.

For each worker count the app runs as the real command (uvicorn, SQLite in WAL mode in a temporary
home), and wrk (C; ``apt-get install wrk`` — a benchmark tool, not a test dependency) keeps
``--connections`` connections busy for ``--duration`` seconds with POSTs of distinct "More like this"
links. Reported: requests/s, p50/p99 latency, errors, and the server's CPU time per POST (all its
processes, from /proc), which says what the app costs whatever else the shared machine is doing.
Then the database is checked: when every link was POSTed and every answer was 200, every link must
be stored as a current like ("0 acknowledged POSTs lost"). Each wrk thread cycles through its own
share of the links, so a run of more requests than links POSTs each link at least once (repeats
are idempotent).

Bounded: ``--duration`` per run, wrk's own ``--timeout``, and the server is stopped after each run.
The machine is shared with other work: the load average at the start of each run is printed too.

    python benchmarks/bench_load.py [--workers 1 2 3] [--connections 50] [--duration 15]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from paperdigest.core import load_settings
from paperdigest.digest import TokenCodec
from paperdigest.store import Store
from paperdigest.store.models import Interaction
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.store.readers import ReaderFields, add_reader
from sqlalchemy import func, select

_LUA = """
local paths = {%s}
local counter = 0
local first, step = 1, 1
function setup(thread)
  thread:set("tid", tostring(#threads_seen))
  table.insert(threads_seen, thread)
end
threads_seen = {}
function init(args)
  first = tonumber(tid) + 1
  step = tonumber(args[1])
end
function request()
  local i = first + step * counter
  if i > #paths then counter = 0; i = first end
  counter = counter + 1
  return wrk.format("POST", paths[i])
end
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed(home: Path, readers: int, papers: int) -> tuple[dict[str, str], list[str]]:
    env = {"PAPERDIGEST_HOME": str(home)}
    store, _ = Store.initialise(load_settings(env=env))
    with store.transaction() as session:
        batch = NewBatch("bench", "bench", [NewPaper(f"Load paper {i}", f"Abstract {i}.")
                                            for i in range(papers)])
        paper_ids = upsert_batch(session, batch).paper_ids
        reader_ids = [add_reader(session, ReaderFields(email=f"r{i}@example.org")).id
                      for i in range(readers)]
    codec = TokenCodec(store.secret_keys())
    paths = [f"/f/{codec.feedback(r, p, 'like', None)}" for r in reader_ids for p in paper_ids]
    store.close()
    return env, paths


def _current_likes(env: dict[str, str]) -> int:
    with Store.open(load_settings(env=env)) as store, store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Interaction)
                                  .where(Interaction.current.is_(True))) or 0)


def _start(env: dict[str, str], workers: int, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "paperdigest", "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as sink:  # a file, not a pipe nobody reads: a full pipe would stall the server
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=sink,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("serve did not answer within 60 s")


def _group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of every live process in the process group (server and workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state; pgrp is the 5th field of stat
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(text: str) -> dict[str, float]:
    """Requests/s, p50/p99 (ms), total requests and errors from ``wrk --latency`` output."""
    out: dict[str, float] = {"errors": 0.0}
    out["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])  # type: ignore[index]
    out["requests"] = float(re.search(r"(\d+) requests in", text)[1])  # type: ignore[index]
    for name, pct in (("p50_ms", "50"), ("p99_ms", "99")):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        out[name] = _ms(match[1], match[2]) if match else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["errors"] = float(non2xx[1]) if non2xx else 0.0
    if sock:
        out["errors"] += sum(float(sock[i]) for i in range(1, 5))
    return out


def run(workers: int, args: argparse.Namespace, work: Path) -> dict[str, float]:
    home = work / f"home-{workers}"
    env, paths = _seed(home, args.readers, args.papers)
    script = work / f"post-{workers}.lua"
    script.write_text(_LUA % ",".join(json.dumps(p) for p in paths), encoding="utf-8")
    port = _free_port()
    proc = _start(env, workers, port, work / f"serve-{workers}.log")
    try:
        load = os.getloadavg()[0]
        cpu_before = _group_cpu_s(proc.pid)
        result = subprocess.run(
            ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
             "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}", "--", str(args.threads)],
            capture_output=True, text=True, timeout=args.duration + 60, check=True)
        server_cpu = _group_cpu_s(proc.pid) - cpu_before
    finally:
        _stop(proc)
    figures = parse_wrk(result.stdout)
    figures.update(workers=workers, load=load, links=len(paths), stored=_current_likes(env),
                   server_cpu_ms=1000 * server_cpu / max(figures["requests"], 1))
    every_link_sent = figures["requests"] >= len(paths)
    figures["lost"] = (len(paths) - figures["stored"]) if every_link_sent and not figures["errors"] \
        else float("nan")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--papers", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            row = run(workers, args, Path(tmp))
            rows.append(row)
            print(f"workers={workers}: {row['rps']:,.0f} POST/s, p50 {row['p50_ms']:.1f} ms,"
                  f" p99 {row['p99_ms']:.1f} ms, {row['requests']:,.0f} requests, {row['errors']:.0f}"
                  f" errors; {row['stored']:.0f}/{row['links']:.0f} links stored, lost {row['lost']}"
                  f"; server CPU {row['server_cpu_ms']:.2f} ms per POST"
                  f" (load average {row['load']:.1f} at start)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
