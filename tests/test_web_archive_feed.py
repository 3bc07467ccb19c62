"""The web archive, "view in browser", notice emails, links on every paper and the Atom feed."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import feedparser
import pytest
from _digest_helpers import KeywordRanker, add_readers, parse
from _web_helpers import Site, site
from paperdigest.core import Settings
from paperdigest.digest import FileBackend, send_digests
from paperdigest.store import Store
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch

PAPERS = [
    NewPaper("Graph attention on arXiv", "Attention over graph neighbourhoods. Second sentence.",
             arxiv_id="2511.01234", authors=["Ada Lovelace", "Alan Turing"],
             url="https://arxiv.org/abs/2511.01234"),
    NewPaper("Graph kernels from a lab page", "Kernels.", url="https://lab.example/kernels"),
    NewPaper("Graph <b>scraped</b> without any address", "No link anywhere.", authors=[]),
]


@pytest.fixture
def web(settings: Settings, store: Store) -> Any:
    with site(settings, store) as s:
        yield s


def _send(web: Site, rid: int, outbox: Path, **kw: Any) -> Any:
    with web.store.transaction() as session:
        upsert_batch(session, NewBatch(source="test", label="b", papers=list(PAPERS)))
    return send_digests(web.store, web.store.settings, now=dt.datetime.now(dt.UTC),
                        backend=FileBackend(outbox), ranker=KeywordRanker({str(rid): ["graph"]}), **kw)


def _local(url: str, web: Site) -> str:
    base = web.store.settings.base_url
    assert url.startswith(base), url
    return url[len(base):]


def test_every_email_links_to_its_page_in_the_browser_and_to_settings(web: Site, tmp_path: Path) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    report = _send(web, rid, tmp_path, period_for=lambda _r, _n: "batch:17")
    assert report.sent == 1
    [eml] = tmp_path.glob("*.eml")
    msg = parse(eml.read_bytes())
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    browser = re.search(r"View in browser: (\S+)", text)
    settings_link = re.search(r"Change your settings \(interests, how often, pause\): (\S+)", text)
    assert browser and settings_link and "View in browser" in html and "Change your settings" in html
    assert "batch" not in text.split("\n", 2)[1]  # the intro line carries a date, not a batch number
    today = dt.datetime.now(dt.UTC).date()
    assert f"{today.day} {today:%B %Y}" in text
    # Links on every paper: arXiv abstract + PDF, the stored URL (tracked), a title search.
    assert "arXiv:2511.01234  https://arxiv.org/abs/2511.01234  PDF: https://arxiv.org/pdf/2511.01234" in text
    assert "Search: https://scholar.google.com/scholar?q=Graph+%3Cb%3Escraped%3C%2Fb%3E" in text
    assert text.count("Read: ") == 2
    page = web.client.get(_local(browser.group(1), web))
    assert page.status_code == 200 and "Graph attention on arXiv" in page.text
    assert 'href="https://arxiv.org/pdf/2511.01234"' in page.text and "Ada Lovelace, Alan Turing" in page.text
    assert "Graph &lt;b&gt;scraped&lt;/b&gt;" in page.text
    assert web.client.get(_local(settings_link.group(1), web)).status_code == 200
    index = web.client.get(_local(browser.group(1), web).rsplit("/", 1)[0] + "/")
    assert index.status_code == 200 and f"{today.day} {today:%B %Y}" in index.text
    assert "batch" not in index.text


def test_archive_refuses_other_readers_digests_and_odd_ids(web: Site, tmp_path: Path) -> None:
    [ann, bob] = add_readers(web.store, ("ann@example.org", ["graph"]), ("bob@example.org", ["graph"]))
    with web.store.transaction() as session:
        upsert_batch(session, NewBatch(source="test", label="b", papers=list(PAPERS)))
    send_digests(web.store, web.store.settings, now=dt.datetime.now(dt.UTC), backend=FileBackend(tmp_path),
                 ranker=KeywordRanker({str(ann): ["graph"], str(bob): ["graph"]}))
    ann_token = web.codec.page("archive", ann, 0)
    ann_index = web.client.get(f"/a/{ann_token}/").text
    ids = [int(i) for i in re.findall(rf"/a/{re.escape(ann_token)}/(\d+)", ann_index)]
    assert len(ids) == 1
    bob_index = web.client.get(f"/a/{web.codec.page('archive', bob, 0)}").text  # no slash: no redirect
    [bob_id] = [int(i) for i in re.findall(r"/a/[^/\"]+/(\d+)", bob_index)]
    assert web.client.get(f"/a/{ann_token}/{bob_id}").status_code == 400
    assert web.client.get(f"/a/{ann_token}/{2**64}").status_code == 400
    assert web.client.get(f"/a/{web.codec.page('settings', ann, 0)}/").status_code == 400


@pytest.mark.parametrize("notice", [True, False])
def test_web_page_readers_get_a_short_notice_or_nothing(web: Site, tmp_path: Path, notice: bool) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]), format="html", web_notice=notice)
    assert _send(web, rid, tmp_path).sent == 1
    emails = list(tmp_path.glob("*.eml"))
    if not notice:
        assert emails == []
        return
    [eml] = emails
    msg = parse(eml.read_bytes())
    text = msg.get_body(("plain",)).get_content()
    assert msg["Subject"].startswith("Your paperdigest for ") and "is up" in msg["Subject"]
    assert "More like this" not in text and "Read it: " in text
    assert msg["List-Unsubscribe"]
    link = re.search(r"Read it: (\S+)", text)
    assert link and "Graph kernels from a lab page" in web.client.get(_local(link.group(1), web)).text


def test_the_feed_parses_and_links_every_paper(web: Site, tmp_path: Path) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]), format="feed", web_notice=False)
    assert _send(web, rid, tmp_path).sent == 1
    assert list(tmp_path.glob("*.eml")) == []
    answer = web.client.get(f"/feed/{web.codec.page('feed', rid, 0)}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.get("bozo_exception")
    titles = [e.title for e in feed.entries]
    assert sorted(titles) == sorted(p.title for p in PAPERS)
    links = {e.title: e.link for e in feed.entries}
    assert links["Graph attention on arXiv"] == "https://arxiv.org/abs/2511.01234"
    assert links["Graph kernels from a lab page"] == "https://lab.example/kernels"
    assert links["Graph <b>scraped</b> without any address"].startswith("https://scholar.google.com/")
    arxiv = next(e for e in feed.entries if e.title == "Graph attention on arXiv")
    assert [a.name for a in arxiv.authors] == ["Ada Lovelace", "Alan Turing"]
    assert "More like this" in arxiv.content[0].value and "/f/" in arxiv.content[0].value
    assert web.client.get(f"/feed/{web.codec.page('archive', rid, 0)}").status_code == 400


def test_feedback_confirm_page_shows_the_paper_and_offers_undo(web: Site, tmp_path: Path) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    with web.store.transaction() as session:
        ids = upsert_batch(session, NewBatch(source="test", label="b", papers=list(PAPERS))).paper_ids
    like = f"/f/{web.codec.feedback(rid, ids[0], 'like', None)}"
    first = web.client.get(like).text
    assert "Ada Lovelace, Alan Turing" in first and "Attention over graph neighbourhoods" in first
    assert web.client.post(like).status_code == 200
    again = web.client.get(like).text
    assert "You already liked this" in again and ">Undo<" in again
    undone = web.client.post(like, data={"action": "undo"})
    assert "Undone" in undone.text
    assert "More like this?" in web.client.get(like).text
    # Undo of a reaction that is not there changes nothing (no 'unlike' row appears).
    from paperdigest.store.models import Interaction

    with web.store.transaction() as session:
        before = session.query(Interaction).count()
    web.client.post(like, data={"action": "undo"})
    with web.store.transaction() as session:
        assert session.query(Interaction).count() == before


def test_unsubscribe_page_offers_pause_instead_and_resubscribe(web: Site) -> None:
    from paperdigest.store.models import Reader

    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    path = f"/u/{web.codec.unsubscribe(rid)}"
    done = web.client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert "Resubscribe" in done.text and "Pause for 4 weeks instead" in done.text

    def status() -> tuple[str, Any]:
        with web.store.transaction() as session:
            r = session.get(Reader, rid)
            assert r is not None
            return r.status, r.paused_until

    assert status()[0] == "unsubscribed"
    web.client.post(path, data={"action": "pause"})
    state, until = status()
    assert state == "paused" and until == dt.datetime.now(dt.UTC).date() + dt.timedelta(days=28)
    web.client.post(path, data={"action": "resubscribe"})
    assert status() == ("active", None)
    assert web.client.post(path, data={"action": "explode"}).status_code == 400


def test_a_web_reader_without_a_usable_address_still_gets_the_page(web: Site, tmp_path: Path) -> None:
    from paperdigest.store.models import Reader

    [good, bad] = add_readers(web.store, ("ann@example.org", ["graph"]), ("bob@example.org", ["graph"]),
                              format="html")
    with web.store.transaction() as session:
        row = session.get(Reader, bad)
        assert row is not None
        row.email = "not an address"  # as an old import might have left it
    with web.store.transaction() as session:
        upsert_batch(session, NewBatch(source="test", label="b", papers=list(PAPERS)))
    report = send_digests(web.store, web.store.settings, now=dt.datetime.now(dt.UTC),
                          backend=FileBackend(tmp_path),
                          ranker=KeywordRanker({str(good): ["graph"], str(bad): ["graph"]}))
    assert report.sent == 2
    assert [parse(p.read_bytes())["To"] for p in tmp_path.glob("*.eml")] == ["ann@example.org"]
    assert (web.store.settings.archive_dir / f"reader-{bad}").is_dir()


def test_the_written_archive_index_shows_dates_not_batches(web: Site, tmp_path: Path) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]), format="html", web_notice=False)
    assert _send(web, rid, tmp_path, period_for=lambda _r, _n: "batch:17").sent == 1
    index = (web.store.settings.archive_dir / f"reader-{rid}" / "index.html").read_text()
    today = dt.datetime.now(dt.UTC).date()
    visible = re.sub(r"<[^>]+>", "", index)  # the file is still named batch-17.html; the text is not
    assert f"{today:%A}, {today.day} {today:%B %Y} — 3 papers" in visible and "batch" not in visible
