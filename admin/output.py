"""Output helpers: rich tables for people, JSON for scripts, progress only on a terminal."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["console", "emit_json", "emit_record", "emit_table", "err_console", "progress", "spinner"]

# Piped output gets a wide fixed width so tables are not folded to 80 columns for a file or grep.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)


def emit_json(data: Any) -> None:
    """Plain JSON on stdout (no rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


TITLE_CHARS = 70


def _human(column: str, value: Any) -> str:
    # People read titles cut with an ellipsis and rates as percentages; JSON keeps the raw values.
    if column == "title" and isinstance(value, str):
        from paperdigest.digest.render import shorten

        return shorten(value, TITLE_CHARS)
    if column.endswith("rate") and isinstance(value, float):
        return f"{100 * value:.1f}%"
    return _cell(value)


def emit_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, as_json: bool, title: str | None = None,
    empty: str | None = None,
) -> None:
    """A table for people (or a JSON list); ``empty`` is the plain sentence printed when there are no rows."""
    if as_json:
        emit_json([dict(row) for row in rows])
        return
    if not rows:
        console.print(empty or f"No {(title or 'rows').lower()}.", markup=False)
        return
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Markup off: titles and names are user data and may contain [brackets].
        table.add_row(*(_human(c, row.get(c)) for c in columns))
    console.print(table, markup=False)


def emit_record(record: Mapping[str, Any], *, as_json: bool) -> None:
    if as_json:
        emit_json(dict(record))
        return
    width = max((len(k) for k in record), default=0)
    for key, value in record.items():
        console.print(f"{key.ljust(width)}  {_cell(value)}", markup=False)


@contextlib.contextmanager
def progress(total: int | None, label: str) -> Iterator[Any]:
    """A progress bar on a terminal; a no-op callable elsewhere. Yields ``advance(n=1)``."""
    if not sys.stderr.isatty():
        yield lambda n=1: None
        return
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextlib.contextmanager
def spinner(label: str) -> Iterator[None]:
    """A spinner with elapsed time on stderr while a slow step runs, only on a terminal.

    Off a terminal nothing is drawn, so pipes, cron mail and ``--json`` output stay clean.
    """
    if not err_console.is_terminal:
        yield
        return
    with err_console.status(f"{label}…", spinner="dots"):
        yield
