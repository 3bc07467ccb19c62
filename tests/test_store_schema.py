"""The schema: migrations match the models, SQLite pragmas, init/upgrade idempotence, both databases."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from paperdigest.core.errors import ConfigError, StoreNotInitialized
from paperdigest.core.settings import Settings, load_settings
from paperdigest.store import Store
from paperdigest.store.db import check_schema, head_revision
from paperdigest.store.models import Base
from sqlalchemy import text


def test_migrations_create_exactly_the_models(any_store: Store) -> None:
    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_sqlite_runs_with_wal_busy_timeout_and_foreign_keys(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_init_twice_keeps_key_and_data(settings: Settings) -> None:
    store, created = Store.initialise(settings)
    store.close()
    key = settings.secret_key_path.read_text()
    assert created
    assert stat.S_IMODE(os.stat(settings.secret_key_path).st_mode) == 0o600
    store, created = Store.initialise(settings)
    store.close()
    assert not created
    assert settings.secret_key_path.read_text() == key


def test_open_before_init_says_what_to_do(settings: Settings) -> None:
    with pytest.raises(StoreNotInitialized, match="paperdigest init"):
        Store.open(settings)


def test_schema_behind_head_asks_for_upgrade(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    with pytest.raises(StoreNotInitialized, match="db upgrade"):
        check_schema(store.engine)


def test_secret_key_readable_by_others_is_refused(store: Store) -> None:
    os.chmod(store.settings.secret_key_path, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        store.secret_keys()


def test_unreachable_postgres_is_one_clear_error(tmp_path: Path) -> None:
    settings = load_settings(env={"PAPERDIGEST_HOME": str(tmp_path),
                                  "PAPERDIGEST_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"})
    with pytest.raises(ConfigError, match="cannot open the database"):
        Store.open(settings)


def test_postgres_head_revision(pg_store: Store) -> None:
    with pg_store.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == head_revision()
