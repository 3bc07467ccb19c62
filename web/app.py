"""The web app, assembled from small route modules: one module per idea.

``feedback`` (More/Less like this, unsubscribe, click redirects), ``settings_page`` (a reader's
settings), ``archive`` (their digests on the web), ``feed`` (their Atom feed), ``signup``
(subscribe with double opt-in). Adding a module is one line in :data:`ROUTE_MODULES`.

Build the app with :func:`create_app`; nothing is created at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from types import ModuleType

from paperdigest.core import Settings
from paperdigest.digest.tokens import TokenCodec
from paperdigest.store import Store
from paperdigest.web import archive, feed, feedback, settings_page, signup
from paperdigest.web.admin import admin_routes
from paperdigest.web.common import SecurityHeaders, WebContext, error_handlers, page
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["ROUTE_MODULES", "create_app"]

# Each module exposes ``routes(ctx) -> list[BaseRoute]``.
ROUTE_MODULES: tuple[ModuleType, ...] = (feedback, settings_page, archive, feed, signup)


def _home(ctx: WebContext) -> Callable[[Request], object]:
    async def home(request: Request) -> Response:
        if ctx.settings.signup_enabled:
            return page("paperdigest", "Research papers picked for you, by email, web page or feed.",
                        links=(("Subscribe", ctx.url("/subscribe")),))
        return page("paperdigest", "This server records feedback from paperdigest emails.")

    return home


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """The web app for ``settings``; opens the store when none is given (closed on shutdown)."""
    own = store is None
    the_store = store if store is not None else Store.open(settings)
    ctx = WebContext(settings, the_store, TokenCodec(the_store.secret_keys(), settings.feedback_max_age_days))
    routes: list[BaseRoute] = [
        Route("/", _home(ctx), methods=["GET"]),
        Route("/healthz", _health, methods=["GET"]),
        *admin_routes(settings, the_store),
    ]
    for module in ROUTE_MODULES:
        routes.extend(module.routes(ctx))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if own:
            the_store.close()

    app = Starlette(routes=routes, exception_handlers=error_handlers(), lifespan=lifespan,
                    middleware=[Middleware(SecurityHeaders)])
    # The framework's trailing-slash redirect builds its Location from the request's Host header
    # (a forged Host gave "307 Location: http://evil.example/..."): routes are exact instead.
    app.router.redirect_slashes = False
    app.state.store = the_store
    app.state.context = ctx
    return app
