"""``paperdigest init`` and ``paperdigest db ...``: create and migrate the database."""

from __future__ import annotations

import typer
from paperdigest.admin.context import get_context
from paperdigest.admin.output import console, emit_record

__all__ = ["register"]


def init(ctx: typer.Context) -> None:
    """Create the data folder, the database schema and the secret key for signed links."""
    from paperdigest.store import Store

    settings = get_context(ctx).settings
    store, created_key = Store.initialise(settings)
    store.close()
    console.print(f"Database ready: {settings.redacted()['database_url']}", markup=False)
    console.print(f"Data folder:    {settings.home}", markup=False)
    if created_key:
        console.print(f"Secret key:     created at {settings.secret_key_path} (mode 0600)", markup=False)
    else:
        console.print(f"Secret key:     kept ({settings.secret_key_path})", markup=False)


def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database schema to the newest version."""
    from paperdigest.store import Store
    from paperdigest.store.db import current_revision, upgrade

    settings = get_context(ctx).settings
    store = Store(settings)
    try:
        before = current_revision(store.engine)
        after = upgrade(store.engine)
    finally:
        store.close()
    if before == after:
        console.print(f"Schema already at {after}.")
    else:
        console.print(f"Schema upgraded: {before or 'empty'} -> {after}.")


def db_status(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Show the database URL (password hidden) and its schema version."""
    from paperdigest.store import Store
    from paperdigest.store.db import current_revision, head_revision

    settings = get_context(ctx).settings
    store = Store(settings)
    try:
        current = current_revision(store.engine)
    finally:
        store.close()
    head = head_revision()
    emit_record(
        {"database": settings.redacted()["database_url"], "schema": current or "(empty)",
         "newest": head, "up_to_date": current == head},
        as_json=as_json,
    )


def config_show(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Print the effective settings (secrets hidden)."""
    emit_record(get_context(ctx).settings.redacted(), as_json=as_json)


def keys_rotate(
    ctx: typer.Context,
    keep: int = typer.Option(2, "--keep", min=1, max=20,
                             help="Old keys kept for verifying links already sent."),
) -> None:
    """Put a new signing key first; links signed with the kept old keys still verify."""
    from paperdigest.core.secrets import load_secret_keys, rotate_secret_key

    path = get_context(ctx).settings.secret_key_path
    rotate_secret_key(path, keep=keep)
    kept = len(load_secret_keys(path)) - 1
    console.print(f"New signing key in place ({path}); {kept} old key(s) kept for links already sent.",
                  markup=False)
    console.print("Restart `paperdigest serve` and `paperdigest run` so they sign with the new key.",
                  markup=False)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    db = typer.Typer(help="Database schema.", no_args_is_help=True)
    db.command("upgrade")(db_upgrade)
    db.command("status")(db_status)
    app.add_typer(db, name="db")
    config = typer.Typer(help="Settings.", no_args_is_help=True)
    config.command("show")(config_show)
    app.add_typer(config, name="config")
    keys = typer.Typer(help="Signing keys for feedback links.", no_args_is_help=True)
    keys.command("rotate")(keys_rotate)
    app.add_typer(keys, name="keys")
