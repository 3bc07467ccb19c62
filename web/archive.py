"""A reader's web archive at ``/a/<token>/``: the index of their digests and each digest's page.

Pages are rendered from the database on every request, so they work for every format (this is
the "view in browser" link of each email), always carry fresh feedback links, and stop working
when the operator revokes the reader's links (``paperdigest users relink``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from paperdigest.core.errors import InvalidInput
from paperdigest.digest.compose import (
    ReaderInfo,
    build_view,
    reader_info,
    reader_page_url,
    stored_item,
)
from paperdigest.digest.render import period_heading, render_page
from paperdigest.store.archive import delivered_digests, digest_papers
from paperdigest.store.readers import local_today
from paperdigest.web.common import WebContext, render
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["routes", "sent_day"]


def sent_day(sent_at: dt.datetime | None, reader: ReaderInfo, fallback: dt.date) -> dt.date:
    """The reader's local date a digest went out (headings show dates, not batch numbers)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if sent_at is None:
        return fallback
    try:
        return sent_at.astimezone(ZoneInfo(reader.timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return sent_at.date()


class _Handlers:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    async def index(self, request: Request) -> Response:
        token = request.path_params["token"]
        context = await run_in_threadpool(self._index, token)
        return render("archive.html", heading="Your paperdigest archive", **context)

    def _index(self, token: str) -> dict[str, Any]:
        with self.ctx.store.read() as session:  # a page view: no write lock
            reader = self.ctx.reader_for_page(session, "archive", token)
            info, today = reader_info(reader), local_today(reader, self.ctx.clock())
            rows = delivered_digests(session, reader.id)
            tops = digest_papers(session, reader.id, [r.id for r in rows[:100]])
        base = self.ctx.url(f"/a/{token}/")
        entries = [{"label": period_heading(r.period, sent_day(r.sent_at, info, today)),
                    "href": f"{base}{r.id}", "count": r.papers,
                    "top": tops[r.id][0][1].title if tops.get(r.id) else ""} for r in rows]
        return {"entries": entries, "reader": info,
                "settings_url": reader_page_url(self.ctx.settings, self.ctx.codec, "settings", info),
                "feed_url": reader_page_url(self.ctx.settings, self.ctx.codec, "feed", info)}

    async def digest(self, request: Request) -> Response:
        token = request.path_params["token"]
        html = await run_in_threadpool(self._digest, token, request.path_params["digest_id"])
        return HTMLResponse(html)

    def _digest(self, token: str, digest_id: int) -> str:
        if not 0 < digest_id < 2**63:  # the path converter takes any digits; the database does not
            raise InvalidInput("there is no such digest in your archive")
        with self.ctx.store.read() as session:  # a page view: no write lock
            reader = self.ctx.reader_for_page(session, "archive", token)
            info, today = reader_info(reader), local_today(reader, self.ctx.clock())
            found = delivered_digests(session, reader.id, digest_id=digest_id)
            if not found:
                raise InvalidInput("there is no such digest in your archive")
            pairs = digest_papers(session, reader.id, [digest_id])[digest_id]
            items = [stored_item(item, p) for item, p in pairs]
        summary = found[0]
        view = build_view(info, digest_id, summary.period, items, self.ctx.settings, self.ctx.codec,
                          today=sent_day(summary.sent_at, info, today))
        return render_page(view, index_href=self.ctx.url(f"/a/{token}/"))


def routes(ctx: WebContext) -> list[BaseRoute]:
    """``/a/<token>/`` the index (also without the slash: no redirect), ``/a/<token>/<id>`` a digest."""
    h = _Handlers(ctx)
    return [
        Route("/a/{token}", h.index, methods=["GET"]),
        Route("/a/{token}/", h.index, methods=["GET"]),
        Route("/a/{token}/{digest_id:int}", h.digest, methods=["GET"]),
    ]
