"""paperdigest's storage layer: the only package that talks SQL.

Public face: :class:`Store` (engine + sessions for one database); settings and typed errors live in
``paperdigest.core``. Query
functions live in the submodules (``store.papers``, ``store.readers``, ``store.feedback``,
``store.digests``, ``store.jobs``) and take a session.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from paperdigest.core.files import make_private_dir, wider_than_private
from paperdigest.core.secrets import create_secret_key, load_secret_keys
from paperdigest.core.settings import Settings

# SQLAlchemy is imported when a Store is built, not with the package: `store.quick` (the CLI's
# listings) lives in this package too and must not pay for it.
if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Store"]

log = logging.getLogger("paperdigest.store")
_warned: set[Path] = set()


def _warn_if_wide(home: Path) -> None:
    """Log once per process when the data folder lets group or others in (it holds reader data)."""
    mode = wider_than_private(home)
    if mode is None or home in _warned:
        return
    _warned.add(home)
    log.warning("data folder %s is mode %o: other local users can read reader addresses and feedback;"
                " run 'chmod 700 %s'", home, mode, home)


class Store:
    """One database: an engine, a session factory and the settings it was opened with."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        from paperdigest.store.db import make_engine, make_sessionmaker

        self.settings = settings
        self.engine = engine or make_engine(settings)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Open an initialised database; raises :class:`StoreNotInitialized` otherwise."""
        from paperdigest.store.db import check_schema

        _warn_if_wide(settings.home)
        store = cls(settings)
        try:
            check_schema(store.engine)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def initialise(cls, settings: Settings) -> tuple[Store, bool]:
        """Create folders (0700), migrate the schema to head and create the secret key.

        Returns the store and whether a new secret key was written. An existing data folder keeps
        its mode; a warning is logged when group or others may read it.
        """
        from paperdigest.store.db import upgrade

        make_private_dir(settings.home)
        _warn_if_wide(settings.home)
        for folder in (settings.outbox_dir, settings.archive_dir, settings.model_dir):
            make_private_dir(folder)
        store = cls(settings)
        upgrade(store.engine)
        created = create_secret_key(settings.secret_key_path)
        return store, created

    def secret_keys(self) -> list[str]:
        return load_secret_keys(self.settings.secret_key_path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        from paperdigest.store.db import session_scope

        with session_scope(self.sessions) as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session in one read-only transaction (never takes SQLite's write lock); for pages,
        reports and the model's reads. A write inside it is never committed."""
        from paperdigest.store.db import read_scope

        with read_scope(self.sessions) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
