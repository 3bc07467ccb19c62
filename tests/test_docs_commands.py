"""Every `paperdigest …` command printed in README.md and docs/*.md exists, takes the options shown,
and answers `--help` — so a command pasted from the docs (after `source .venv/bin/activate`) runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
from paperdigest.admin.cli import app
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)
# A command starts a line, or follows ;, &&, |, ( or a "$ " prompt: `sudo -u paperdigest sh` is not one.
_COMMAND = re.compile(r"(?:^\s*|[;&|(]\s*|\$\s+)(?:\.venv/bin/)?paperdigest((?:\s+[^\s`]+)*)")


def _snippets() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block, span in _CODE.findall(doc.read_text(encoding="utf-8")):
            for line in (block or span).splitlines():
                line = line.split("  #", 1)[0]  # shell comments after the command
                for match in _COMMAND.finditer(line):
                    found.append((doc.name, match.group(1).strip()))
    return found


def _resolve(words: list[str]) -> tuple[list[str], Any, list[str]]:
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(words)
    # Root options (--home DIR) may come before the command.
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if "=" not in option and rest and not rest[0].startswith("-") and option != "--debug":
            rest.pop(0)
    while rest and hasattr(command, "commands") and rest[0] in command.commands:
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


SNIPPETS = _snippets()
PATHS = sorted({" ".join(_resolve(words.split())[0]) for _, words in SNIPPETS} - {""})


def test_docs_print_commands() -> None:
    assert len(SNIPPETS) > 30 and "users add" in PATHS and "run" in PATHS


@pytest.mark.parametrize(("doc", "words"), SNIPPETS, ids=[f"{d}:{w[:40]}" for d, w in SNIPPETS])
def test_printed_command_exists_with_its_options(doc: str, words: str) -> None:
    tokens = words.split()
    path, command, rest = _resolve(tokens)
    if not path:
        # Prose such as `paperdigest <digest@localhost>` or the bare usage line names no command.
        assert not tokens or not re.fullmatch(r"[a-z][a-z-]*", tokens[0]), f"{doc}: unknown {words!r}"
        return
    assert not hasattr(command, "commands"), f"{doc}: `paperdigest {words}` names a group only"
    known = {opt for param in command.params for opt in param.opts} | {"--help", "-h"}
    for token in rest:
        option = token.strip("[],").split("=", 1)[0]
        if option.startswith("--"):
            assert option in known, f"{doc}: `paperdigest {' '.join(path)}` has no option {option}"


@pytest.mark.parametrize("path", PATHS)
def test_help_answers(path: str) -> None:
    result = CliRunner().invoke(app, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
