"""What every page of the web app shares: the context, page responses, headers, errors, checks.

The security headers are added by :class:`SecurityHeaders` to *every* response — pages, redirects,
feeds and the framework's own error responses — so no code path can forget them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from paperdigest.core import Settings
from paperdigest.core.errors import InvalidInput, PaperdigestError
from paperdigest.digest.render import render_template
from paperdigest.digest.tokens import TokenCodec
from paperdigest.store import Store
from paperdigest.store.models import Reader, utcnow
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "SECURITY_HEADERS",
    "Conflict",
    "Form",
    "SecurityHeaders",
    "WebContext",
    "check_origin",
    "error_handlers",
    "page",
    "redirect",
    "render",
]

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    # Tokens are in the URL: never leak them to the paper's site through Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
                               " form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
_RAW_HEADERS = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]


class Conflict(PaperdigestError):
    """A form that was already used or is out of date (HTTP 409): nothing was changed."""


@dataclass
class WebContext:
    """What the route modules share: built once by ``create_app``."""

    settings: Settings
    store: Store
    codec: TokenCodec
    clock: Callable[[], dt.datetime] = utcnow

    def url(self, path: str) -> str:
        """An absolute URL on the configured base URL — never on the request's Host header."""
        return f"{self.settings.base_url}{path}"

    def reader_for_page(self, session: Any, purpose: str, token: str) -> Reader:
        """The reader a page token names, if it is of this purpose and not revoked (else 400)."""
        data = self.codec.read_page(purpose, token)
        reader = session.get(Reader, data.reader_id)
        if reader is None:
            raise InvalidInput("this link belongs to a reader who no longer exists")
        if data.generation != (reader.link_generation or 0):
            raise InvalidInput("this link was replaced by a newer one; use the link in your latest email")
        return reader


@dataclass(frozen=True)
class Form:
    """One form of a page: where it posts, its button and hidden fields."""

    action: str
    button: str
    fields: tuple[tuple[str, str], ...] = ()
    style: str = "btn-more"


def render(name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render_template(name, **context), status_code=status)


def page(heading: str, message: str = "", *, status: int = 200, forms: tuple[Form, ...] = (),
         details: tuple[str, ...] = (), links: tuple[tuple[str, str], ...] = ()) -> HTMLResponse:
    """A small page: a heading, a sentence, optional detail lines, links and one-button forms."""
    return render("web_page.html", status=status, heading=heading, message=message, forms=forms,
                  details=details, links=links)


def redirect(ctx: WebContext, path: str) -> RedirectResponse:
    """303 after a POST, to a path on the base URL (the Host header is never trusted)."""
    return RedirectResponse(ctx.url(path), status_code=303)


def check_origin(ctx: WebContext, request: Request) -> None:
    """Refuse a cross-site form POST: browsers send ``Origin`` with every POST they make.

    The token in the path is already a secret another site cannot know; this is the second belt.
    """
    site = request.headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        raise HTTPException(403, "cross-site form posts are refused")
    origin = request.headers.get("origin")
    # Our pages say Referrer-Policy: no-referrer, so browsers send "Origin: null" from them.
    if origin is None or origin == "null":
        return
    base = urlsplit(ctx.settings.base_url)
    if origin.rstrip("/") != f"{base.scheme}://{base.netloc}":
        raise HTTPException(403, "cross-site form posts are refused")


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _RAW_HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _bad_input(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Conflict):
        return page("This form was already used", f"{exc} Nothing was changed.", status=409)
    return page("This link does not work", f"{exc}. Nothing was changed.", status=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    heading = {403: "Not allowed", 404: "Page not found", 405: "Method not allowed",
               429: "Too many requests"}.get(status, "Request failed")
    detail = exc.detail if isinstance(exc, HTTPException) and status in (403, 429) else ""
    response = page(heading, str(detail), status=status)
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette answers this one outside the middleware stack: set the headers here.
    response = page("Something went wrong", "Nothing was changed; please try again later.", status=500)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Typed errors to pages, in one place: bad input 400, a used form 409, HTTP errors as pages."""
    return {PaperdigestError: _bad_input, HTTPException: _http_error, Exception: _server_error}
