"""The feedback app under a real uvicorn on a loopback port, driven over HTTP with httpx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from _digest_helpers import GRAPH, add_batch, add_readers
from conftest import free_port
from paperdigest.digest import TokenCodec
from paperdigest.store import Store
from paperdigest.store.feedback import current_reactions
from paperdigest.store.models import Interaction, Reader
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.web import create_app


@dataclass
class Running:
    url: str
    store: Store
    codec: TokenCodec


def serve(app: object, port: int) -> Iterator[None]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def web(store: Store) -> Iterator[Running]:
    port = free_port()
    app = create_app(store.settings, store)
    gen = serve(app, port)
    next(gen)
    try:
        yield Running(f"http://127.0.0.1:{port}", store, TokenCodec(store.secret_keys()))
    finally:
        next(gen, None)


def _interactions(store: Store) -> list[tuple[str, str, bool]]:
    with store.transaction() as session:
        return [(i.paper_id, i.kind, i.current) for i in session.query(Interaction).order_by(Interaction.id)]


def _seed(store: Store) -> tuple[int, list[str]]:
    papers = add_batch(store, GRAPH)
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    return rid, papers


def test_get_and_head_change_nothing_post_records_and_flips(web: Running) -> None:
    rid, papers = _seed(web.store)
    like = web.codec.feedback(rid, papers[0], "like", None)
    dislike = web.codec.feedback(rid, papers[0], "dislike", None)
    with httpx.Client(base_url=web.url) as client:
        page = client.get(f"/f/{like}")
        assert page.status_code == 200 and "<form method=\"post\"" in page.text
        assert "Yes, more like this" in page.text and page.headers["cache-control"] == "no-store"
        assert client.head(f"/f/{like}").status_code == 200
        assert _interactions(web.store) == []
        done = client.post(f"/f/{like}")
        assert done.status_code == 200 and "Thanks — your next digest will use this" in done.text
        assert client.post(f"/f/{like}").status_code == 200  # pressing twice changes nothing
        assert _interactions(web.store) == [(papers[0], "like", True)]
        client.post(f"/f/{dislike}")  # the other button flips it, history kept
    assert _interactions(web.store) == [(papers[0], "like", False), (papers[0], "dislike", True)]
    with web.store.transaction() as session:
        assert current_reactions(session, rid) == {papers[0]: "dislike"}


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-3],  # truncated
    lambda t: t[:10] + ("A" if t[10] != "A" else "B") + t[11:],  # tampered payload
    lambda t: "not-a-token",
])
def test_forged_tokens_are_refused(web: Running, mangle: object) -> None:
    rid, papers = _seed(web.store)
    token = mangle(web.codec.feedback(rid, papers[0], "like", None))  # type: ignore[operator]
    with httpx.Client(base_url=web.url) as client:
        for method in ("GET", "POST"):
            response = client.request(method, f"/f/{token}")
            assert response.status_code == 400 and "This link does not work" in response.text
        assert client.post(f"/u/{token}").status_code == 400
        assert client.get(f"/c/{token}").status_code == 400
    assert _interactions(web.store) == []


def test_tokens_of_another_key_or_purpose_or_expired_are_refused(web: Running) -> None:
    rid, papers = _seed(web.store)
    foreign = TokenCodec(["some other key"]).feedback(rid, papers[0], "like", None)
    cross = web.codec.click(rid, papers[0], None)  # a click token used as a feedback token
    fresh = web.codec.feedback(rid, papers[0], "like", None)
    with httpx.Client(base_url=web.url) as client:
        assert client.post(f"/f/{foreign}").status_code == 400
        assert client.post(f"/f/{cross}").status_code == 400
        assert client.post(f"/u/{cross}").status_code == 400
        # Shift the clock forward instead of waiting 180 days: sign with a timestamp in the past.
        signer = web.codec._feedback
        stale = signer.make_signer(signer.salt)
        payload = signer.dump_payload([rid, papers[0], "l", None])
        real_time = stale.get_timestamp
        stale.get_timestamp = lambda: int(time.time()) - 200 * 86_400  # type: ignore[method-assign]
        aged = stale.sign(payload).decode()
        stale.get_timestamp = real_time  # type: ignore[method-assign]
        response = client.post(f"/f/{aged}")
        assert response.status_code == 400 and "expired" in response.text
        assert client.post(f"/f/{fresh}").status_code == 200  # the same payload, in date: accepted
    assert [k for _, k, _ in _interactions(web.store)] == ["like"]


def test_unknown_reader_or_paper_is_400(web: Running) -> None:
    rid, papers = _seed(web.store)
    with httpx.Client(base_url=web.url) as client:
        assert client.get(f"/f/{web.codec.feedback(999, papers[0], 'like', None)}").status_code == 400
        assert client.post(f"/f/{web.codec.feedback(rid, 'no-such-paper', 'like', None)}").status_code == 400
        assert client.post(f"/u/{web.codec.unsubscribe(999)}").status_code == 400
        assert client.get(f"/c/{web.codec.click(rid, 'no-such-paper', None)}").status_code == 400
    assert _interactions(web.store) == []


@pytest.mark.parametrize("body", ["urlencoded", "multipart", "form-button"])
def test_one_click_unsubscribe(web: Running, body: str) -> None:
    rid, _ = _seed(web.store)
    url = f"/u/{web.codec.unsubscribe(rid)}"
    with httpx.Client(base_url=web.url, follow_redirects=False) as client:
        assert client.get(url).status_code == 200 and client.head(url).status_code == 200
        with web.store.transaction() as session:
            assert session.get(Reader, rid).status == "active"
        if body == "urlencoded":
            response = client.post(url, data={"List-Unsubscribe": "One-Click"})
        elif body == "multipart":
            response = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
        else:
            response = client.post(url)
        assert response.status_code == 200 and "You are unsubscribed" in response.text
        assert "location" not in response.headers
        assert client.post(url).status_code == 200  # again: still fine
    with web.store.transaction() as session:
        reader = session.get(Reader, rid)
        assert reader.status == "unsubscribed" and reader.unsubscribed_at is not None


def test_click_redirects_only_to_the_stored_url(web: Running) -> None:
    rid, papers = _seed(web.store)
    token = web.codec.click(rid, papers[1], None)
    with httpx.Client(base_url=web.url, follow_redirects=False) as client:
        assert client.head(f"/c/{token}").status_code == 302
        assert _interactions(web.store) == []  # HEAD records nothing
        for attempt in (f"/c/{token}", f"/c/{token}?next=https://evil.example",
                        f"/c/{token}?url=//evil.example"):
            response = client.get(attempt, headers={"Referer": "https://evil.example"})
            assert response.status_code == 302
            assert response.headers["location"] == "https://example.org/p/1"
        assert client.get(f"/c/{token}/https://evil.example").status_code == 404
    assert [k for _, k, _ in _interactions(web.store)] == ["click"] * 3


def test_click_on_paper_without_url_or_with_a_script_url(web: Running) -> None:
    rid, _ = _seed(web.store)
    with web.store.transaction() as session:
        result = upsert_batch(session, NewBatch(source="test", label="odd", papers=[
            NewPaper(title="No link at all"), NewPaper(title="Script link", url="javascript:alert(1)")]))
    with httpx.Client(base_url=web.url, follow_redirects=False) as client:
        for pid in result.paper_ids:
            response = client.get(f"/c/{web.codec.click(rid, pid, None)}")
            assert response.status_code == 400 and "no web address" in response.text
    assert _interactions(web.store) == []


def test_escaping_on_confirm_page(web: Running) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", []))
    with web.store.transaction() as session:
        [pid] = upsert_batch(session, NewBatch(source="test", label="x", papers=[
            NewPaper(title='<script>alert(1)</script> "onload=x')])).paper_ids
    with httpx.Client(base_url=web.url) as client:
        page = client.get(f"/f/{web.codec.feedback(rid, pid, 'like', None)}").text
    assert "<script>alert" not in page and "&lt;script&gt;" in page and '"onload=' not in page
