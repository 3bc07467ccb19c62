"""CLI start-up: wall and CPU time of `paperdigest --help` and `users list` (goal ≤ 0.5 s each).

Run: ``python benchmarks/bench_cli_startup.py [--runs 9]``. Each command runs as a fresh process (as
an operator types it) against an initialised home with 10 readers; prints the median wall time and the
median user+system CPU time. CPU time is shown because it barely moves when other jobs share the
cores, while wall time does; the load average at the start is printed with the results.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {"--help": ["--help"], "users list": ["users", "list"]}


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "paperdigest", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")}
        env["PAPERDIGEST_HOME"] = str(Path(folder) / "home")
        subprocess.run([sys.executable, "-m", "paperdigest", "init"], env=env, check=True,
                       capture_output=True)
        for i in range(10):
            subprocess.run([sys.executable, "-m", "paperdigest", "users", "add", f"r{i}@example.org"],
                           env=env, check=True, capture_output=True)
        print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
        for name, argv in COMMANDS.items():
            _run(argv, env)  # warm the file cache once
            times = [_run(argv, env) for _ in range(args.runs)]
            wall = statistics.median(t[0] for t in times)
            cpu = statistics.median(t[1] for t in times)
            print(f"paperdigest {name:<11} wall {wall:.3f} s   cpu {cpu:.3f} s   (median of {args.runs})")


if __name__ == "__main__":
    main()
