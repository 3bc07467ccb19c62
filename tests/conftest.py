"""Shared fixtures: settings in a temp home, a real SQLite store, a real PostgreSQL store, the CLI.

PostgreSQL tests use the local server (127.0.0.1:5432, user postgres, database ``test``) and a fresh
database per test session. Without the server they skip with a reason; under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paperdigest.core import Settings, load_settings
from paperdigest.store import Store
from typer.testing import CliRunner

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("PAPERDIGEST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def need(condition: bool, reason: str) -> None:
    """Skip locally when a real part is missing; under CI=true a missing part is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def shared_dir() -> Path:
    """../shared next to the repo (real datasets); tests using it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present")
    return SHARED


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)  # as 'paperdigest init' makes it; a wider one logs a warning
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """A clean PAPERDIGEST_* environment pointing at the temp home."""
    return {"PAPERDIGEST_HOME": str(home)}


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env=env)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """An initialised SQLite store (real schema via the migrations)."""
    store, _ = Store.initialise(settings)
    yield store
    store.close()


def _pg_available() -> tuple[bool, str]:
    try:
        import psycopg
    except ImportError:
        return False, "psycopg is not installed"
    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                             connect_timeout=3):
            return True, ""
    except Exception as exc:  # any connection failure means: no server here
        return False, f"PostgreSQL at 127.0.0.1:5432 is not reachable ({type(exc).__name__})"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; yields its SQLAlchemy URL."""
    ok, reason = _pg_available()
    need(ok, reason)
    import psycopg

    name = f"paperdigest_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_store(pg_database: str, home: Path) -> Iterator[Store]:
    """An initialised store on the real PostgreSQL server, emptied after the test."""
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_DATABASE_URL": pg_database})
    store, _ = Store.initialise(settings)
    yield store
    from paperdigest.store.models import Base

    with store.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest) -> Store:
    """The same test on SQLite and on PostgreSQL."""
    name = "store" if request.param == "sqlite" else "pg_store"
    return request.getfixturevalue(name)


class Cli:
    """Runs ``paperdigest`` in-process with a given environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Any:
        from paperdigest.admin.cli import app

        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")}
        env.update(self.env)
        result = self.runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(
                f"paperdigest {' '.join(args)} exited {result.exit_code}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result


@pytest.fixture
def cli(env: dict[str, str]) -> Cli:
    return Cli(env)


@pytest.fixture
def initialised_cli(cli: Cli) -> Cli:
    cli("init")
    return cli


@pytest.fixture
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    need(path is not None, "Debian's chromium is not installed (apt-get install chromium)")
    return str(path)

