"""``paperdigest users seed READER FILE``: start a reader from the reference library they already have."""

from __future__ import annotations

from pathlib import Path

import typer
from paperdigest.admin.context import get_context
from paperdigest.admin.output import console, emit_json, progress

__all__ = ["register"]


def users_seed(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Reader id or email."),
    path: Path = typer.Argument(..., help="BibTeX, RIS, Zotero CSV export, or one arXiv id / DOI / title"
                                " per line."),
    fmt: str | None = typer.Option(None, "--format", help="bibtex, ris, csv or list (default: sniffed)."),
    skip_untitled: bool = typer.Option(
        False, "--skip-untitled",
        help="Skip entries without a title that match no stored paper instead of failing."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Like every paper of a reader's library; papers not in the store are added as history.

    History papers are never sent as new in a digest. All or nothing: a bad file or entry stores nothing.
    """
    from paperdigest.ingest.library import parse_library_file
    from paperdigest.store.library import seed_library_atomic

    app_ctx = get_context(ctx)
    with progress(None, "Reading"):  # parsing 10,000 BibTeX entries takes seconds: show it is alive
        parsed = parse_library_file(path, fmt.strip().lower() if fmt else None)
    with app_ctx.store() as store, progress(len(parsed.entries), "Seeding") as advance:
        result = seed_library_atomic(store.sessions, user, parsed.entries,
                                     duplicates=len(parsed.duplicates), skip_untitled=skip_untitled,
                                     advance=advance)
    if as_json:
        emit_json({
            "file": str(path), "format": parsed.fmt, "entries": result.entries, "matched": result.matched,
            "added": result.added, "duplicates": result.duplicates, "skipped": result.skipped,
            "liked": result.liked, "already": result.already,
            "duplicate_lines": [{"line": a, "same_as_line": b} for a, b in parsed.duplicates],
            "skipped_lines": list(result.skipped_lines),
        })
        return
    skipped = f", {result.skipped} untitled skipped" if result.skipped else ""
    console.print(
        f"{result.entries} entries, {result.matched} matched existing papers, {result.added} added as"
        f" history, {result.duplicates} duplicates merged{skipped}; {result.liked} new likes"
        f" ({result.already} already rated) from {path} ({parsed.fmt}).", markup=False)


def register(app: typer.Typer) -> None:
    from paperdigest.admin.cmd_users import users

    # A subcommand of `users`, in its own module so the users module stays about reader records.
    users.command("seed")(users_seed)
