"""The ``paperdigest`` command: a thin Typer app over the service functions.

Every command opens the store, calls one service, and prints. Typed domain errors become one line on
stderr (``Error: ...``) and a non-zero exit; a traceback only with ``--debug``.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click
import typer
from paperdigest.admin import (
    cmd_digest,
    cmd_evaluate,
    cmd_ingest,
    cmd_report,
    cmd_run,
    cmd_seed,
    cmd_serve,
    cmd_setup,
    cmd_simulate,
    cmd_users,
)
from paperdigest.admin.context import AppContext, get_context
from paperdigest.core.errors import PaperdigestError
from typer.core import TyperGroup

__all__ = ["app", "main"]


def _message(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, PaperdigestError):
        return str(exc), exc.exit_code
    from paperdigest.store.db import database_error_message

    database = database_error_message(exc)
    if database is not None:
        return database, 1
    if isinstance(exc, sqlite3.Error):
        return f"database error: {exc}", 1
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}:{where}".rstrip(":"), 1
    if isinstance(exc, ValueError):  # recommender errors are ValueErrors with a one-line message
        return str(exc), 1
    return f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", 70


# Typer ships its own copy of click: its exits, aborts and usage errors must pass untouched (they
# print their own message), whichever click they come from.
_PASS_THROUGH = (typer.Exit, typer.Abort, typer.TyperException, click.exceptions.Exit,
                 click.exceptions.Abort, click.ClickException)


class _Group(TyperGroup):
    """Root group that turns expected errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            if isinstance(ctx.obj, AppContext) and ctx.obj.debug:
                raise
            message, code = _message(exc)
            click.echo(f"Error: {message}", err=True)
            raise typer.Exit(code) from None


app = typer.Typer(
    cls=_Group,
    name="paperdigest",
    help="Personalized research-paper digests: ingest batches, learn each reader's taste, send digests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", help="TOML settings file (PAPERDIGEST_CONFIG)."
    ),
    home: Path | None = typer.Option(None, "--home", help="Data folder (PAPERDIGEST_HOME)."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL (PAPERDIGEST_DATABASE_URL)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
) -> None:
    """Personalized research-paper digests."""
    ctx.obj = AppContext(
        config_file=config, overrides={"home": home, "database_url": database_url}, debug=debug
    )
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from paperdigest.scheduler.logs import quiet_third_party

    quiet_third_party(debug=debug)


for _module in (cmd_setup, cmd_users, cmd_seed, cmd_ingest, cmd_digest, cmd_serve, cmd_run, cmd_evaluate,
                cmd_report, cmd_simulate):
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="paperdigest")


__all__ += ["get_context"]
