"""``paperdigest report`` and ``paperdigest admin create-login``: the dashboard offline and online."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from paperdigest.admin.context import get_context
from paperdigest.admin.output import console, spinner

__all__ = ["register"]


def report(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="HTML file to write (one self-contained page)."),
    days: int = typer.Option(30, "--days", help="How many UTC days back (1-3650)."),
    silent_after: int = typer.Option(3, "--silent-after",
                                     help="List readers with no reaction in this many digests."),
    full_addresses: bool = typer.Option(False, "--full-addresses",
                                        help="Show addresses unmasked (the file may travel)."),
) -> None:
    """Write the operator report (the /admin dashboard) as one HTML file with inline SVG charts."""
    from paperdigest.core.files import atomic_write
    from paperdigest.reports import collect, render_report
    from paperdigest.reports.data import validate_window

    validate_window(days, silent_after)
    app_ctx = get_context(ctx)
    with spinner("Building the report"), app_ctx.store() as store:
        html = render_report(collect(store, app_ctx.settings, days=days, silent_after=silent_after),
                             mask=not full_addresses)
    atomic_write(out, html)
    console.print(f"Report written to {out} ({len(html) // 1024} KiB).", markup=False)


def create_login(
    ctx: typer.Context,
    user: str = typer.Option("admin", "--user", help="Login name for the dashboard."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from stdin (for scripts)."),
) -> None:
    """Create or replace the operator login for the /admin dashboard (Argon2id-hashed password)."""
    from paperdigest.web.auth import LOGIN_FILE, create_login

    settings = get_context(ctx).settings
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    path = settings.home / LOGIN_FILE
    create_login(path, user, password)
    console.print(f"Login '{user}' saved to {path} (mode 0600); sign in at {settings.base_url}/admin",
                  markup=False)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    admin = typer.Typer(help="The operator's web dashboard.", no_args_is_help=True)
    admin.command("create-login")(create_login)
    app.add_typer(admin, name="admin")
