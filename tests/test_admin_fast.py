"""The CLI answers at once: `--help` must not import the heavy numeric libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "sklearn", "implicit", "pandas", "sentence_transformers", "matplotlib")


def test_help_does_not_import_heavy_libraries() -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "paperdigest", "--help"],
                            capture_output=True, text=True, timeout=120, check=True)
    assert "Usage" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert len(imported) > 50  # the -X importtime trace really was read
    pulled = sorted(name for name in imported if name.split(".")[0] in HEAVY)
    assert not pulled, f"`paperdigest --help` imports {pulled[:5]}"


def _run_on_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; returns everything it drew."""
    import os
    import pty

    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "paperdigest", *args], stdin=subprocess.DEVNULL,
                            stdout=child, stderr=child, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


def test_spinner_only_on_a_terminal(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")}
    env.update({"PAPERDIGEST_HOME": str(tmp_path / "home"), "TERM": "xterm-256color", "COLUMNS": "100"})
    subprocess.run([sys.executable, "-m", "paperdigest", "init"], env=env, check=True, capture_output=True)
    drawn = _run_on_terminal(["report", "--out", str(tmp_path / "a.html")], env)
    assert "Building the report" in drawn and "Report written" in drawn
    piped = subprocess.run([sys.executable, "-m", "paperdigest", "report", "--out", str(tmp_path / "b.html")],
                           env=env, capture_output=True, text=True, check=True)
    assert piped.stderr == "" and "Building the report" not in piped.stdout


def test_help_does_not_load_the_database_layer() -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "paperdigest", "--help"],
                            capture_output=True, text=True, timeout=120, check=True)
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert not {n for n in imported if n.split(".")[0] in ("sqlalchemy", "httpx", "alembic")}


def test_written_out_help_lists_match_the_constants() -> None:
    from paperdigest.admin.cmd_digest import _STATUS_HELP
    from paperdigest.admin.cmd_ingest import _FORMAT_HELP
    from paperdigest.ingest import FORMATS
    from paperdigest.store.models import DIGEST_STATUSES

    assert ", ".join(DIGEST_STATUSES) + "." == _STATUS_HELP
    assert f"One of {', '.join(FORMATS)}; default: sniffed." == _FORMAT_HELP
