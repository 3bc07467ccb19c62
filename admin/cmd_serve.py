"""``paperdigest serve``: the feedback web app under uvicorn, in one process or several workers.

With ``--workers N`` (N > 1) uvicorn starts N processes that each import :func:`worker_app` and build
their own app and store: the settings travel to them through the environment (``--home``,
``--database-url`` and ``--config`` become ``PAPERDIGEST_*`` variables of this process first), so a
worker sees exactly the settings the command was given.
"""

from __future__ import annotations

import os
from typing import Any

import typer
from paperdigest.admin.context import get_context
from paperdigest.admin.output import console
from paperdigest.core.errors import ConfigError

__all__ = ["register", "worker_app"]

_ENV_FOR = {"home": "PAPERDIGEST_HOME", "database_url": "PAPERDIGEST_DATABASE_URL"}
MAX_WORKERS = 32


def worker_app() -> Any:
    """The app of one uvicorn worker process (a factory: uvicorn calls it after the fork/spawn)."""
    from paperdigest.core import load_settings
    from paperdigest.web import create_app
    from paperdigest.web.logs import install_token_filter

    install_token_filter()  # in each worker, after uvicorn configured its loggers there
    return create_app(load_settings())


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=MAX_WORKERS,
        help="Worker processes (uvicorn); more than one uses several cores for feedback POSTs."),
) -> None:
    """Run the web app (feedback links, reader settings, archive, feeds, subscribe) under uvicorn."""
    import uvicorn

    app_ctx = get_context(ctx)
    settings = app_ctx.settings  # validated here, in one place, before any worker starts
    log_level = "debug" if app_ctx.debug else "warning"
    console.print(f"Serving the web app on http://{host}:{port} with {workers} worker(s)"
                  f" (base URL in emails: {settings.base_url}).", markup=False)
    if workers == 1:
        from paperdigest.web import create_app
        from paperdigest.web.logs import install_token_filter

        config = uvicorn.Config(create_app(settings), host=host, port=port, log_level=log_level,
                                proxy_headers=True)
        install_token_filter()  # after Config, which (re)configures uvicorn's loggers
        uvicorn.Server(config).run()
        return
    if settings.database_url.startswith("sqlite") and ":memory:" in settings.database_url:
        raise ConfigError("PAPERDIGEST_DATABASE_URL: an in-memory database cannot be shared by workers")
    for key, name in _ENV_FOR.items():
        value = app_ctx.overrides.get(key)
        if value is not None:
            os.environ[name] = str(value)
    if app_ctx.config_file is not None:
        os.environ["PAPERDIGEST_CONFIG"] = str(app_ctx.config_file)
    uvicorn.run("paperdigest.admin.cmd_serve:worker_app", factory=True, workers=workers, host=host,
                port=port, log_level=log_level, proxy_headers=True)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)
