"""Clicks are not likes: a mail scanner's prefetch burst is kept for statistics and trains nothing."""

from __future__ import annotations

from dataclasses import replace

import httpx
from _digest_helpers import GRAPH, VISION, add_batch, add_readers
from conftest import free_port
from paperdigest.digest import TokenCodec
from paperdigest.ranking import refit_model
from paperdigest.store import Store
from paperdigest.store.feedback import interactions_frame
from paperdigest.store.models import Interaction
from paperdigest.web import create_app
from sqlalchemy import func, select
from test_digest_web import serve


def test_prefetch_burst_is_counted_but_never_trains_the_model(store: Store) -> None:
    papers = add_batch(store, GRAPH + VISION)
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    codec = TokenCodec(store.secret_keys())
    port = free_port()
    running = serve(create_app(store.settings, store), port)  # real uvicorn on loopback
    next(running)
    try:
        _burst_then_like(store, codec, rid, papers, f"http://127.0.0.1:{port}")
    finally:
        next(running, None)


def _burst_then_like(store: Store, codec: TokenCodec, rid: int, papers: list[str], url: str) -> None:
    # What Safe Links and similar scanners do within a second of delivery: open every link of the
    # message, click links and the "More/Less like this" confirm pages alike.
    links = [f"/c/{codec.click(rid, p, None)}" for p in papers]
    links += [f"/f/{codec.feedback(rid, p, kind, None)}" for p in papers for kind in ("like", "dislike")]
    with httpx.Client(base_url=url) as scanner:
        for link in links:
            assert scanner.get(link).status_code in (200, 302)
    with store.transaction() as session:
        assert len(interactions_frame(session)) == 0
        assert len(interactions_frame(session, after_id=0)) == 0
        clicks = session.scalar(select(func.count()).where(Interaction.kind == "click"))
    assert clicks == len(papers)  # kept for statistics
    # The person then presses "More like this" on one paper: only that trains.
    with httpx.Client(base_url=url) as reader:
        assert reader.post(f"/f/{codec.feedback(rid, papers[0], 'like', None)}").status_code == 200
    with store.transaction() as session:
        frame = interactions_frame(session)
    assert list(zip(frame["paper"], frame["kind"], strict=True)) == [(papers[0], "like")]
    assert refit_model(store, replace(store.settings, content_backend="tfidf"))["interactions"] == 1
