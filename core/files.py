"""Atomic file writes: the one helper every package uses to write a file a reader may see half-done.

A write goes to a uniquely named temporary file in the same folder, is flushed to disk, then renamed
over the target, so a reader sees the old file or the new one, never a mix, and two writers never share
a temporary name. Several files that must change together belong in one file (or one folder renamed
at once): two renames are two moments.

The data folder holds reader addresses, feedback and never-expiring unsubscribe links, so what this
module creates is private whatever the umask: folders 0700 (:func:`make_private_dir`), files 0600
(:data:`PRIVATE_FILE`, also :func:`tempfile.mkstemp`'s default that :func:`atomic_writer` keeps).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "atomic_write",
    "atomic_writer",
    "create_private_file",
    "make_private_dir",
    "wider_than_private",
]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dir(path: Path | str) -> Path:
    """Create ``path`` (and missing parents) with mode 0700 whatever the umask; returns it.

    A folder that already exists keeps its mode: the operator may have widened it on purpose, and
    :func:`wider_than_private` lets the caller warn about it.
    """
    folder = Path(path)
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it in between
            created.mkdir(mode=PRIVATE_DIR)
            os.chmod(created, PRIVATE_DIR)  # mkdir's mode is filtered through the umask
    return folder


def create_private_file(path: Path | str) -> bool:
    """Create an empty file with mode 0600 unless it exists; True when it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    os.fchmod(fd, PRIVATE_FILE)
    os.close(fd)
    return True


def wider_than_private(path: Path | str) -> int | None:
    """The mode of ``path`` when group or others may use it (e.g. ``0o755``), else None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & 0o077 else None


@contextlib.contextmanager
def atomic_writer(path: Path | str, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` when the block ends without an error.

    ``mode`` sets the permission bits (e.g. ``0o600``) before the file becomes visible; ``None`` keeps
    :func:`tempfile.mkstemp`'s private 0600. On an error the temporary file is removed and the old
    ``path`` (if any) is left untouched.
    """
    target = Path(path)
    make_private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def atomic_write(path: Path | str, data: bytes | str, *, mode: int | None = None) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; see :func:`atomic_writer`."""
    with atomic_writer(path, mode=mode) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the folder's entry is on disk (POSIX).
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
