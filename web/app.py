"""The feedback web app: confirm pages, likes/dislikes, one-click unsubscribe, click redirects.

Mail scanners fetch every link in a message, so ``GET`` and ``HEAD`` of a feedback or unsubscribe
link only show a confirm page; the change happens on ``POST``. The click redirect goes only to the
paper's stored URL — the request cannot name a target. Any bad token, or a token naming a reader or
paper that does not exist, gives a 400 page and records nothing.

Build the app with :func:`create_app`; nothing is created at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from paperdigest.core import Settings
from paperdigest.core.errors import InvalidInput, NotFound, PaperdigestError
from paperdigest.digest.compose import is_web_url
from paperdigest.digest.render import SHORT_TITLE_CHARS, render_web_page, shorten
from paperdigest.digest.tokens import TokenCodec
from paperdigest.store import Store
from paperdigest.store.feedback import record_feedback
from paperdigest.store.models import Digest, Paper, Reader
from paperdigest.store.readers import ReaderFields, update_reader
from paperdigest.web.admin import admin_routes
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["create_app"]

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    # The token is in the URL: never leak it to the paper's site through Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
                               " frame-ancestors 'none'",
}


def _page(heading: str, message: str = "", *, status: int = 200, action: str | None = None,
          button: str = "") -> HTMLResponse:
    html = render_web_page(heading, message, action=action, button=button)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


class _Feedback:
    """Route handlers bound to one store and one token codec."""

    def __init__(self, store: Store, codec: TokenCodec) -> None:
        self.store = store
        self.codec = codec

    def _lookup(self, reader_id: int, paper_id: str | None = None) -> tuple[Reader, Paper | None]:
        with self.store.transaction() as session:
            reader = session.get(Reader, reader_id)
            if reader is None:
                raise InvalidInput("this link belongs to a reader who no longer exists")
            paper = None
            if paper_id is not None:
                paper = session.get(Paper, paper_id)
                if paper is None:
                    raise InvalidInput("this link names a paper that does not exist")
            return reader, paper

    async def feedback(self, request: Request) -> Response:
        token = self.codec.read_feedback(request.path_params["token"])
        _, paper = await run_in_threadpool(self._lookup, token.reader_id, token.paper_id)
        title = shorten(paper.title if paper else "", SHORT_TITLE_CHARS)
        more = token.kind == "like"
        if request.method != "POST":
            return _page(
                "More like this?" if more else "Less like this?",
                f"Tell paperdigest you want {'more' if more else 'fewer'} papers like “{title}”.",
                action=request.url.path, button="Yes, more like this" if more else "Yes, less like this",
            )
        await run_in_threadpool(self._record, token.reader_id, token.paper_id, token.kind,
                                token.digest_id)
        return _page("Thanks — your next digest will use this",
                     f"You asked for {'more' if more else 'fewer'} papers like “{title}”.")

    def _record(self, reader_id: int, paper_id: str, kind: str, digest_id: int | None,
                ) -> None:
        with self.store.transaction() as session:
            if digest_id is not None and session.get(Digest, digest_id) is None:
                digest_id = None  # the digest row was removed; the reaction still counts
            try:
                record_feedback(session, reader_id, paper_id, kind, "email", digest_id=digest_id)
            except NotFound as exc:
                raise InvalidInput(str(exc)) from None

    async def unsubscribe(self, request: Request) -> Response:
        token = self.codec.read_unsubscribe(request.path_params["token"])
        await run_in_threadpool(self._lookup, token.reader_id)
        if request.method != "POST":
            return _page("Unsubscribe?", "You will get no more paperdigest emails.",
                         action=request.url.path, button="Unsubscribe")
        # RFC 8058 one-click: the body is List-Unsubscribe=One-Click, urlencoded or multipart.
        # Reading it through form() accepts both; its content does not change the outcome.
        async with request.form():
            pass
        await run_in_threadpool(self._unsubscribe, token.reader_id)
        return _page("You are unsubscribed", "You will get no more paperdigest emails.")

    def _unsubscribe(self, reader_id: int) -> None:
        with self.store.transaction() as session:
            reader = session.get(Reader, reader_id)
            if reader is None:
                raise InvalidInput("this link belongs to a reader who no longer exists")
            if reader.status != "unsubscribed":
                update_reader(session, reader, ReaderFields(status="unsubscribed"))

    async def click(self, request: Request) -> Response:
        token = self.codec.read_click(request.path_params["token"])
        url = await run_in_threadpool(self._click, token.reader_id, token.paper_id, token.digest_id,
                                      request.method == "GET")
        return RedirectResponse(url, status_code=302, headers={"Referrer-Policy": "no-referrer",
                                                                "Cache-Control": "no-store"})

    def _click(self, reader_id: int, paper_id: str, digest_id: int | None, record: bool) -> str:
        with self.store.transaction() as session:
            reader, paper = session.get(Reader, reader_id), session.get(Paper, paper_id)
            if reader is None or paper is None:
                raise InvalidInput("this link names a reader or paper that does not exist")
            if not is_web_url(paper.url):
                raise InvalidInput("this paper has no web address")
            if record:
                if digest_id is not None and session.get(Digest, digest_id) is None:
                    digest_id = None
                record_feedback(session, reader_id, paper_id, "click", "email", digest_id=digest_id)
            return str(paper.url).strip()


async def _home(request: Request) -> Response:
    return _page("paperdigest", "This server records feedback from paperdigest emails.")


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})


async def _bad_input(request: Request, exc: Exception) -> Response:
    return _page("This link does not work", str(exc), status=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    heading = {404: "Page not found", 405: "Method not allowed"}.get(status, "Request failed")
    return _page(heading, status=status)


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """The feedback app for ``settings``; opens the store when none is given (closed on shutdown).

    Routes: ``/f/<token>`` (GET/HEAD confirm, POST records), ``/u/<token>`` (GET/HEAD confirm,
    POST unsubscribes, RFC 8058 one-click), ``/c/<token>`` (GET records a click, 302 to the paper),
    ``/healthz``.
    """
    own = store is None
    the_store = store if store is not None else Store.open(settings)
    codec = TokenCodec(the_store.secret_keys(), settings.feedback_max_age_days)
    handlers = _Feedback(the_store, codec)
    routes = [
        Route("/", _home, methods=["GET"]),
        Route("/healthz", _health, methods=["GET"]),
        Route("/f/{token}", handlers.feedback, methods=["GET", "POST"]),
        Route("/u/{token}", handlers.unsubscribe, methods=["GET", "POST"]),
        Route("/c/{token}", handlers.click, methods=["GET"]),
        *admin_routes(settings, the_store),
    ]
    errors: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        PaperdigestError: _bad_input,
        HTTPException: _http_error,
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if own:
            the_store.close()

    app = Starlette(routes=routes, exception_handlers=errors, lifespan=lifespan)
    app.state.store = the_store
    return app
