"""The operator's dashboard at ``/admin``: the report of :mod:`paperdigest.reports` behind a login.

Routes (added to the app by :func:`admin_routes`): ``GET /admin[?days=30&silent_after=3]`` (the
dashboard, or a redirect to the login), ``GET|POST /admin/login``, ``POST /admin/logout`` (needs
the session's CSRF token).
Every POST must also come from the app's own origin when the browser says where it comes from, and
the cookie is ``SameSite=Strict``: a form on another site can neither log the operator out nor in.
"""

from __future__ import annotations

import hmac
import math
from html import escape
from typing import Any
from urllib.parse import urlsplit

from paperdigest.core import Settings
from paperdigest.core.errors import PaperdigestError
from paperdigest.store import Store
from paperdigest.web.auth import LOGIN_FILE, LoginLimiter, SessionCodec, check_login, read_login
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["COOKIE", "admin_routes"]

COOKIE = "paperdigest_admin"
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    # Charts are inline SVG and styles are inline: nothing is fetched, nothing runs.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:;"
                               " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


class _Admin:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.login_path = settings.home / LOGIN_FILE
        self.codec = SessionCodec(store.secret_keys())
        self.limiter = LoginLimiter()
        base = urlsplit(settings.base_url)
        self.origin = f"{base.scheme}://{base.netloc}"
        self.secure = base.scheme == "https"

    def _session(self, request: Request) -> Any:
        return self.codec.loads(request.cookies.get(COOKIE, ""), read_login(self.login_path))

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:  # older browsers and curl send none; SameSite and the token still hold
            return True
        served = f"{request.url.scheme}://{request.url.netloc}"
        return origin in (self.origin, served)

    def _login_page(self, message: str = "", *, status: int = 200, user: str = "") -> HTMLResponse:
        from paperdigest.digest.render import environment

        missing = read_login(self.login_path) is None
        html = environment().get_template("admin_login.html").render(
            message=message, missing=missing, user=user)
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    async def dashboard(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/admin/login", status_code=303, headers=_HEADERS)
        from paperdigest.reports.data import validate_window

        try:
            days = int(request.query_params.get("days", "30"))
            silent_after = int(request.query_params.get("silent_after", "3"))
            validate_window(days, silent_after)
        except (ValueError, PaperdigestError) as exc:
            message = str(exc).replace("--silent-after", "silent_after").replace("--days", "days")
            return HTMLResponse(f"Bad request: {escape(message)}", status_code=400, headers=_HEADERS)
        html = await run_in_threadpool(self._render, session.csrf, session.user, days, silent_after)
        return HTMLResponse(html, headers=_HEADERS)

    def _render(self, csrf: str, user: str, days: int, silent_after: int) -> str:
        from paperdigest.reports import collect, render_report

        report = collect(self.store, self.settings, days=days, silent_after=silent_after)
        return render_report(report, logout_csrf=csrf, user=user)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            if self._session(request) is not None:
                return RedirectResponse("/admin", status_code=303, headers=_HEADERS)
            return self._login_page()
        if not self._same_origin(request):
            return self._login_page("This form must be sent from this site.", status=403)
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.blocked_for(client)
        if wait > 0:
            minutes = math.ceil(wait / 60)
            page = self._login_page(f"Too many failed attempts: try again in {minutes} minute(s).",
                                    status=429)
            page.headers["Retry-After"] = str(math.ceil(wait))
            return page
        form = await request.form()
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        ok = await run_in_threadpool(check_login, self.login_path, user, password)
        if not ok:
            self.limiter.failed(client)
            return self._login_page("Wrong login name or password.", status=401, user=user)
        self.limiter.succeeded(client)
        stored = read_login(self.login_path)
        if stored is None:  # removed between the check and now
            return self._login_page(status=401)
        value, _ = self.codec.dumps(stored[0], stored[1])
        response = RedirectResponse("/admin", status_code=303, headers=_HEADERS)
        response.set_cookie(COOKIE, value, max_age=self.codec.max_age, path="/admin", httponly=True,
                            secure=self.secure, samesite="strict")
        return response

    async def logout(self, request: Request) -> Response:
        session = self._session(request)
        form = await request.form()
        token = str(form.get("csrf", ""))
        if (session is None or not self._same_origin(request)
                or not hmac.compare_digest(token.encode(), session.csrf.encode())):
            return self._login_page("Sign-out refused: the form was not from this session.", status=403)
        response = RedirectResponse("/admin/login", status_code=303, headers=_HEADERS)
        response.delete_cookie(COOKIE, path="/admin", httponly=True, secure=self.secure, samesite="strict")
        return response


def admin_routes(settings: Settings, store: Store) -> list[Route]:
    """The dashboard's routes, bound to one store; added to the app by ``create_app``."""
    admin = _Admin(settings, store)
    return [
        Route("/admin", admin.dashboard, methods=["GET"]),
        Route("/admin/login", admin.login, methods=["GET", "POST"]),
        Route("/admin/logout", admin.logout, methods=["POST"]),
    ]
