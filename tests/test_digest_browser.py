"""A real reader's click path in headless Chromium: open a digest, More like this, confirm."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _digest_helpers import GRAPH, VISION, KeywordRanker, add_batch, add_readers, now
from conftest import free_port, need
from paperdigest.core import load_settings
from paperdigest.digest import FileBackend, send_digests
from paperdigest.store import Store
from paperdigest.store.feedback import current_reactions
from paperdigest.web import create_app
from test_digest_web import serve

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def served(home: Path) -> Iterator[tuple[Store, int]]:
    port = free_port()
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home),
                                  "PAPERDIGEST_BASE_URL": f"http://127.0.0.1:{port}"})
    store, _ = Store.initialise(settings)
    gen = serve(create_app(settings, store), port)
    next(gen)
    try:
        yield store, port
    finally:
        next(gen, None)
        store.close()


@pytest.mark.browser
def test_more_like_this_in_chromium(served: tuple[Store, int], chromium_path: str, tmp_path: Path) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright (python) is not installed")
        return
    store, _ = served
    papers = add_batch(store, GRAPH + VISION)
    [rid] = add_readers(store, ("ann@example.org", ["graph"]), name="Ann")
    outbox = tmp_path / "out"
    report = send_digests(store, store.settings, now=now(), backend=FileBackend(outbox),
                          ranker=KeywordRanker({str(rid): ["graph"]}))
    assert report.sent == 1
    [page_file] = outbox.glob("*.html")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 640, "height": 900})
            page.goto(page_file.as_uri())
            page.screenshot(path=str(ARTIFACTS / "digest-email.png"), full_page=True)
            assert page.get_by_role("heading", level=1).inner_text().startswith("3 new papers")
            # The @media rules survived CSS inlining: dark mode really turns the page dark.
            light = page.evaluate("getComputedStyle(document.querySelector('.main')).backgroundColor")
            page.emulate_media(color_scheme="dark")
            dark = page.evaluate("getComputedStyle(document.querySelector('.main')).backgroundColor")
            page.screenshot(path=str(ARTIFACTS / "digest-email-dark.png"), full_page=True)
            assert light == "rgb(255, 255, 255)" and dark == "rgb(28, 31, 35)"
            page.emulate_media(color_scheme="light")
            first_title = page.get_by_role("heading", level=2).first.inner_text()
            page.get_by_role("link", name="More like this").first.click()
            page.wait_for_url("**/f/**")
            assert "More like this?" in page.content()
            with store.transaction() as session:
                assert current_reactions(session, rid) == {}  # the confirm page changed nothing
            page.get_by_role("button", name="Yes, more like this").click()
            page.wait_for_load_state()
            assert "Thanks — your next digest will use this" in page.content()
            page.screenshot(path=str(ARTIFACTS / "digest-feedback-thanks.png"))
        finally:
            browser.close()
    with store.transaction() as session:
        reactions = current_reactions(session, rid)
    liked = [pid for pid, kind in reactions.items() if kind == "like"]
    assert len(liked) == 1 and liked[0] in papers[:3]
    assert first_title.strip()
    assert (ARTIFACTS / "digest-email.png").stat().st_size > 5_000
