"""The links in every digest: More/Less like this (with undo), unsubscribe, click redirects.

Mail scanners fetch every link in a message, so ``GET`` and ``HEAD`` of a feedback or unsubscribe
link only show a confirm page; the change happens on ``POST``. The click redirect goes only to the
paper's stored URL — the request cannot name a target. Any bad token, or a token naming a reader or
paper that does not exist, gives a 400 page and records nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from paperdigest.core.errors import InvalidInput, NotFound
from paperdigest.digest.compose import is_web_url
from paperdigest.digest.render import SHORT_TITLE_CHARS, authors_line, shorten, snippet
from paperdigest.store.feedback import current_reactions, record_feedback
from paperdigest.store.models import Paper, Reader
from paperdigest.store.readers import ReaderFields, pause_reader, resume_reader, update_reader
from paperdigest.web.common import Form, WebContext, check_origin, page
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["PAUSE_INSTEAD_DAYS", "routes"]

PAUSE_INSTEAD_DAYS = 28  # "pause instead" on the unsubscribe page
_WORDS = {"like": ("more", "More like this"), "dislike": ("fewer", "Less like this")}


def _shown(title: str, authors: Sequence[str], abstract: str) -> tuple[str, tuple[str, ...]]:
    """The title and detail lines a feedback page shows for a paper."""
    details = tuple(x for x in (authors_line(list(authors)), snippet(abstract or "")) if x)
    return shorten(title, SHORT_TITLE_CHARS), details


class _Handlers:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    # -- More / Less like this ------------------------------------------------------------------

    def _paper_state(self, reader_id: int, paper_id: str) -> tuple[str, tuple[str, ...], str | None]:
        """The paper's title and detail lines, and the reader's current reaction to it."""
        with self.ctx.store.read() as session:  # a page view: no write lock
            if session.get(Reader, reader_id) is None:
                raise InvalidInput("this link belongs to a reader who no longer exists")
            paper = session.get(Paper, paper_id)
            if paper is None:
                raise InvalidInput("this link names a paper that does not exist")
            return (*_shown(paper.title, paper.authors, paper.abstract),
                    current_reactions(session, reader_id).get(paper_id))

    async def feedback(self, request: Request) -> Response:
        token = self.ctx.codec.read_feedback(request.path_params["token"])
        word, button = _WORDS[token.kind]
        here = request.url.path
        undo = Form(here, "Undo", (("action", "undo"),), "btn-less")
        action = ""
        if request.method == "POST":
            check_origin(self.ctx, request)
            async with request.form() as form:
                action = str(form.get("action", "record"))
            if action != "undo":
                # The common POST: check, record and read what the page shows in ONE short write
                # transaction (issue #14 item 10: the feedback app's load goal).
                title, details = await run_in_threadpool(self._record, token.reader_id, token.paper_id,
                                                         token.kind, token.digest_id, None)
                return page("Thanks — your next digest will use this",
                            f"You asked for {word} papers like “{title}”.", details=details, forms=(undo,))
        title, details, current = await run_in_threadpool(self._paper_state, token.reader_id,
                                                          token.paper_id)
        if action == "undo":
            await run_in_threadpool(self._record, token.reader_id, token.paper_id, "unlike",
                                    token.digest_id, token.kind)
            return page("Undone", f"Your “{button}” on “{title}” is withdrawn.", details=details,
                        forms=(Form(here, f"{button} after all", (("action", "record"),)),))
        if current == token.kind:
            done = "liked" if token.kind == "like" else "marked less like this"
            return page(f"You already {done} this", f"“{title}”", details=details, forms=(undo,))
        return page("More like this?" if token.kind == "like" else "Less like this?",
                    f"Tell paperdigest you want {word} papers like “{title}”.", details=details,
                    forms=(Form(here, "Yes, more like this" if token.kind == "like"
                                else "Yes, less like this"),))

    def _record(self, reader_id: int, paper_id: str, kind: str, digest_id: int | None,
                only_if: str | None) -> tuple[str, tuple[str, ...]]:
        """Record the reaction (only when the current one is ``only_if``, if given); returns the
        paper's title and detail lines, read in the same short transaction."""
        with self.ctx.store.transaction() as session:
            if only_if is None or current_reactions(session, reader_id).get(paper_id) == only_if:
                try:  # (an undo of a reaction that is no longer there withdraws nothing)
                    done = record_feedback(session, reader_id, paper_id, kind, "email",
                                           digest_id=digest_id)
                except NotFound:
                    if session.get(Reader, reader_id) is None:
                        raise InvalidInput("this link belongs to a reader who no longer exists") from None
                    raise InvalidInput("this link names a paper that does not exist") from None
                return _shown(done.paper_title, done.paper_authors, done.paper_abstract)
            paper = session.get(Paper, paper_id)
            if paper is None:
                raise InvalidInput("this link names a paper that does not exist")
            return _shown(paper.title, paper.authors, paper.abstract)

    # -- Unsubscribe (RFC 8058 one-click), pause instead, resubscribe ------------------------------

    async def unsubscribe(self, request: Request) -> Response:
        token = self.ctx.codec.read_unsubscribe(request.path_params["token"])
        here = request.url.path
        pause = Form(here, f"Pause for {PAUSE_INSTEAD_DAYS // 7} weeks instead", (("action", "pause"),),
                     "btn-less")
        if request.method != "POST":
            await run_in_threadpool(self._check_reader, token.reader_id)
            return page("Unsubscribe?", "You will get no more paperdigest emails.",
                        forms=(Form(here, "Unsubscribe", (("action", "unsubscribe"),)), pause))
        # RFC 8058 one-click: the body is List-Unsubscribe=One-Click (urlencoded or multipart) and
        # names no action, which means unsubscribe. Mail providers post it from their own servers.
        async with request.form() as form:
            action = str(form.get("action", "unsubscribe"))
        if action != "unsubscribe":
            check_origin(self.ctx, request)
        result = await run_in_threadpool(self._change, token.reader_id, action)
        resubscribe = Form(here, "Resubscribe", (("action", "resubscribe"),))
        if action == "pause":
            return page("Paused", f"No digests until {result}; they start again by themselves after that.",
                        forms=(resubscribe,))
        if action == "resubscribe":
            return page("Welcome back", "You are subscribed again; your next digest comes as usual.",
                        forms=(Form(here, "Unsubscribe", (("action", "unsubscribe"),), "btn-less"),))
        return page("You are unsubscribed", "You will get no more paperdigest emails. Changed your mind?",
                    forms=(resubscribe, pause))

    def _check_reader(self, reader_id: int) -> None:
        with self.ctx.store.read() as session:  # a page view (mail scanners fetch it): no write lock
            if session.get(Reader, reader_id) is None:
                raise InvalidInput("this link belongs to a reader who no longer exists")

    def _change(self, reader_id: int, action: str) -> str:
        with self.ctx.store.transaction() as session:
            reader = session.get(Reader, reader_id)
            if reader is None:
                raise InvalidInput("this link belongs to a reader who no longer exists")
            if action == "unsubscribe":
                if reader.status != "unsubscribed":
                    update_reader(session, reader,
                                  ReaderFields(status="unsubscribed", clear=("paused_until",)))
            elif action == "resubscribe":
                resume_reader(session, reader)
            elif action == "pause":
                if reader.status == "unsubscribed":
                    resume_reader(session, reader)
                now = self.ctx.clock()
                until = now.date() + dt.timedelta(days=PAUSE_INSTEAD_DAYS)
                pause_reader(session, reader, until, now)
                return until.isoformat()
            else:
                raise InvalidInput(f"unknown action {action[:40]!r}")
            return ""

    # -- Click redirect ---------------------------------------------------------------------------

    async def click(self, request: Request) -> Response:
        token = self.ctx.codec.read_click(request.path_params["token"])
        url = await run_in_threadpool(self._click, token.reader_id, token.paper_id, token.digest_id,
                                      request.method == "GET")
        return RedirectResponse(url, status_code=302)

    def _click(self, reader_id: int, paper_id: str, digest_id: int | None, record: bool) -> str:
        with self.ctx.store.transaction() as session:
            reader, paper = session.get(Reader, reader_id), session.get(Paper, paper_id)
            if reader is None or paper is None:
                raise InvalidInput("this link names a reader or paper that does not exist")
            if not is_web_url(paper.url):
                raise InvalidInput("this paper has no web address")
            if record:  # (a digest row removed since the link was sent is dropped by the store)
                record_feedback(session, reader_id, paper_id, "click", "email", digest_id=digest_id)
            return str(paper.url).strip()


def routes(ctx: WebContext) -> list[BaseRoute]:
    """``/f/<token>`` feedback, ``/u/<token>`` unsubscribe, ``/c/<token>`` click redirect."""
    h = _Handlers(ctx)
    return [
        Route("/f/{token}", h.feedback, methods=["GET", "POST"]),
        Route("/u/{token}", h.unsubscribe, methods=["GET", "POST"]),
        Route("/c/{token}", h.click, methods=["GET"]),
    ]
