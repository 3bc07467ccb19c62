"""``paperdigest worker``: processes that consume digest chunks from the queue.

Each process opens the store, loads the saved model from the shared model folder (again when the
file changes), and runs one Dramatiq consumer thread: a chunk ranks a few hundred readers together,
which keeps one core busy, so more throughput means more processes (``--processes``), here or on
other machines. Messages are acknowledged after the chunk is done; a worker killed mid-chunk leaves
its message unacknowledged and the broker hands it to another worker, whose ``send_digests`` takes
over the dead worker's claims (see :mod:`digest.dispatch`).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from types import FrameType
from typing import Any

from paperdigest.core import Settings

__all__ = ["run_workers", "serve"]

log = logging.getLogger("paperdigest.workers")


def serve(settings: Settings, *, poll_seconds: float = 0.2) -> int:
    """One worker process until SIGTERM/SIGINT; the chunk in progress is finished first."""
    import dramatiq
    from paperdigest.store import Store
    from paperdigest.workers.broker import check_broker, declare_actor, make_broker
    from paperdigest.workers.tasks import ModelCache, run_chunk

    broker = make_broker(settings)
    check_broker(broker, settings)
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)  # no locks in a handler (see scheduler.runner)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    with Store.open(settings) as store:
        models = ModelCache(store, settings)

        def deliver_chunk(payload: dict[str, Any]) -> None:
            started = time.perf_counter()
            counts = run_chunk(store, settings, payload, models.get())
            shown = " ".join(f"{k}={v}" for k, v in counts.items() if v)
            log.info("chunk of %d readers done in %.2fs %s", len(payload.get("readers", ())),
                     time.perf_counter() - started, shown)

        declare_actor(broker, settings, deliver_chunk)
        worker = dramatiq.Worker(broker, queues={settings.queue_name}, worker_threads=1)
        worker.start()
        log.info("worker started on queue %s", settings.queue_name)
        try:
            while not received:
                time.sleep(poll_seconds)
            log.info("received %s: stopping after the chunk in progress", signal.Signals(received[0]).name)
        finally:
            worker.stop(timeout=600_000)
            broker.close()
    log.info("worker stopped")
    return 0


def _child(settings: Settings, log_format: str, debug: bool) -> None:
    from paperdigest.scheduler.logs import configure_logging

    configure_logging(log_format, debug=debug)
    serve(settings)


def run_workers(settings: Settings, processes: int = 1, *, log_format: str = "text",
                debug: bool = False) -> int:
    """Run ``processes`` worker processes until SIGTERM/SIGINT; returns the exit code.

    The broker is checked first, so an unreachable one is one error line, not N tracebacks.
    """
    from paperdigest.workers.broker import check_broker, make_broker

    probe = make_broker(settings)
    check_broker(probe, settings)
    probe.close()
    if processes == 1:
        return serve(settings)
    ctx = multiprocessing.get_context("spawn")  # no inherited connections or threads
    children = [ctx.Process(target=_child, args=(settings, log_format, debug), name=f"worker-{i}")
                for i in range(processes)]
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for child in children:
            child.start()
        while not received and any(c.is_alive() for c in children):
            time.sleep(0.2)
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: the child finishes its chunk, then exits
        for child in children:
            child.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return max((c.exitcode or 0 for c in children), default=0)
