"""A reader's personal Atom feed at ``/feed/<token>`` (feedgen): the third delivery format.

Entries are the papers of the reader's latest delivered digests, newest first, each linking to the
paper (arXiv, stored URL or a title search) with More/Less like this links in its content.
"""

from __future__ import annotations

import re
from typing import Any

from paperdigest.digest.compose import build_view, reader_info, reader_page_url, stored_item
from paperdigest.digest.render import render_template
from paperdigest.store.archive import delivered_digests, digest_papers
from paperdigest.store.readers import local_today
from paperdigest.web.archive import sent_day
from paperdigest.web.common import WebContext
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

__all__ = ["FEED_DIGESTS", "routes"]

FEED_DIGESTS = 10  # latest digests in the feed (at most 100 papers each)
# XML 1.0 cannot carry these at all; a title with one would make the whole feed unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("", text or "")


class _Handlers:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    async def feed(self, request: Request) -> Response:
        body = await run_in_threadpool(self._feed, request.path_params["token"])
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    def _feed(self, token: str) -> bytes:
        from feedgen.feed import FeedGenerator  # lxml-based: only loaded when a feed is asked for

        with self.ctx.store.read() as session:  # a page view: no write lock
            reader = self.ctx.reader_for_page(session, "feed", token)
            info, today = reader_info(reader), local_today(reader, self.ctx.clock())
            digests = delivered_digests(session, reader.id, limit=FEED_DIGESTS)
            papers = digest_papers(session, reader.id, [d.id for d in digests])
        settings, codec = self.ctx.settings, self.ctx.codec
        gen = FeedGenerator()
        gen.id(f"urn:paperdigest:{_x(settings.list_id)}:feed:{reader.id}")
        gen.title(f"paperdigest for {_x(info.name) or 'you'}")
        gen.author({"name": "paperdigest"})
        gen.link(href=self.ctx.url(f"/feed/{token}"), rel="self")
        gen.link(href=reader_page_url(settings, codec, "archive", info), rel="alternate")
        gen.updated(max((d.sent_at for d in digests if d.sent_at), default=self.ctx.clock()))
        for digest in digests:
            items = [stored_item(item, p) for item, p in papers[digest.id]]
            view = build_view(info, digest.id, digest.period, items, settings, codec,
                              today=sent_day(digest.sent_at, info, today))
            for item, (_, paper) in zip(view.items, papers[digest.id], strict=True):
                entry = gen.add_entry(order="append")
                entry.id(f"urn:paperdigest:{_x(settings.list_id)}:digest:{digest.id}:paper:{_x(paper.id)}")
                entry.title(_x(item.title))
                target = paper.url.strip() if item.link_url and paper.url else item.href
                if target:
                    entry.link(href=target)
                for name in list(paper.authors or ())[:20]:
                    if _x(str(name)).strip():
                        entry.author({"name": _x(str(name)).strip()})
                entry.updated(digest.sent_at or self.ctx.clock())
                entry.content(_x(_content(item, view.date_label)), type="html")
        return bytes(gen.atom_str(pretty=True))


def _content(item: Any, when: str) -> str:
    # Entry content is HTML inside the XML: the autoescaping template, never string formatting.
    return render_template("feed_entry.html", item=item, when=when)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """``/feed/<token>``: the reader's Atom feed."""
    return [Route("/feed/{token}", _Handlers(ctx).feed, methods=["GET"])]
