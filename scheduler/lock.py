"""One scheduler per database: a PostgreSQL advisory lock, or an exclusive lock file for SQLite.

Both locks belong to the process: they vanish when it dies (even by SIGKILL), so a crash never leaves
a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from paperdigest.core.errors import PaperdigestError
from paperdigest.store import Store
from paperdigest.store.jobs import advisory_lock, advisory_unlock

__all__ = ["LOCK_KEY", "AlreadyRunning", "SchedulerLock"]

# Arbitrary but fixed 64-bit key for pg_try_advisory_lock ("pprdgst" in hex-ish).
LOCK_KEY = 0x7061706572646967


class AlreadyRunning(PaperdigestError):
    """Another ``paperdigest run`` holds the lock for this database."""

    exit_code = 3


class SchedulerLock:
    """Context manager taking the scheduler lock for ``store``'s database without waiting.

    Raises :class:`AlreadyRunning` when another process holds it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._fd: int | None = None
        self._conn: Any = None

    @property
    def path(self) -> Path:
        return self.store.settings.home / "scheduler.lock"

    def acquire(self) -> None:
        if self.store.settings.is_sqlite:
            self._acquire_file()
        else:
            self._acquire_pg()

    def _acquire_file(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(
                f"another scheduler (pid {holder}) is running on this database (lock {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def _acquire_pg(self) -> None:
        # A dedicated connection, held for the process lifetime: the lock lives with the session.
        conn = advisory_lock(self.store.engine, LOCK_KEY)
        if conn is None:
            raise AlreadyRunning("another scheduler is running on this database (PostgreSQL advisory lock)")
        self._conn = conn

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            advisory_unlock(conn, LOCK_KEY)

    def __enter__(self) -> SchedulerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
