"""Print the README's CLI reference (markdown) from the live command tree.

Usage: python scripts/cli_reference.py > /tmp/cli.md, then paste between the cli markers.
A test checks that every command appears in the README, so a new command cannot go undocumented.
"""

from __future__ import annotations

from typing import Any

import typer
from paperdigest.admin.cli import app


def _options(command: Any) -> str:
    names = []
    for param in command.params:
        if getattr(param, "param_type_name", "") == "argument":
            names.append(param.name.upper())
        elif param.opts and param.opts[0] not in ("--help", "-h"):
            names.append(f"[{param.opts[0]}]")
    return " ".join(names)


def _walk(command: Any, path: str, rows: list[tuple[str, str]]) -> None:
    if hasattr(command, "commands"):
        for name in sorted(command.commands):
            _walk(command.commands[name], f"{path} {name}", rows)
        return
    summary = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
    rows.append((f"{path} {_options(command)}".strip(), summary))


def main() -> None:
    rows: list[tuple[str, str]] = []
    _walk(typer.main.get_command(app), "paperdigest", rows)
    print("| command | what it does |")
    print("|---|---|")
    for usage, summary in rows:
        print(f"| `{usage}` | {summary} |")


if __name__ == "__main__":
    main()
