"""Regenerate the tables in docs/operating.md from the code: the settings and the CLI reference.

Usage: ``.venv/bin/python scripts/gen_docs.py`` rewrites them in place; ``--check`` exits 1 when the
file is stale (a test runs that). Each table sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "operating.md"


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


def cli_table() -> str:
    import typer
    from paperdigest.admin.cli import app

    rows: list[tuple[str, str]] = []
    _walk(typer.main.get_command(app), "paperdigest", rows)
    return "\n".join(["| command | what it does |", "|---|---|"]
                     + [f"| `{usage}` | {summary} |" for usage, summary in rows])


def settings_table() -> str:
    from paperdigest.core.settings import describe_settings

    lines = ["| environment variable | default | meaning |", "|---|---|---|"]
    for env, default, help_text in describe_settings():
        lines.append(f"| `{env}` | {f'`{default}`' if default else ''} | {help_text} |")
    return "\n".join(lines)


def render(text: str) -> str:
    for name, table in (("settings-table", settings_table()), ("cli-table", cli_table())):
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{table}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{DOC} is stale: run scripts/gen_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
