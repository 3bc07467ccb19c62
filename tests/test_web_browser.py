"""The reader's own pages in headless Chromium against uvicorn on loopback, mail via aiosmtpd.

Settings (change cadence and keywords, undo a like, pause), subscribe with double opt-in through
the real SMTP server, the archive from an email's "view in browser" link, and the feed. Each page
is screenshot at 1200 and 390 px in light and dark (test-artifacts/) and checked with axe-core
run in the page: no serious or critical violations.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from _digest_helpers import GRAPH, VISION, KeywordRanker, Recorder, add_batch, add_readers, parse, smtp_server
from conftest import free_port, need
from paperdigest.core import load_settings
from paperdigest.digest import TokenCodec, make_backend, send_digests
from paperdigest.store import Store
from paperdigest.store.feedback import current_reactions, record_feedback
from paperdigest.store.models import Reader
from paperdigest.web import create_app
from test_digest_browser import ARGS
from test_digest_web import serve

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / ".cache" / "node" / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [pytest.mark.browser, pytest.mark.slow]  # ~45 s of Chromium


@dataclass
class Live:
    url: str
    store: Store
    codec: TokenCodec
    mail: Recorder


@pytest.fixture
def live(home: Path) -> Iterator[Live]:
    port, smtp_port = free_port(), free_port()
    settings = load_settings(env={
        "PAPERDIGEST_HOME": str(home), "PAPERDIGEST_BASE_URL": f"http://127.0.0.1:{port}",
        "PAPERDIGEST_DELIVERY": "smtp", "PAPERDIGEST_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?timeout=5",
        "PAPERDIGEST_SIGNUP": "open",
    })
    store, _ = Store.initialise(settings)
    with smtp_server(smtp_port) as smtp:
        gen = serve(create_app(settings, store), port)
        next(gen)
        try:
            yield Live(settings.base_url, store, TokenCodec(store.secret_keys()), smtp.handler)
        finally:
            next(gen, None)
            store.close()


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright (python) is not installed")
        return
    need(AXE.is_file(), f"axe-core is not installed at {AXE} (run scripts/setup --test)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, args=ARGS, headless=True)
        try:
            # bypass_csp: our pages forbid scripts, and axe-core is one injected for the check.
            context = chromium.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True)
            yield context.new_page()
        finally:
            chromium.close()


def check_page(page: Any, name: str) -> None:
    """Screenshots at 1200 and 390 px, light and dark; axe-core finds nothing serious in either."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1200, 390):
            page.set_viewport_size({"width": width, "height": 900})
            shot = ARTIFACTS / f"web-{name}-{width}-{scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 3_000
        serious = [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]
        assert not serious, f"{name} ({scheme}): {serious}"
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1200, "height": 900})


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return list(page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))"))


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_settings_page_in_chromium(live: Live, browser: Any) -> None:
    papers = add_batch(live.store, GRAPH + VISION)
    [rid] = add_readers(live.store, ("ann@example.org", ["graph"]), name="Ann")
    with live.store.transaction() as session:
        record_feedback(session, rid, papers[3], "like", "email")
        record_feedback(session, rid, papers[4], "dislike", "email")
    page = browser
    page.goto(f"{live.url}/s/{live.codec.page('settings', rid, 0)}")
    check_page(page, "settings")
    # The checker itself works: an input without a label is a critical violation.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<input type=text id=stray>')")
    assert "label" in {v["id"] for v in axe_violations(page)}
    page.reload()
    page.get_by_label("Interests").fill("graph transformers, molecules")
    page.get_by_label("How often").select_option("weekly")
    page.get_by_label("Day of the week").select_option("wed")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Your settings are saved.").wait_for()
    with live.store.transaction() as session:
        row = session.get(Reader, rid)
        assert row is not None
        assert (row.cadence, row.weekday, row.timezone) == ("weekly", 2, "Europe/Berlin")
        assert row.keywords == ["graph transformers", "molecules"]
    # Undo the like (its title is on the page), keep the dislike.
    page.get_by_role("button", name=f"Undo like: {VISION[0][0]}").click()
    page.get_by_text("Done: that reaction is withdrawn.").wait_for()
    with live.store.transaction() as session:
        assert current_reactions(session, rid) == {papers[4]: "dislike"}
    # Pause through tomorrow (Berlin time): no digest that day.
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()
    page.get_by_label("Pause through").fill(tomorrow.isoformat())
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_text("Your digest is paused.").wait_for()
    check_page(page, "settings-paused")
    report = send_digests(live.store, live.store.settings, now=dt.datetime.now(dt.UTC),
                          backend=make_backend(live.store.settings),
                          ranker=KeywordRanker({str(rid): ["graph"]}))
    assert report.sent == 0 and live.mail.received == []


def test_subscribe_through_the_real_smtp_server(live: Live, browser: Any) -> None:
    page = browser
    page.goto(f"{live.url}/subscribe")
    check_page(page, "subscribe")
    page.get_by_label("Email address").fill("new@example.org")
    page.get_by_label("Name").fill("Nia")
    page.get_by_label("Interests").fill("graph kernels")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_text("Check your inbox").wait_for()
    _wait_for(lambda: len(live.mail.received) == 1)
    with live.store.transaction() as session:
        assert session.query(Reader).count() == 0  # not before the click
    mail = parse(live.mail.received[0].data)
    assert live.mail.received[0].recipients == ["new@example.org"]
    body = mail.get_body(("plain",))
    assert body is not None
    link = re.search(r"(http\S+/subscribe/confirm/\S+)", body.get_content())
    assert link
    page.goto(link.group(1))
    page.get_by_role("button", name="Yes, subscribe me").click()
    page.get_by_role("heading", name="You are subscribed").wait_for()
    check_page(page, "subscribed")
    with live.store.transaction() as session:
        [reader] = session.query(Reader).all()
        assert (reader.email, reader.status) == ("new@example.org", "active")
        assert reader.keywords == ["graph kernels"]
    page.get_by_role("link", name="Your settings").click()
    page.get_by_role("heading", name="Your paperdigest settings").wait_for()


def test_archive_from_the_email_and_the_feed(live: Live, browser: Any) -> None:
    add_batch(live.store, GRAPH + VISION)
    [rid] = add_readers(live.store, ("ann@example.org", ["graph"]), name="Ann")
    report = send_digests(live.store, live.store.settings, now=dt.datetime.now(dt.UTC),
                          backend=make_backend(live.store.settings),
                          ranker=KeywordRanker({str(rid): ["graph"]}))
    assert report.sent == 1
    _wait_for(lambda: len(live.mail.received) == 1)
    html = parse(live.mail.received[0].data).get_body(("html",))
    assert html is not None
    browser_link = re.search(r'href="([^"]+)"[^>]*>View in browser', html.get_content())
    assert browser_link
    page = browser
    page.goto(browser_link.group(1))
    assert page.get_by_role("heading", level=1).inner_text().startswith("3 new papers")
    assert page.get_by_role("heading", level=2).count() == 3
    check_page(page, "archive-digest")
    page.get_by_role("link", name="All digests").click()
    page.get_by_role("heading", name="Your paperdigest archive").wait_for()
    today = dt.datetime.now(dt.UTC).date()
    assert f"{today.day} {today:%B %Y}" in page.content()
    check_page(page, "archive-index")
    feed_url = f"{live.url}/feed/{live.codec.page('feed', rid, 0)}"
    feed = feedparser.parse(httpx.get(feed_url).content)
    assert not feed.bozo and len(feed.entries) == 3
    assert {e.title for e in feed.entries} == {title for title, _ in GRAPH}
