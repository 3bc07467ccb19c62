"""Templates and email composition: escaping, snippets, odd papers, headers."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _digest_helpers import parse
from paperdigest.core import InvalidInput, Settings, load_settings
from paperdigest.digest.compose import (
    SUBJECT_CHARS,
    ItemInfo,
    PaperInfo,
    ReaderInfo,
    build_message,
    build_view,
    message_id_for,
)
from paperdigest.digest.render import render_email_html, render_page, render_text, shorten, snippet
from paperdigest.digest.tokens import TokenCodec

NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
EVIL = '<script>alert("x")</script> "onload=alert(1) <b>bold</b>'


@pytest.fixture
def cfg(home: Path) -> Settings:
    return load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_BASE_URL": "https://d.example.org"})


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(["k-new", "k-old"])


def _reader(**kw: object) -> ReaderInfo:
    values: dict[str, object] = {"id": 7, "email": "ann@example.org", "name": "Ann"}
    values.update(kw)
    return ReaderInfo(**values)  # type: ignore[arg-type]


def _item(title: str = "A paper", abstract: str = "About things.", url: str | None = "https://x.org/1",
          authors: tuple[str, ...] = ("Ada", "Alan"), reason: str = "similar to ‘B’",
          pid: str = "2501.00001") -> ItemInfo:
    return ItemInfo(PaperInfo(pid, title, abstract, authors, url), 0.5, reason)


def test_snippet_cuts_at_a_word() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    cut = snippet(text)
    assert len(cut) <= 300 and cut.endswith("…")
    assert cut[:-1] == text[: len(cut) - 1] and text[len(cut) - 1] == " "  # ends where a word ended
    assert snippet("short  and\n spaced") == "short and spaced"
    assert shorten("x" * 1000, 50) == "x" * 49 + "…"  # one giant word: cut anyway


class _Tags(HTMLParser):
    """Which elements and attributes a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: set[str] = set()
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text += data


def test_everything_is_escaped(cfg: Settings, codec: TokenCodec) -> None:
    view = build_view(_reader(name=EVIL), 1, "2026-11-25",
                      [_item(title=EVIL, abstract=EVIL, reason=EVIL, authors=(EVIL,))], cfg, codec)
    for html in (render_email_html(view), render_page(view)):
        tags = _Tags()
        tags.feed(html)
        assert "script" not in tags.names and "b" not in tags.names
        assert not any(a.startswith("on") for a in tags.attributes)
        assert "&lt;script&gt;" in html
        assert tags.text.count(EVIL) >= 3  # title, snippet, reason shown as text
    # Plain text is not HTML: it shows the title exactly as written.
    assert EVIL in render_text(view)


def test_email_html_is_one_column_inlined_and_keeps_media_queries(cfg: Settings, codec: TokenCodec) -> None:
    view = build_view(_reader(), 1, "2026-11-25", [_item(), _item(pid="2501.00002")], cfg, codec)
    html = render_email_html(view)
    assert 'width="600"' in html and "max-width:600px" in html.replace(" ", "")
    assert "@media (prefers-color-scheme: dark)" in html and "@media (max-width:" in html
    assert re.search(r'<h2 [^>]*style="[^"]*font-size', html)  # CSS inlined into elements
    assert "<img" not in html  # readable with images off: there are none
    assert html.count(">More like this</a>") == 2 and html.count(">Less like this</a>") == 2
    assert '<html lang="en">' in html and "<h1" in html
    assert "Unsubscribe from paperdigest" in html and "You get this digest because" in html


def test_text_part_has_the_same_content(cfg: Settings, codec: TokenCodec) -> None:
    items = [_item(title=f"Paper {i}", pid=f"2501.0000{i}") for i in range(3)]
    view = build_view(_reader(), 1, "2026-11-25", items, cfg, codec)
    text, html = render_text(view), render_email_html(view)
    for item in view.items:
        for value in (item.title, item.more_url, item.less_url, item.link_url or "", item.snippet):
            assert value in text
            assert value.replace("&", "&amp;") in html
    assert view.unsubscribe_url in text


def test_paper_without_abstract_url_or_authors(cfg: Settings, codec: TokenCodec) -> None:
    view = build_view(_reader(), 1, "p", [_item(abstract="", url=None, authors=())], cfg, codec)
    html, text = render_email_html(view), render_text(view)
    assert view.items[0].link_url is None and "/c/" not in html and "Read:" not in text
    assert 'class="snippet"' not in html and 'class="authors"' not in html
    assert "More like this" in html  # feedback still possible
    # A stored URL that is not http(s) is never linked.
    js = build_view(_reader(), 1, "p", [_item(url="javascript:alert(1)")], cfg, codec)
    assert js.items[0].link_url is None and "javascript:" not in render_email_html(js)


def test_huge_title_rtl_and_emoji(cfg: Settings, codec: TokenCodec) -> None:
    rtl = "שלום עולם: למידה עמוקה 🤖📄 مرحبا بالعالم"
    huge = ("Very long title " * 125)[:2000]
    view = build_view(_reader(name="زينب 🌟"), 1, "2026-11-25",
                      [_item(title=huge, pid="a"), _item(title=rtl, abstract=rtl, pid="b")], cfg, codec)
    assert len(view.items[0].title) <= 300 and len(view.subject) <= SUBJECT_CHARS
    html = render_email_html(view)
    assert rtl in html and 'dir="auto"' in html
    msg = build_message(view, _reader(name="زينب 🌟"), message_id="<m@x>", settings=cfg, now=NOW)
    back = parse(msg.as_bytes())
    assert back["Subject"] == view.subject and back["To"].addresses[0].display_name == "زينب 🌟"
    assert all(len(line) <= 998 for line in msg.as_bytes().split(b"\r\n"))
    assert rtl in back.get_body(("plain",)).get_content()
    assert rtl in back.get_body(("html",)).get_content()


def test_message_headers(cfg: Settings, codec: TokenCodec) -> None:
    view = build_view(_reader(), 42, "batch:17", [_item(title="Top paper")], cfg, codec)
    mid = message_id_for(42, 7, "batch:17", cfg)
    assert mid == message_id_for(42, 7, "batch:17", cfg)  # stable across retries
    assert mid != message_id_for(43, 7, "batch:17", cfg)
    assert re.fullmatch(r"<[A-Za-z0-9.-]+@[A-Za-z0-9.-]+>", mid)
    msg = parse(build_message(view, _reader(), message_id=mid, settings=cfg, now=NOW).as_bytes())
    assert msg["Subject"] == "1 new paper for you — Top paper"
    assert msg["Message-ID"] == mid and msg["Date"].datetime == NOW
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"].startswith("<https://d.example.org/u/")
    assert "mailto:" not in msg["List-Unsubscribe"]  # the From mailbox is not read by anything


@pytest.mark.parametrize("email", ["", "   ", "no-at-sign", "a@b.c\r\nBcc: x@evil.example", "a b@c.org"])
def test_bad_addresses_are_refused(cfg: Settings, codec: TokenCodec, email: str) -> None:
    view = build_view(_reader(email=email), 1, "p", [_item()], cfg, codec)
    with pytest.raises(InvalidInput, match=r"reader 7|email address"):
        build_message(view, _reader(email=email), message_id="<m@x>", settings=cfg, now=NOW)


def test_tokens_rotate_and_carry_no_address() -> None:
    old = TokenCodec(["k-old"])
    rotated = TokenCodec(["k-new", "k-old"])
    token = old.feedback(7, "2501.00001", "like", 3)
    assert rotated.read_feedback(token).kind == "like"  # links signed before a rotation still work
    fresh = rotated.unsubscribe(7)
    with pytest.raises(InvalidInput):
        old.read_unsubscribe(fresh)  # the new key signs
    with pytest.raises(InvalidInput):
        rotated.read_unsubscribe(token)  # another purpose's salt
    import base64

    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"@" not in decoded


@pytest.mark.parametrize("paper_id", ["2501.00001", "ümlaut-✓", 'quote"back\\slash'])
def test_tokens_are_exactly_what_itsdangerous_signs(monkeypatch: pytest.MonkeyPatch, paper_id: str) -> None:
    import time

    codec = TokenCodec(["k-new", "k-old"])
    monkeypatch.setattr(time, "time", lambda: 1_790_000_000.5)  # one clock for both signers
    assert codec.feedback(7, paper_id, "like", 3) == codec._feedback.dumps([7, paper_id, "l", 3])
    assert codec.feedback(7, paper_id, "dislike", None) == codec._feedback.dumps([7, paper_id, "d", None])
    assert codec.click(7, paper_id, 3) == codec._click.dumps([7, paper_id, 3])
    assert codec.unsubscribe(7) == codec._unsub.dumps([7])
    # The cached timestamp follows the clock: a token signed a day later carries that day.
    monkeypatch.setattr(time, "time", lambda: 1_790_086_400.0)
    later = codec.click(7, paper_id, 3)
    assert later == codec._click.dumps([7, paper_id, 3])
    _, stamp = codec._click.loads(later, return_timestamp=True)
    assert int(stamp.timestamp()) == 1_790_086_400
    # The hand-joined JSON payload is the serializer's for any value, not only ids.
    from paperdigest.digest.tokens import _payload

    for data in ([True, 1.5, paper_id, None, -3], [0], [[1], {"k": paper_id}]):
        assert _payload(data) == codec._unsub.dump_payload(data)


class _Events(HTMLParser):
    """Tags with their attributes (any order), text with whitespace collapsed, comments."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[object, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, tuple(sorted(attrs, key=lambda a: a[0]))))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if text := " ".join(data.split()):
            self.events.append(("text", text))


def _events(html: str) -> list[tuple[object, ...]]:
    parser = _Events()
    parser.feed(html)
    parser.close()
    return parser.events


def test_inlining_the_template_once_gives_what_inlining_each_message_gave(cfg: Settings,
                                                                         codec: TokenCodec) -> None:
    from paperdigest.digest import render

    assert render._inlined_email_template() is not None  # the fast path is the one in use
    odd = EVIL + " & 'q' \n\r\t x"
    views = [
        build_view(_reader(keywords=("graphs", "vision")), 1, "2026-11-25",
                   [_item(title=f"Paper {i}", pid=f"2501.0000{i}") for i in range(10)], cfg, codec),
        build_view(_reader(name=odd, email=odd, keywords=(odd,)), 2, odd,
                   [_item(title=odd, abstract=odd, reason=odd, authors=(odd,), pid=odd,
                          url='https://x.org/?a=1&b="2"'),
                    _item(abstract="", url=None, authors=(), reason="")], cfg, codec),
    ]
    for view in views:
        rendered = render.environment().get_template("email.html").render(view=view)
        per_message = render._NEWLINES.sub(" ", render._inliner().inline(rendered))
        fast = render_email_html(view)
        assert _events(fast) == _events(per_message)
        assert "\n" not in fast and fast.count("<style>") == 1


def test_line_joining_matches_the_regex() -> None:
    import random

    from paperdigest.digest.render import _NEWLINES, _join_lines

    rng = random.Random(4)
    alphabet = ["a", "<p>", " ", "\t", "\n", "\r", "\u00a0", "\u2003", "\x1c", "x y"]
    samples = ["", "\n", "a", " \n ", "a\n\nb", "\n a \n"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(30))) for _ in range(3000)]
    for text in samples:
        assert _join_lines(text) == _NEWLINES.sub(" ", text), repr(text)
