"""A reader's settings page at ``/s/<token>``: no password, no account — the signed link is the key.

CSRF-safe by construction: the page link is a secret another site cannot know, every form also
carries a short-lived *form token* bound to the reader, their link generation and their settings
revision, and cross-site POSTs are refused by ``Origin``/``Sec-Fetch-Site``. Every accepted POST
moves the revision on (a conditional UPDATE), so the same POST replayed — or a stale second tab —
is refused with 409 and changes nothing. After a change the browser is sent back (303) to the page.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import available_timezones

from paperdigest.core.errors import InvalidInput
from paperdigest.digest.compose import reader_info, reader_page_url
from paperdigest.store.feedback import current_reactions, record_feedback
from paperdigest.store.models import CADENCES, Reader
from paperdigest.store.readers import (
    KEYWORDS_MAX,
    WEEKDAYS,
    ReaderFields,
    bump_settings_rev,
    pause_reader,
    reactions_with_titles,
    reset_personalisation,
    resume_reader,
    update_reader,
)
from paperdigest.web.common import Conflict, Form, WebContext, check_origin, page, redirect, render
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

__all__ = ["MAX_FORM_BYTES", "routes", "time_zones"]

MAX_FORM_BYTES = 64 * 1024
FORMAT_LABELS = (("email", "Email with the papers"), ("html", "Web page"), ("feed", "Atom feed"))
CADENCE_LABELS = {"each_batch": "Whenever new papers arrive", "daily": "Daily", "weekly": "Weekly"}
_DONE = {"save": "Your settings are saved.", "pause": "Your digest is paused.",
         "resume": "Your digest is back on.", "undo": "Done: that reaction is withdrawn.",
         "reset_confirm": "Your personalisation is reset."}


@functools.cache
def time_zones() -> tuple[str, ...]:
    """IANA zone names the settings page offers (and the only ones it accepts)."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def _int(form: Any, name: str, label: str) -> int:
    value = str(form.get(name, "")).strip()
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{label} must be a whole number, got {value[:20]!r}") from None


def _fields(form: Any) -> ReaderFields:
    """The settings form as ReaderFields; every value is checked by ``ReaderFields.validated``."""
    zone = str(form.get("timezone", "")).strip()
    if zone not in time_zones():
        raise InvalidInput(f"unknown time zone {zone[:64]!r}; pick one from the list")
    keywords = str(form.get("keywords", ""))
    if len(keywords) > KEYWORDS_MAX:
        raise InvalidInput(f"the keyword list is longer than {KEYWORDS_MAX} characters")
    relevance = str(form.get("min_relevance", "")).strip()
    fields = ReaderFields(
        name=str(form.get("name", ""))[:200], timezone=zone, cadence=str(form.get("cadence", "")),
        send_hour=_int(form, "send_hour", "send hour"), digest_size=_int(form, "digest_size", "size"),
        format=str(form.get("format", "")), keywords=keywords.replace("\n", ",").split(","),
        web_notice=form.get("web_notice") == "on",
    )
    weekday = str(form.get("weekday", "")).strip()
    if weekday:
        fields.weekday = weekday
    if relevance:
        try:
            fields.min_relevance = float(relevance)
        except ValueError:
            raise InvalidInput(f"minimum relevance must be a number from 0 to 1, got {relevance[:20]!r}"
                               ) from None
    else:
        fields.clear = ("min_relevance",)
    choice = str(form.get("nothing_strong", "")).strip()
    if choice:
        fields.nothing_strong = choice  # note or skip, checked with every other field
    else:
        fields.clear = (*fields.clear, "nothing_strong")  # "as the site does"
    return fields


class _Handlers:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    async def show(self, request: Request) -> Response:
        token = request.path_params["token"]
        context = await run_in_threadpool(self._context, token)
        done = _DONE.get(request.query_params.get("done", ""), "")
        return render("settings.html", heading="Your paperdigest settings", done=done, **context)

    def _context(self, token: str) -> dict[str, Any]:
        with self.ctx.store.read() as session:  # a page view: no write lock
            reader = self.ctx.reader_for_page(session, "settings", token)
            info = reader_info(reader)
            return {
                "reader": info, "action": f"/s/{token}",
                "csrf": self.ctx.codec.form(reader.id, reader.link_generation or 0, reader.settings_rev or 0),
                "values": {
                    "name": reader.name or "", "keywords": ", ".join(reader.keywords or ()),
                    "timezone": reader.timezone or "UTC", "cadence": reader.cadence,
                    "weekday": WEEKDAYS[reader.weekday] if reader.weekday is not None else "",
                    "send_hour": reader.send_hour, "digest_size": reader.digest_size,
                    "format": reader.format, "web_notice": bool(reader.web_notice),
                    "min_relevance": "" if reader.min_relevance is None else f"{reader.min_relevance:g}",
                    "nothing_strong": reader.nothing_strong or "",
                    "status": reader.status,
                    "paused_until": reader.paused_until.isoformat() if reader.paused_until else "",
                },
                "reactions": reactions_with_titles(session, reader.id),
                "zones": time_zones(), "cadences": [(c, CADENCE_LABELS[c]) for c in CADENCES],
                "weekdays": WEEKDAYS, "formats": FORMAT_LABELS, "keywords_max": KEYWORDS_MAX,
                "today": self.ctx.clock().date().isoformat(),
                "nothing_strong_default": self.ctx.settings.nothing_strong,
                "archive_url": reader_page_url(self.ctx.settings, self.ctx.codec, "archive", info),
                "feed_url": reader_page_url(self.ctx.settings, self.ctx.codec, "feed", info),
            }

    async def change(self, request: Request) -> Response:
        token = request.path_params["token"]
        self.ctx.codec.read_page("settings", token)  # a bad link is refused before the body is read
        check_origin(self.ctx, request)
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            raise HTTPException(413, "the form is too large")
        async with request.form(max_files=0, max_fields=50) as form:
            values = {k: str(v) for k, v in form.items()}
        action = values.get("action", "")
        if action == "reset":  # a question only: nothing changes until the confirm button
            return page("Reset your personalisation?",
                        "paperdigest forgets every like, dislike and click of yours and starts again"
                        " from your keywords. This cannot be undone.",
                        forms=(Form(f"/s/{token}", "Yes, reset my personalisation",
                                    (("action", "reset_confirm"), ("csrf", values.get("csrf", ""))),
                                    "danger"),),
                        links=(("No, keep it", f"/s/{token}"),))
        await run_in_threadpool(self._apply, token, action, values)
        return redirect(self.ctx, f"/s/{token}?done={action}")

    def _apply(self, token: str, action: str, form: dict[str, str]) -> None:
        if action not in _DONE:
            raise InvalidInput(f"unknown action {action[:40]!r}")
        with self.ctx.store.transaction() as session:
            reader = self.ctx.reader_for_page(session, "settings", token)
            csrf = self.ctx.codec.read_form(form.get("csrf", ""))
            if csrf.reader_id != reader.id or csrf.generation != (reader.link_generation or 0):
                raise InvalidInput("this form belongs to another link")
            if not bump_settings_rev(session, reader.id, csrf.revision):
                raise Conflict("This page was used for another change since it was loaded;"
                               " reload it and try again.")
            session.refresh(reader)
            self._act(session, reader, action, form)

    def _act(self, session: Any, reader: Reader, action: str, form: dict[str, str]) -> None:
        now = self.ctx.clock()
        if action == "save":
            update_reader(session, reader, _fields(form))
        elif action == "pause":
            text = form.get("until", "").strip()
            try:
                until = dt.date.fromisoformat(text) if text else None
            except ValueError:
                raise InvalidInput(f"not a date: {text[:20]!r} (use YYYY-MM-DD)") from None
            pause_reader(session, reader, until, now)
        elif action == "resume":
            resume_reader(session, reader)
        elif action == "undo":
            paper = form.get("paper", "")
            if current_reactions(session, reader.id).get(paper) is None:
                raise InvalidInput("there is no like or dislike of that paper to undo")
            record_feedback(session, reader.id, paper, "unlike", "web")
        elif action == "reset_confirm":
            reset_personalisation(session, reader.id)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """``/s/<token>``: GET shows the settings page, POST changes one thing."""
    h = _Handlers(ctx)
    return [Route("/s/{token}", h.show, methods=["GET"]), Route("/s/{token}", h.change, methods=["POST"])]
