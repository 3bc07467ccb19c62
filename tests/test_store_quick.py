"""`store.quick`: the SQLAlchemy-free listing `users list` uses must read what the ORM reads."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

from paperdigest.core import load_settings
from paperdigest.store import Store, quick
from paperdigest.store import db as store_db
from paperdigest.store.models import Reader
from paperdigest.store.readers import ReaderFields, add_reader, list_readers


def _varied_readers(store: Store) -> None:
    with store.transaction() as session:
        add_reader(session, ReaderFields(email="ada@example.org", name="Ada Ł.",
                                         keywords=["graph nets", "öl"], cadence="weekly", weekday="fri",
                                         send_hour=6, digest_size=5))
        bo = add_reader(session, ReaderFields(email="bo@example.org", format="html", web_notice=False,
                                              min_relevance=0.25, status="paused"))
        bo.paused_until = dt.date(2026, 12, 24)
        cy = add_reader(session, ReaderFields(email="cy@example.org", status="unsubscribed"))
        cy.link_generation = 3


def test_the_quick_head_is_alembics_head() -> None:
    assert quick.head_revision() is not None
    assert quick.head_revision() == store_db.head_revision()


def test_every_reader_column_reads_as_the_orm_reads_it(store: Store) -> None:
    _varied_readers(store)
    columns = [c.key for c in Reader.__table__.columns]
    for status in (None, "active", "paused", "unsubscribed"):
        with store.read() as session:
            orm = [{c: getattr(r, c) for c in columns} for r in list_readers(session, status)]
        rows = quick.list_reader_rows(store.settings, status)
        assert rows is not None
        fast = [{c: getattr(r, c) for c in columns} for r in rows]
        assert fast == orm
        assert [type(v) for r in fast for v in r.values()] == [type(v) for r in orm for v in r.values()]
    assert len(quick.list_reader_rows(store.settings) or []) == 3


def test_anything_unusual_goes_back_to_the_full_store(tmp_path: Path, store: Store) -> None:
    # Not initialised: no file, then a file with no schema.
    fresh = load_settings(env={"PAPERDIGEST_HOME": str(tmp_path / "new")})
    assert quick.list_reader_rows(fresh) is None
    (tmp_path / "new").mkdir(mode=0o700)
    sqlite3.connect(fresh.database_url.removeprefix("sqlite:///")).close()
    assert quick.list_reader_rows(fresh) is None
    # A schema behind the code's head (an upgrade is due): the store's message must be the one seen.
    path = store.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert quick.list_reader_rows(store.settings) is None
    # Another database is never read here.
    pg = load_settings(env={"PAPERDIGEST_HOME": str(tmp_path / "pg"),
                            "PAPERDIGEST_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"})
    assert quick.sqlite_file(pg) is None and quick.list_reader_rows(pg) is None


def test_users_list_after_an_outdated_schema_says_to_upgrade(initialised_cli, home: Path) -> None:
    with sqlite3.connect(home / "paperdigest.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    result = initialised_cli("users", "list", ok=False)
    assert result.exit_code != 0
    assert "paperdigest db upgrade" in result.output


def test_users_list_refuses_an_unknown_status(initialised_cli) -> None:
    result = initialised_cli("users", "list", "--status", "sleepy", ok=False)
    assert result.exit_code == 1
    assert "status must be one of active, paused, unsubscribed, got 'sleepy'" in result.output


def test_users_list_does_not_load_sqlalchemy(env: dict[str, str], initialised_cli) -> None:
    import os

    initialised_cli("users", "add", "ada@example.org", "--name", "Ada")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")} | env
    command = [sys.executable, "-X", "importtime", "-m", "paperdigest", "users", "list", "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True, env=full_env)
    assert "ada@example.org" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert len(imported) > 50  # the trace really was read
    heavy = sorted(n for n in imported if n.split(".")[0] in ("sqlalchemy", "alembic", "psycopg", "httpx",
                                                                "pandas", "numpy", "torch", "sklearn"))
    assert not heavy, f"`paperdigest users list` imports {heavy[:5]}"
