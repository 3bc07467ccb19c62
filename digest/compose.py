"""From a digest's rows to what the reader gets: the view-model, the email, the archive page.

Plain frozen dataclasses cross the boundary from the store (:class:`ReaderInfo`, :class:`ItemInfo`),
so composing and rendering run outside any database transaction.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import functools
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr
from typing import TYPE_CHECKING
from urllib.parse import quote_plus, urlsplit

from paperdigest.core.errors import InvalidInput
from paperdigest.core.settings import Settings
from paperdigest.digest.render import (
    HIGHLIGHT_CHARS,
    SHORT_TITLE_CHARS,
    TITLE_CHARS,
    DigestView,
    ItemView,
    authors_line,
    period_heading,
    render_email_html,
    render_notice_html,
    render_notice_text,
    render_text,
    shorten,
    snippet,
)
from paperdigest.digest.tokens import TokenCodec
from paperdigest.store.readers import validate_email

if TYPE_CHECKING:  # rows are only read here; the ORM stays the store's business
    from paperdigest.store.models import DigestItem, Paper, Reader

__all__ = [
    "SUBJECT_CHARS",
    "WEAK_MARK",
    "Composed",
    "ItemInfo",
    "PaperInfo",
    "ReaderInfo",
    "build_message",
    "build_view",
    "compose_message",
    "compose_notice",
    "is_web_url",
    "message_id_for",
    "paper_info",
    "paper_links",
    "reader_info",
    "reader_page_url",
    "stored_item",
]

SUBJECT_CHARS = 120
# Headers are folded by the email package; a long unsubscribe token has no spaces to fold at, so
# allow RFC 5322's hard limit instead of the 78-column soft one.
_POLICY = SMTP.clone(max_line_length=998)
_ID_SAFE = re.compile(r"[^A-Za-z0-9.-]+")
_ARXIV_ID = re.compile(r"(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?")
SEARCH_URL = "https://scholar.google.com/scholar?q="  # last resort when a paper has no address


@dataclass(frozen=True)
class ReaderInfo:
    id: int
    email: str
    name: str = ""
    timezone: str = "UTC"
    format: str = "email"
    digest_size: int = 10
    keywords: tuple[str, ...] = ()
    status: str = "active"
    link_generation: int = 0
    web_notice: bool = True  # html/feed readers: a short notice email when a page is up
    min_relevance: float | None = None  # like probability a paper needs; None: the setting
    nothing_strong: str | None = None  # "note" or "skip" when nothing clears it; None: the setting


@dataclass(frozen=True)
class PaperInfo:
    id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    url: str | None = None
    arxiv_id: str | None = None


# Start of the reason of a paper below the reader's threshold ("nothing strong today" digests).
WEAK_MARK = "weaker match"


@dataclass(frozen=True)
class ItemInfo:
    paper: PaperInfo
    score: float
    reason: str = ""
    probability: float | None = None  # estimated like probability, None when uncalibrated
    weak: bool = False  # below the reader's threshold: shown in a "nothing strong today" digest
    highlight: str = ""  # the abstract sentence closest to the reader's taste ("" when none)


def paper_info(paper: Paper) -> PaperInfo:
    """The one Paper row -> :class:`PaperInfo` conversion (ranking, delivery, web pages)."""
    return PaperInfo(paper.id, paper.title, paper.abstract or "", tuple(paper.authors or ()),
                     paper.url, paper.arxiv_id)


def stored_item(item: DigestItem, paper: Paper) -> ItemInfo:
    """The one stored DigestItem row (with its paper) -> :class:`ItemInfo` conversion (resends,
    the archive, the feed)."""
    return ItemInfo(paper_info(paper), item.score, item.reason, highlight=item.highlight or "")


def reader_info(reader: Reader) -> ReaderInfo:
    """A plain snapshot of a reader row, safe to use after the session closes."""
    return ReaderInfo(id=reader.id, email=reader.email or "", name=reader.name or "",
                      timezone=reader.timezone or "UTC", format=reader.format or "email",
                      digest_size=reader.digest_size or 10, keywords=tuple(reader.keywords or ()),
                      status=reader.status, link_generation=reader.link_generation or 0,
                      web_notice=bool(reader.web_notice if reader.web_notice is not None else True),
                      min_relevance=reader.min_relevance, nothing_strong=reader.nothing_strong)


def reader_page_url(settings: Settings, codec: TokenCodec, purpose: str, reader: ReaderInfo) -> str:
    """Absolute URL of a reader's settings page, archive or feed (see :mod:`paperdigest.web`)."""
    token = codec.page(purpose, reader.id, reader.link_generation)
    path = {"settings": "s", "archive": "a", "feed": "feed"}[purpose]
    return f"{settings.base_url}/{path}/{token}" + ("/" if purpose == "archive" else "")


def paper_links(paper: PaperInfo, has_url: bool | None = None
                ) -> tuple[str | None, str | None, str | None, str | None]:
    """``(arxiv_id, abstract_url, pdf_url, search_url)`` of a paper.

    arXiv papers get their abstract and PDF pages; a paper with neither an arXiv id nor a web
    address gets a search link built from its title, so every paper has somewhere to go.
    """
    arxiv = (paper.arxiv_id or "").strip()
    if arxiv and _ARXIV_ID.fullmatch(arxiv):
        return arxiv, f"https://arxiv.org/abs/{arxiv}", f"https://arxiv.org/pdf/{arxiv}", None
    if is_web_url(paper.url) if has_url is None else has_url:
        return None, None, None, None
    title = " ".join(paper.title.split())[:300]
    return None, None, None, (SEARCH_URL + quote_plus(title)) if title else None


def is_web_url(url: str | None) -> bool:
    """Only http(s) URLs with a host are ever linked or redirected to."""
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def build_view(
    reader: ReaderInfo, digest_id: int | None, period: str, items: Sequence[ItemInfo],
    settings: Settings, codec: TokenCodec, *, today: dt.date | None = None,
) -> DigestView:
    """The template view-model of one digest, with signed links for every button.

    ``today`` dates a digest whose period is not a date (``batch:17``); default: the reader's
    local date now. Headings carry dates, never internal batch numbers.
    """
    base = settings.base_url
    views: list[ItemView] = []
    for rank, item in enumerate(items, start=1):
        paper = item.paper
        title = shorten(paper.title, TITLE_CHARS) or paper.id
        has_url = is_web_url(paper.url)
        arxiv_id, abs_url, pdf_url, search_url = paper_links(paper, has_url)
        link = None
        if has_url:
            link = f"{base}/c/{codec.click(reader.id, paper.id, digest_id)}"
        views.append(ItemView(
            rank=rank, paper_id=paper.id, title=title,
            short_title=shorten(paper.title, SHORT_TITLE_CHARS) or paper.id, link_url=link,
            authors=authors_line(paper.authors), snippet=snippet(paper.abstract),
            reason=shorten(item.reason, 300), highlight=shorten(item.highlight, HIGHLIGHT_CHARS),
            more_url=f"{base}/f/{codec.feedback(reader.id, paper.id, 'like', digest_id)}",
            less_url=f"{base}/f/{codec.feedback(reader.id, paper.id, 'dislike', digest_id)}",
            arxiv_id=arxiv_id, abs_url=abs_url, pdf_url=pdf_url, search_url=search_url,
        ))
    count = len(views)
    noun = "paper" if count == 1 else "papers"
    top = views[0].title if views else ""
    subject = shorten(f"{count} new {noun} for you — {top}" if top else f"{count} new {noun} for you",
                      SUBJECT_CHARS)
    heading = f"{count} new {noun} for you"
    greeting = f"Hello {shorten(reader.name, 60)}, here" if reader.name.strip() else "Here"
    when = period_heading(period, today, lambda: _reader_today(reader))
    intro = f"{greeting} are the newest papers picked for you ({when})."
    # Stored digest items keep only the reason, so the mark in it is what survives a resend.
    if items and all(item.weak or item.reason.startswith(WEAK_MARK) for item in items):
        subject = shorten(f"Nothing strong today — {count} weaker {noun}", SUBJECT_CHARS)
        heading = "Nothing strong today"
        intro = (f"{greeting} are the best {count} new {noun} ({when}); none reached your relevance "
                 "threshold, so each is marked as a weaker match.")
    archive = reader_page_url(settings, codec, "archive", reader)
    return DigestView(
        subject=subject,
        heading=heading,
        intro=intro,
        period=period,
        reader_email=reader.email,
        keywords=", ".join(reader.keywords[:10]),
        items=views,
        unsubscribe_url=f"{base}/u/{codec.unsubscribe(reader.id)}",
        date_label=when,
        settings_url=reader_page_url(settings, codec, "settings", reader),
        browser_url=archive + (str(digest_id) if digest_id is not None else ""),
        archive_url=archive,
    )


def _reader_today(reader: ReaderInfo) -> dt.date:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(reader.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return dt.datetime.now(zone).date()


def message_id_for(digest_id: int, reader_id: int, period: str, settings: Settings) -> str:
    """A Message-ID derived from the digest row: the same on every retry of the same digest."""
    domain = _ID_SAFE.sub("", settings.list_id) or "paperdigest.localhost"
    tag = hashlib.sha256(f"{settings.database_url}|{digest_id}".encode()).hexdigest()[:12]
    safe_period = _ID_SAFE.sub("-", period).strip("-") or "period"
    return f"<digest.{digest_id}.{reader_id}.{safe_period}.{tag}@{domain}>"


def _recipient(reader: ReaderInfo) -> Address:
    if not (reader.email or "").strip():
        raise InvalidInput(f"reader {reader.id} has no email address")
    email = validate_email(reader.email)
    local, domain = email.rsplit("@", 1)
    name = " ".join(reader.name.split())[:100]
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise InvalidInput(f"reader {reader.id}: invalid email address {email!r} ({exc})") from None


@dataclass(frozen=True)
class Composed:
    """A ready-to-send digest email: the exact bytes, the HTML part, the envelope recipient."""

    data: bytes
    html: str
    recipient: str
    eight_bit: bool  # a part is 8bit: SMTP needs BODY=8BITMIME (RFC 6152)


def _encoded_words(value: str) -> str:
    """RFC 2047 base64 encoded-words of at most 45 UTF-8 octets each, folded onto new lines.

    Characters are never split across words. (``email.header.Header`` does the same but spends
    most of a digest's composing time measuring characters one by one.)
    """
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for ch in value:
        n = len(ch.encode("utf-8"))
        if size + n > 45:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    words.append("".join(chunk))
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?="
                         for w in words)


def _header(name: str, value: str) -> bytes:
    if value.isascii():
        return f"{name}: {value}\r\n".encode("ascii")
    return f"{name}: {_encoded_words(value)}\r\n".encode("ascii")


def _address(name: str, addr: str) -> str:
    # formataddr quotes specials and RFC 2047-encodes a non-ASCII display name.
    return formataddr((name, addr), charset="utf-8")


def _qp(text: str) -> bytes:
    return binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True).replace(b"\n", b"\r\n")


_MAX_LINE = 990  # octets; RFC 5322 allows 998 before CRLF


def _body(text: str) -> tuple[str, bytes]:
    """Content-Transfer-Encoding and body bytes of one text part.

    Lines are kept as they are (8bit, or 7bit when ASCII) and only over-long ones are broken at a
    space — a newline is whitespace in HTML and harmless in the text part. Quoted-printable would
    turn a digest into ~550 short lines, which is what SMTP servers spend their time on; it is the
    fallback when a line has no space to break at.
    """
    raw = text.replace("\r", "").encode("utf-8")
    lines: list[bytes] = []
    for line in raw.split(b"\n"):
        while len(line) > _MAX_LINE:
            cut = line.rfind(b" ", 0, _MAX_LINE)
            if cut <= 0:
                return "quoted-printable", _qp(text)
            lines.append(line[:cut])
            line = line[cut + 1:]
        lines.append(line)
    return ("7bit" if raw.isascii() else "8bit"), b"\r\n".join(lines)


# A run formats the same sender and the same "now" for every message (~25 us each time).
@functools.lru_cache(maxsize=64)
def _sender(from_addr: str) -> tuple[str, str]:
    name, addr = parseaddr(from_addr)
    return name, addr or "digest@localhost"


@functools.lru_cache(maxsize=64)
def _date(now: dt.datetime) -> str:
    return format_datetime(now.astimezone(dt.UTC))


def compose_message(
    view: DigestView, reader: ReaderInfo, *, message_id: str, settings: Settings, now: dt.datetime,
) -> Composed:
    """The digest email as bytes: multipart/alternative, text first then HTML, list headers.

    Written directly rather than through ``EmailMessage``'s header registry, which costs a few
    milliseconds per message — most of the budget when thousands of digests go out in a run.
    :func:`build_message` parses these bytes back into an ``EmailMessage``; tests check both.
    Raises :class:`InvalidInput` when the reader has no usable email address.
    """
    return _compose(view.subject, render_text(view), render_email_html(view), view.unsubscribe_url,
                    reader, message_id=message_id, settings=settings, now=now)


def compose_notice(
    view: DigestView, reader: ReaderInfo, *, message_id: str, settings: Settings, now: dt.datetime,
) -> Composed:
    """The short "your digest page is up" email of a web-page or feed reader (no paper list)."""
    subject = shorten(f"Your paperdigest for {view.date_label} is up — {len(view.items)} papers",
                      SUBJECT_CHARS)
    return _compose(subject, render_notice_text(view), render_notice_html(view), view.unsubscribe_url,
                    reader, message_id=message_id, settings=settings, now=now)


def _compose(subject: str, text: str, html: str, unsubscribe_url: str, reader: ReaderInfo, *,
             message_id: str, settings: Settings, now: dt.datetime) -> Composed:
    to = _recipient(reader)
    sender_name, sender = _sender(settings.from_addr)
    boundary = f"=_pd_{secrets.token_hex(16)}"  # "=_" never occurs in QP; 128 random bits
    head = b"".join((
        _header("From", _address(sender_name, sender)),
        _header("To", _address(to.display_name, to.addr_spec)),
        _header("Subject", subject),
        _header("Date", _date(now)),
        _header("Message-ID", message_id),
        _header("List-Id", f"paperdigest <{settings.list_id}>"),
        # HTTPS one-click only (RFC 8058): a mailto: would point at the From address, where nothing
        # reads unsubscribe requests.
        _header("List-Unsubscribe", f"<{unsubscribe_url}>"),
        _header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        _header("Auto-Submitted", "auto-generated"),
        b"MIME-Version: 1.0\r\n",
        _header("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ))
    part = '--{b}\r\nContent-Type: text/{t}; charset="utf-8"\r\nContent-Transfer-Encoding: {e}\r\n\r\n'
    text_cte, text_body = _body(text)
    html_cte, html_body = _body(html)
    data = b"".join((
        head, b"\r\n",
        part.format(b=boundary, t="plain", e=text_cte).encode("ascii"), text_body, b"\r\n",
        part.format(b=boundary, t="html", e=html_cte).encode("ascii"), html_body, b"\r\n",
        f"--{boundary}--\r\n".encode("ascii"),
    ))
    return Composed(data, html, to.addr_spec, "8bit" in (text_cte, html_cte))


def build_message(
    view: DigestView, reader: ReaderInfo, *, message_id: str, settings: Settings, now: dt.datetime,
) -> EmailMessage:
    """The digest email as an ``EmailMessage`` (see :func:`compose_message`)."""
    data = compose_message(view, reader, message_id=message_id, settings=settings, now=now).data
    msg = email.message_from_bytes(data, policy=_POLICY)
    if not isinstance(msg, EmailMessage):  # the policy's factory makes one; keep mypy honest
        raise TypeError("expected an EmailMessage")
    return msg
