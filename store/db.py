"""Engine, sessions and schema migrations.

``make_engine(settings)`` is the only place an engine is built: SQLite gets WAL, a busy timeout and
foreign keys on every connection; PostgreSQL works through the URL as given. ``upgrade(engine)`` runs the
Alembic migrations shipped inside the package (so a wheel install can migrate without a checkout).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from paperdigest.core.errors import ConfigError, StoreNotInitialized
from paperdigest.core.files import create_private_file, make_private_dir
from paperdigest.core.settings import Settings
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "READ_ONLY",
    "SQLITE_BUSY_TIMEOUT_MS",
    "check_schema",
    "current_revision",
    "database_error_message",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "read_scope",
    "session_scope",
    "upgrade",
]

SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Python's sqlite3 opens implicit transactions lazily; take control so BEGIN is explicit.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class _WriteGate:
    """Queue this process's SQLite transactions on a lock instead of on SQLite's busy handler.

    SQLite's busy handler sleeps 1, 2, 5 … 100 ms between tries, so under load a waiting writer
    keeps missing the moment the lock is free: with 50 concurrent feedback POSTs, p99 was over a
    second. Here the threads of one process wait on a lock that wakes the next one at once, and
    one thread per process polls an ``flock`` on ``<database>.lock`` every half millisecond.
    Waits are bounded by the busy timeout; past it the transaction goes ahead and SQLite's own
    timeout decides, as before. Re-entrant per thread (a transaction opened inside another one).
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._lock = threading.RLock()
        self._local = threading.local()
        self._fd: int | None = None

    def enter(self) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
            self._local.held = self._lock.acquire(timeout=timeout)
            self._local.flocked = self._local.held and self._flock(time.monotonic() + timeout)
        self._local.depth = depth + 1

    def leave(self) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            return
        self._local.depth = depth - 1
        if depth == 1:
            if self._local.flocked and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            if self._local.held:
                self._lock.release()

    def _flock(self, deadline: float) -> bool:
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.0005)
        except OSError:  # a read-only folder: fall back to SQLite's own locking
            return False


# Session option naming a read-only transaction (see read_scope): SQLite then begins DEFERRED.
READ_ONLY = "paperdigest_read_only"


def _sqlite_begin(gate: _WriteGate | None) -> Any:
    def on_begin(conn: Any) -> None:
        # Readers: DEFERRED never takes the write lock, so a page view or `status` does not wait
        # behind a digest run (WAL lets them read the last committed state meanwhile); they skip
        # the write gate too (its leave() on their rollback is a no-op).
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        # Writers: IMMEDIATE takes the write lock up front, so two writers queue instead of failing
        # with "database is locked" when a read transaction tries to upgrade.
        if gate is not None:
            gate.enter()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if gate is not None:
                gate.leave()
            raise

    return on_begin


def database_error_message(exc: BaseException) -> str | None:
    """The one-line message for a database driver failure (server down, locked file), else None.

    The CLI calls this so that only ``store`` needs to know SQLAlchemy's exception types.
    """
    if isinstance(exc, OperationalError):
        return f"database error: {exc.orig}"
    return None


def make_engine(settings: Settings | str, **kwargs: Any) -> Engine:
    """Build the engine for ``settings.database_url`` (or a URL string).

    SQLite files get their parent folder created. Raises :class:`ConfigError` for a malformed URL or
    a missing database driver.
    """
    url_text = settings if isinstance(settings, str) else settings.database_url
    try:
        url = make_url(url_text)
    except ArgumentError:
        raise ConfigError(f"PAPERDIGEST_DATABASE_URL is not a valid database URL: {url_text!r}") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    try:
        if url.get_backend_name() == "sqlite":
            file_db = bool(url.database) and url.database != ":memory:" \
                and not str(url.database).startswith("file:")
            path = Path(url.database or "").expanduser()
            if file_db:
                # Created here, 0600, before SQLite creates it with the umask's 0644; the -wal and
                # -shm files copy the database file's mode.
                make_private_dir(path.parent)
                create_private_file(path)
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                   **kwargs)
            event.listen(engine, "connect", _sqlite_on_connect)
            gate = _WriteGate(path) if file_db else None
            event.listen(engine, "begin", _sqlite_begin(gate))
            if gate is not None:
                event.listen(engine, "commit", lambda _conn: gate.leave())
                event.listen(engine, "rollback", lambda _conn: gate.leave())
        else:
            kwargs.setdefault("pool_pre_ping", True)
            engine = create_engine(url, **kwargs)
    except (ImportError, ArgumentError) as exc:
        raise ConfigError(f"PAPERDIGEST_DATABASE_URL: cannot use {url.drivername}: {exc}") from None
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


@contextlib.contextmanager
def read_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One read-only transaction: no write lock on SQLite, ``READ ONLY`` on PostgreSQL; always rolled
    back, so a write inside it never commits (PostgreSQL refuses it outright)."""
    with factory() as session:
        conn = session.connection(execution_options={READ_ONLY: True})
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        try:
            yield session
        finally:
            # close, not rollback: the connection's transaction ends unwritten, and the rows read stay
            # usable (rollback would expire them, as a committed writer's expire_on_commit=False does not).
            session.close()


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    script_dir = resources.files("paperdigest.store") / "migrations"
    cfg.set_main_option("script_location", str(script_dir))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Run migrations up to ``revision``; returns the resulting revision id."""
    from alembic import command

    cfg = _alembic_config(engine)
    try:
        command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database: {exc.orig}") from None
    return current_revision(engine)


def head_revision() -> str | None:
    """The head revision as Alembic sees it (``quick.head_revision`` reads it without Alembic)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine as _ce

    return ScriptDirectory.from_config(_alembic_config(_ce("sqlite://"))).get_current_head()


def current_revision(engine: Engine) -> str | None:
    # Alembic's own table, read with one SELECT: importing Alembic's migration context would cost
    # every command a tenth of a second.
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database: {exc.orig}") from None


def check_schema(engine: Engine) -> None:
    """Raise :class:`StoreNotInitialized` unless the database is migrated to the head revision."""
    try:
        has_table = inspect(engine).has_table("alembic_version")
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database: {exc.orig}") from None
    if not has_table:
        raise StoreNotInitialized("the database has no paperdigest schema: run 'paperdigest init'")
    from paperdigest.store.quick import head_revision as quick_head

    current, head = current_revision(engine), quick_head()
    if current != head:
        raise StoreNotInitialized(
            f"the database schema is at {current}, the code expects {head}: run 'paperdigest db upgrade'"
        )
