"""Subscribe with double opt-in at ``/subscribe`` (only when ``PAPERDIGEST_SIGNUP`` is not 'off').

Nothing is stored until the address owner follows the emailed link: the confirmation token itself
carries the address, name and keywords (signed, two days). The answer to the form is the same
whether or not the address is subscribed already — an existing reader gets an email with their
settings link instead of a confirmation — so the page reveals nothing about who reads what.
Requests are rate limited per client and per address; past a limit nothing is sent (429).
"""

from __future__ import annotations

import collections
import hashlib
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr

from paperdigest.core.errors import InvalidInput
from paperdigest.digest.compose import reader_info, reader_page_url
from paperdigest.digest.delivery import Outgoing, make_backend
from paperdigest.digest.render import render_template
from paperdigest.store.models import Reader
from paperdigest.store.readers import (
    KEYWORDS_MAX,
    ReaderFields,
    add_reader,
    find_reader,
    resume_reader,
    update_reader,
    validate_email,
)
from paperdigest.web.common import Form, WebContext, check_origin, page, render
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

__all__ = ["PER_ADDRESS", "PER_CLIENT", "RateLimiter", "routes"]

PER_CLIENT = (5, 3600.0)  # subscribe requests per client per hour
PER_ADDRESS = (3, 86_400.0)  # confirmation emails per address per day
_MAX_BODY = 16 * 1024  # a form of three short fields; a 10,000-character one is still read and refused


class RateLimiter:
    """Sliding-window counters in memory (per process: several workers each count their own)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._hits: dict[str, collections.deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Count one request of ``key``; False when it is over the limit (not counted then)."""
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            hits = self._hits[key] = collections.deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:  # a flood of distinct keys: forget the oldest half
            for key in list(self._hits)[: self.max_keys // 2]:
                del self._hits[key]


class _Handlers:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.per_client = RateLimiter(*PER_CLIENT)
        self.per_address = RateLimiter(*PER_ADDRESS)

    def _enabled(self) -> None:
        if not self.ctx.settings.signup_enabled:
            raise HTTPException(404)

    async def form(self, request: Request) -> Response:
        self._enabled()
        return render("subscribe.html", heading="Subscribe to paperdigest", policy=self._policy())

    def _policy(self) -> str:
        signup = self.ctx.settings.signup
        if signup.startswith("domain:"):
            return "Open to addresses at " + ", ".join(signup[len("domain:"):].split(",")) + "."
        return ""

    async def submit(self, request: Request) -> Response:
        self._enabled()
        check_origin(self.ctx, request)
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > _MAX_BODY:
            raise HTTPException(413, "the form is too large")
        client = request.client.host if request.client else "unknown"
        if not self.per_client.allow(client):
            raise HTTPException(429, "Too many subscribe requests from here; try again in an hour.",
                                headers={"Retry-After": str(int(PER_CLIENT[1]))})
        async with request.form(max_files=0, max_fields=10) as form:
            values = {k: str(v) for k, v in form.items()}
        email = validate_email(values.get("email", ""))
        if not self.ctx.settings.signup_allows(email):
            raise InvalidInput("subscriptions are open only to addresses at "
                               + self.ctx.settings.signup[len("domain:"):].replace(",", ", "))
        name = " ".join(values.get("name", "").split())[:200]
        keywords = values.get("keywords", "")
        if len(keywords) > KEYWORDS_MAX:
            raise InvalidInput(f"the keyword list is longer than {KEYWORDS_MAX} characters")
        words = ReaderFields(keywords=keywords.replace("\n", ",").split(",")).validated()["keywords"]
        key = hashlib.sha256(email.lower().encode()).hexdigest()  # no addresses kept in memory
        if self.per_address.allow(key):
            await run_in_threadpool(self._send, email, name, words)
        # Over the address limit: the same answer, and no email (the owner already has several).
        return page("Check your inbox",
                    f"If {email} can subscribe, an email with a confirmation link is on its way."
                    " Nothing happens until you click it; the link works for two days.")

    def _send(self, email: str, name: str, keywords: list[str]) -> None:
        with self.ctx.store.transaction() as session:
            try:
                reader = find_reader(session, email)
            except LookupError:
                reader = None
            active = reader is not None and reader.status != "unsubscribed"
            settings_url = (reader_page_url(self.ctx.settings, self.ctx.codec, "settings",
                                            reader_info(reader)) if reader is not None and active else "")
        if active:
            subject, template = "You already get paperdigest", "signup_known.txt"
            link = settings_url
        else:
            subject, template = "Confirm your paperdigest subscription", "signup_confirm.txt"
            link = self.ctx.url(f"/subscribe/confirm/{self.ctx.codec.signup(email, name, keywords)}")
        self._mail(email, name, subject, render_template(template, link=link, name=name))

    def _mail(self, to: str, name: str, subject: str, text: str) -> None:
        settings = self.ctx.settings
        sender = parseaddr(settings.from_addr)[1] or "digest@localhost"
        msg = EmailMessage(policy=SMTP)
        msg["From"], msg["To"], msg["Subject"] = settings.from_addr, to, subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid("signup", domain=settings.list_id)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text)
        data = msg.as_bytes()
        stem = f"signup-{hashlib.sha256(to.lower().encode()).hexdigest()[:12]}-{time.time_ns()}"
        backend = make_backend(settings)
        backend.open()
        try:
            result = backend.deliver(Outgoing(0, sender, to, data, stem, eight_bit=not data.isascii()))
        finally:
            backend.close()
        if result.status != "sent":
            raise InvalidInput("the confirmation email could not be sent just now; please try later")

    async def confirm(self, request: Request) -> Response:
        self._enabled()
        token = request.path_params["token"]
        data = self.ctx.codec.read_signup(token)
        here = request.url.path
        if request.method != "POST":  # mail scanners open links: only the button subscribes
            return page("Confirm your subscription", f"Subscribe {data.email} to paperdigest?",
                        forms=(Form(here, "Yes, subscribe me"),))
        check_origin(self.ctx, request)
        settings_url = await run_in_threadpool(self._activate, data.email, data.name, list(data.keywords))
        return page("You are subscribed", "Your first digest comes at the next sending time."
                    " Choose how often, when and what on your settings page.",
                    links=(("Your settings", settings_url),))

    def _activate(self, email: str, name: str, keywords: list[str]) -> str:
        address = validate_email(email)
        with self.ctx.store.transaction() as session:
            try:
                reader: Reader | None = find_reader(session, address)
            except LookupError:
                reader = None
            if reader is None:
                reader = add_reader(session, ReaderFields(
                    email=address, name=name, keywords=keywords, digest_size=self.ctx.settings.digest_size))
            elif reader.status == "unsubscribed":  # confirmed by the owner: welcome back
                resume_reader(session, reader)
                if keywords:
                    update_reader(session, reader, ReaderFields(keywords=keywords))
            return reader_page_url(self.ctx.settings, self.ctx.codec, "settings", reader_info(reader))


def routes(ctx: WebContext) -> list[BaseRoute]:
    """``/subscribe`` form and POST, ``/subscribe/confirm/<token>`` (GET asks, POST subscribes)."""
    h = _Handlers(ctx)
    return [
        Route("/subscribe", h.form, methods=["GET"]),
        Route("/subscribe", h.submit, methods=["POST"]),
        Route("/subscribe/confirm/{token}", h.confirm, methods=["GET", "POST"]),
    ]
