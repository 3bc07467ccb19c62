"""Repository-level checks: lint, every CLI command documented, the wheel carries its data files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import typer
from paperdigest.admin.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _command_paths(command: Any, prefix: str = "") -> list[str]:
    paths = []
    # Typer may ship its own click; duck-type groups instead of isinstance(click.Group).
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            paths += _command_paths(sub, f"{prefix} {name}".strip())
    else:
        paths.append(prefix)
    return paths


def test_every_cli_command_is_documented() -> None:
    readme = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    commands = _command_paths(typer.main.get_command(app))
    assert len(commands) >= 10
    missing = [c for c in commands if not re.search(rf"paperdigest {re.escape(c)}\b", readme)]
    assert missing == [], f"commands missing from docs/operating.md: {missing}"


def test_every_cli_command_has_help() -> None:
    root = typer.main.get_command(app)

    def walk(command: Any, path: str) -> list[str]:
        bad = [] if (command.help or command.short_help) else [path]
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                bad += walk(sub, f"{path} {name}")
        return bad

    assert walk(root, "paperdigest") == []


def test_generated_doc_tables_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_readme_starts_short() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 60
    first_block = readme.split("```", 2)[1]
    assert "./scripts/setup && .venv/bin/paperdigest demo" in first_block
    assert "./scripts/setup --test && .venv/bin/python -m pytest" in first_block
    for link in ("docs/operating.md", "docs/recommender.md", "docs/digests.md", "docs/architecture.md",
                 "docs/benchmarks.md"):
        assert (ROOT / link).is_file() and f"({link})" in readme


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    result = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_wheel_has_one_import_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("paperdigest-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"paperdigest"}, sorted(top)
    assert "paperdigest/store/migrations/env.py" in names
    assert any(n.startswith("paperdigest/store/migrations/versions/0001") for n in names)
    assert any(n.startswith("paperdigest/templates/") and n.endswith(".html") for n in names)
    assert "paperdigest/admin/cli.py" in names
    assert "paperdigest/__main__.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "paperdigest = paperdigest.admin.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "paperdigest", "--help"], capture_output=True,
                            text=True, timeout=120, cwd=Path("/"))
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
