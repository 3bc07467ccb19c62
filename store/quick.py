"""Read-only listings without SQLAlchemy, for CLI commands that should answer at once.

Importing SQLAlchemy and Alembic costs more than the rest of the CLI's start-up together (most of a
second on a slow core), which is too much for ``paperdigest users list``. On the embedded default (a
SQLite file) these functions read with the standard library's ``sqlite3``, opened read-only, and
return the same values the ORM would. They only take the happy path: anything unusual (another
database, a missing file, a schema that is not at the head revision, any SQLite error) makes them
return ``None`` and the caller goes through :class:`~paperdigest.store.Store`, which gives the one
canonical error for it. ``tests/test_store_quick.py`` checks every column against the ORM.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from paperdigest.core.settings import Settings

__all__ = ["head_revision", "list_reader_rows", "sqlite_file"]

_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*['\"]?([^'\"\s]+)['\"]?", re.M)


def head_revision() -> str | None:
    """The newest migration's revision id, read from the migration files (no Alembic import).

    The head is the one revision no other names as its ``down_revision``; ``db.head_revision`` asks
    Alembic the same question, and a test checks the two agree.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    folder = resources.files("paperdigest.store") / "migrations" / "versions"
    for entry in folder.iterdir():
        if not entry.name.endswith(".py"):
            continue
        found = dict((key, value) for key, value in _REVISION.findall(entry.read_text("utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
        if found.get("down_revision") not in (None, "None"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def sqlite_file(settings: Settings) -> Path | None:
    """The database file of a plain ``sqlite:///path`` URL, or None for anything else."""
    url = settings.database_url
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url[len(prefix):]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).expanduser()


def _when(text: str | None) -> dt.datetime | None:
    # As models.UTCDateTime reads it: aware UTC, whatever SQLite kept of the offset.
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _day(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# How SQLAlchemy's column types come back from SQLite; every other column is stored as it is read.
_READER_TYPES: dict[str, Callable[[Any], Any]] = {
    "keywords": _json, "created_at": _when, "updated_at": _when, "unsubscribed_at": _when,
    "paused_until": _day, "web_notice": _flag,
}


def _connect(settings: Settings) -> sqlite3.Connection | None:
    path = sqlite_file(settings)
    if path is None or not path.is_file():
        return None
    from paperdigest.store import _warn_if_wide

    _warn_if_wide(settings.home)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=15)
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    if version is None or version[0] != head_revision():
        conn.close()
        return None
    return conn


def list_reader_rows(settings: Settings, status: str | None = None) -> list[SimpleNamespace] | None:
    """The readers (optionally of one status) ordered by id, each with the ORM's attribute names
    and value types; None when this database needs the full store (the caller then uses
    ``store.readers.list_readers``)."""
    conn = _connect(settings)
    if conn is None:
        return None
    try:
        sql = "SELECT * FROM readers" + (" WHERE status = ?" if status else "") + " ORDER BY id"
        cursor = conn.execute(sql, (status,) if status else ())
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    convert = [_READER_TYPES.get(name) for name in names]
    return [
        SimpleNamespace(**{name: (fn(value) if fn else value)
                           for name, fn, value in zip(names, convert, row, strict=True)})
        for row in rows
    ]
