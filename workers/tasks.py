"""One chunk of digests, as a worker runs it: the same ``send_digests`` call as the in-process tick.

Idempotent by construction: every digest is claimed with a conditional UPDATE before it is sent, so
a chunk redelivered after a worker died (at-least-once queues do that) sends only what was not sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

from paperdigest.core import Settings
from paperdigest.core.errors import InvalidInput
from paperdigest.store import Store

__all__ = ["ChunkBusy", "ModelCache", "run_chunk"]

log = logging.getLogger("paperdigest.workers")


class ChunkBusy(Exception):
    """Some digests of the chunk are claimed by a process that still looks alive: retry later.

    A worker killed mid-chunk can still exist (as a zombie) when the broker redelivers its chunk; acking
    the chunk then would strand those digests. Raising makes Dramatiq retry with backoff, by which time
    the owner is gone and its claims are taken over.
    """


def _held_elsewhere(detail: str) -> bool:
    return detail.endswith((" is claimed", " is sending")) or detail.startswith("another run")


def run_chunk(store: Store, settings: Settings, payload: dict[str, Any], ranker: Any) -> dict[str, int]:
    """Send the digests of one chunk message; returns the report's counts."""
    from paperdigest.digest import send_digests

    try:
        now = dt.datetime.fromisoformat(str(payload["now"]))
        periods = {int(rid): str(period) for rid, period in payload["readers"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed chunk message: {exc}") from None
    if now.tzinfo is None:
        raise InvalidInput("malformed chunk message: 'now' has no UTC offset")

    def period_for(reader: Any, _now: dt.datetime) -> str:
        return periods[reader.id]

    report = send_digests(store, settings, now=now, readers=list(periods), period_for=period_for,
                          ranker=ranker)
    held = [o.reader_id for o in report.outcomes if o.status == "skipped" and _held_elsewhere(o.detail)]
    if held:
        raise ChunkBusy(f"{len(held)} digest(s) of this chunk are claimed by another process; retrying")
    return report.counts()


class ModelCache:
    """The saved model, loaded once per worker process and again when the file changes.

    Feedback is folded in on load; ``max_age`` bounds how stale the folded-in feedback may get.
    """

    def __init__(self, store: Store, settings: Settings, max_age: float = 300.0) -> None:
        self.store, self.settings, self.max_age = store, settings, max_age
        self._model: Any = None
        self._key: tuple[int, int] | None = None
        self._loaded = 0.0

    def _file_key(self) -> tuple[int, int] | None:
        try:
            stat = max(Path(self.settings.model_dir).glob("*"), key=lambda p: p.stat().st_mtime_ns).stat()
        except (ValueError, OSError):
            return None
        return stat.st_mtime_ns, stat.st_size

    def get(self) -> Any:
        key = self._file_key()
        if self._model is None or key != self._key or time.monotonic() - self._loaded > self.max_age:
            from paperdigest.ranking import load_model

            started = time.perf_counter()
            self._model = load_model(self.store, self.settings)
            self._key, self._loaded = self._file_key(), time.monotonic()
            log.info("model loaded in %.2fs", time.perf_counter() - started)
        return self._model
