"""Digest view-models and their rendering: HTML email, plain text, archive page and index.

Templates live in the ``templates`` package and are rendered by one Jinja2 environment with
autoescaping on for ``.html`` (plain text is not HTML, so ``.txt`` is not escaped). Templates see
view-models only — never ORM rows — so rendering needs no database session.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import css_inline
import jinja2

__all__ = [
    "DigestView",
    "IndexEntry",
    "ItemView",
    "authors_line",
    "environment",
    "format_period",
    "period_heading",
    "render_email_html",
    "render_index",
    "render_notice_html",
    "render_notice_text",
    "render_page",
    "render_template",
    "render_text",
    "shorten",
    "snippet",
    "strip_bidi",
]

SNIPPET_CHARS = 300
TITLE_CHARS = 300  # a 2,000-character title must not swallow the email
SHORT_TITLE_CHARS = 80
HIGHLIGHT_CHARS = 400  # one sentence; the rare run-on one is cut at a word with an ellipsis
_NEWLINES = re.compile(r"\s*\n\s*")
# Embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069): a title holding U+202E
# would reverse the text after it, in the title and past it (a link or button can look like
# another). Direction comes from dir="auto" on the element instead.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
# Jinja constructs, and the includes of the email template (flattened before inlining).
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_INCLUDE = re.compile(r'[ \t]*\{%-?\s*include\s+"([^"]+)"\s*-?%\}\n?')
_MARK = re.compile("<!--\ue000([0-9]+)\ue001-->|\ue000([0-9]+)\ue001")


@dataclass(frozen=True)
class ItemView:
    rank: int
    paper_id: str
    title: str
    short_title: str
    link_url: str | None  # click-tracking link, None when the paper has no URL
    authors: str
    snippet: str
    reason: str
    more_url: str
    less_url: str
    arxiv_id: str | None = None
    abs_url: str | None = None  # arXiv abstract page
    pdf_url: str | None = None
    search_url: str | None = None  # only when the paper has no address at all
    highlight: str = ""  # one sentence of the abstract, the closest to what the reader likes

    @property
    def href(self) -> str | None:
        """Where the title links: the tracked stored URL, else arXiv, else a title search."""
        return self.link_url or self.abs_url or self.search_url


@dataclass(frozen=True)
class DigestView:
    subject: str
    heading: str
    intro: str
    period: str
    reader_email: str
    keywords: str
    items: Sequence[ItemView]
    unsubscribe_url: str
    date_label: str = ""
    settings_url: str = ""
    browser_url: str = ""  # this digest on the web ("view in browser")
    archive_url: str = ""


@dataclass(frozen=True)
class IndexEntry:
    period: str
    href: str
    count: int
    top_title: str
    label: str = ""  # the date a reader sees; the period when a page predates labels


def strip_bidi(text: str) -> str:
    """``text`` without bidirectional embedding, override and isolate control characters."""
    return text.translate(_BIDI_CONTROLS)


def shorten(text: str, limit: int) -> str:
    """Collapse whitespace and cut at a word boundary before ``limit`` characters, adding '…'.

    Bidi control characters are dropped (:func:`strip_bidi`): every title and snippet shown in an
    email, a page or a subject passes through here.
    """
    text = " ".join(strip_bidi(text or "").split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    # Cut at a word when one ends reasonably close; a single giant word is cut where it is.
    if space >= limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def snippet(abstract: str, limit: int = SNIPPET_CHARS) -> str:
    return shorten(abstract, limit)


def authors_line(authors: Sequence[str] | None, limit: int = 6) -> str:
    names = [" ".join(strip_bidi(str(a)).split()) for a in (authors or []) if str(a).strip()]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" et al. ({len(names)} authors)"
    return ", ".join(names)


@functools.cache
def environment() -> jinja2.Environment:
    """The one template environment (built on first use, not at import)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("paperdigest.templates", ""),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True,
                                            default=True, disabled_extensions=("txt",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # The templates are package files that do not change while a process runs: without this,
        # every page view stats its template files (a tenth of a feedback POST's CPU).
        auto_reload=False,
    )


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    # keep_at_rules keeps the @media blocks (dark mode, narrow screens) in a <style> element;
    # never fetch remote stylesheets.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False, minify_css=True)


def _flatten(env: jinja2.Environment, name: str) -> str:
    source = env.loader.get_source(env, name)[0] if env.loader else ""
    return _INCLUDE.sub(lambda m: _flatten(env, m.group(1)), source)


@functools.cache
def _inlined_email_template() -> jinja2.Template | None:
    """``email.html`` with its CSS inlined once, or None when that cannot be done faithfully.

    The selectors match on tags and classes written in the template, never on values, so the
    template itself can be inlined: each Jinja construct is hidden behind a marker (a comment for
    statements, which may sit between table rows; text for expressions), the markup goes through
    the same inliner, and the markers are put back. If a marker moved or vanished (the HTML parser
    relocates text it finds in odd places), the caller inlines every rendered message instead.
    """
    env = environment()
    hidden: list[str] = []

    def hide(match: re.Match[str]) -> str:
        hidden.append(match.group(0))
        mark = f"\ue000{len(hidden) - 1}\ue001"
        return mark if match.group(0).startswith("{{") else f"<!--{mark}-->"

    skeleton = _JINJA.sub(hide, _flatten(env, "email.html"))
    if "\ue000" in "".join(hidden):
        return None
    inlined = _inliner().inline(skeleton)
    if not _in_order(inlined, len(hidden)):
        return None
    return env.from_string(_MARK.sub(lambda m: hidden[int(m.group(1) or m.group(2))], inlined))


def _in_order(inlined: str, count: int) -> bool:
    """Every marker once, in template order (attributes may be reordered within their tag)."""
    keys = []
    for match in _MARK.finditer(inlined):
        at = match.start()
        tag = inlined.rfind("<", 0, at)
        if match.group(2) is not None and tag > inlined.rfind(">", 0, at):
            at = tag
        keys.append((at, int(match.group(1) or match.group(2))))
    return [index for _, index in sorted(keys)] == list(range(count))


def _join_lines(html: str) -> str:
    """``_NEWLINES.sub(" ", html)`` without the regex: each whitespace run holding a newline -> " "."""
    if "\n" not in html:
        return html
    lines = html.split("\n")
    out = [lines[0].rstrip()]
    out.extend(stripped for line in lines[1:-1] if (stripped := line.strip()))
    out.append(lines[-1].lstrip())
    return " ".join(out)


def render_email_html(view: DigestView) -> str:
    """The HTML part: CSS inlined, ``@media`` rules kept."""
    # Line breaks between tags are just whitespace to HTML (there is no <pre>), but every line
    # costs an SMTP server work; the message composer re-wraps at spaces under 998 octets.
    template = _inlined_email_template()
    if template is not None:
        return _join_lines(template.render(view=view))
    return _join_lines(_inliner().inline(environment().get_template("email.html").render(view=view)))


def render_text(view: DigestView) -> str:
    """The plain-text part, same content as the HTML."""
    return environment().get_template("email.txt").render(view=view)


def render_page(view: DigestView, index_href: str = "index.html") -> str:
    """The standalone archive page of one digest (a stylesheet, no inlining needed)."""
    # The page is what "View in browser" opens: it does not link to itself.
    return environment().get_template("page.html").render(view=replace(view, browser_url=""),
                                                          index_href=index_href)


def render_index(entries: Sequence[IndexEntry]) -> str:
    return environment().get_template("index.html").render(entries=entries)


def render_notice_text(view: DigestView) -> str:
    return environment().get_template("notice.txt").render(view=view)


def render_notice_html(view: DigestView) -> str:
    return _inliner().inline(environment().get_template("notice.html").render(view=view))


def render_template(template: str, /, **context: Any) -> str:
    """Any page of the web app (``templates/<name>``) from plain values."""
    return environment().get_template(template).render(**context)


def _long_date(day: dt.date) -> str:
    return f"{day:%A}, {day.day} {day:%B %Y}"


def period_heading(period: str, today: dt.date | None,
                   default_today: Callable[[], dt.date] = dt.date.today) -> str:
    """What a reader sees for a period: '2026-11-25' -> 'Wednesday, 25 November 2026',
    '2026-W48' -> 'week of Monday, 23 November 2026'; anything else (``batch:17``) -> ``today``
    (``default_today()`` when None: only asked for when needed)."""
    try:
        if len(period) == 10:
            return _long_date(dt.date.fromisoformat(period))
        if len(period) == 8 and period[4:6] == "-W":
            return "week of " + _long_date(dt.date.fromisocalendar(int(period[:4]), int(period[6:]), 1))
    except ValueError:
        pass
    return _long_date(today if today is not None else default_today())


def format_period(period: str) -> str:
    """'batch:17' -> 'batch 17'; dates and ISO weeks unchanged."""
    if period.startswith("batch:"):
        return f"batch {period.split(':', 1)[1]}"
    return period

