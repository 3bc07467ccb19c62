"""paperdigest's storage layer: the only package that talks SQL.

Public face: :class:`Store` (engine + sessions for one database), settings, typed errors. Query
functions live in the submodules (``store.papers``, ``store.readers``, ``store.feedback``,
``store.digests``, ``store.jobs``) and take a session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from paperdigest.core.errors import (
    AlreadyExists,
    ConfigError,
    InvalidInput,
    NotFound,
    PaperdigestError,
    StoreNotInitialized,
)
from paperdigest.core.secrets import create_secret_key, load_secret_keys
from paperdigest.core.settings import Secret, Settings, load_settings
from paperdigest.store.db import (
    check_schema,
    make_engine,
    make_sessionmaker,
    read_scope,
    session_scope,
    upgrade,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "AlreadyExists",
    "ConfigError",
    "InvalidInput",
    "NotFound",
    "PaperdigestError",
    "Secret",
    "Settings",
    "Store",
    "StoreNotInitialized",
    "load_settings",
]


class Store:
    """One database: an engine, a session factory and the settings it was opened with."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Open an initialised database; raises :class:`StoreNotInitialized` otherwise."""
        store = cls(settings)
        try:
            check_schema(store.engine)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def initialise(cls, settings: Settings) -> tuple[Store, bool]:
        """Create folders, migrate the schema to head and create the secret key.

        Returns the store and whether a new secret key was written.
        """
        settings.home.mkdir(parents=True, exist_ok=True)
        for folder in (settings.outbox_dir, settings.archive_dir, settings.model_dir):
            folder.mkdir(parents=True, exist_ok=True)
        store = cls(settings)
        upgrade(store.engine)
        created = create_secret_key(settings.secret_key_path)
        return store, created

    def secret_keys(self) -> list[str]:
        return load_secret_keys(self.settings.secret_key_path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with session_scope(self.sessions) as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session in one read-only transaction (never takes SQLite's write lock); for pages,
        reports and the model's reads. A write inside it is never committed."""
        with read_scope(self.sessions) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
