"""Issue #14 item 8: the data folder is 0700 and the files paperdigest writes in it 0600, whatever the
umask; an existing folder that is wider gets a warning."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli
from paperdigest.core import load_settings
from paperdigest.digest.delivery import FileBackend, Outgoing, write_atomic
from paperdigest.store import Store


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the common default that made the folder 0755 and the files 0644
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_private_folder_and_database(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    home = tmp_path / "new" / "home"
    cli = Cli({"PAPERDIGEST_HOME": str(home)})
    cli("init")
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home)})
    for folder in (home, settings.outbox_dir, settings.archive_dir, settings.model_dir):
        assert _mode(folder) == 0o700, folder
    assert "data folder" not in caplog.text  # nothing to warn about
    cli("users", "add", "ann@example.org")  # a write: SQLite now has its -wal and -shm files
    files = [p for p in home.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"paperdigest.sqlite3", "secret.key"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_outbox_and_archive_files_are_private(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    backend = FileBackend(outbox)
    backend.open()
    item = Outgoing(digest_id=1, sender="a@example.org", recipient="b@example.org",
                    data=b"Subject: x\r\n\r\nbody\r\n", stem="digest-1", html="<p>x</p>")
    assert backend.deliver(item).status == "sent"
    write_atomic(tmp_path / "archive" / "reader-1" / "index.html", b"<p>index</p>")
    assert _mode(outbox) == 0o700 and _mode(tmp_path / "archive" / "reader-1") == 0o700
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 3 and all(_mode(p) == 0o600 for p in written)


def test_a_wider_existing_folder_is_kept_but_warned_about(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    home = tmp_path / "shared-home"
    home.mkdir()
    os.chmod(home, 0o755)
    Cli({"PAPERDIGEST_HOME": str(home)})("init")
    assert f"data folder {home} is mode 755" in caplog.text and f"chmod 700 {home}" in caplog.text
    assert _mode(home) == 0o755  # the operator's choice is not silently changed
    assert _mode(home / "paperdigest.sqlite3") == 0o600
    with Store.open(load_settings(env={"PAPERDIGEST_HOME": str(home)})):
        pass
