"""Simultaneous POSTs of the same feedback link against the real app on real PostgreSQL and SQLite.

Issue #14 item 1: on PostgreSQL ``SELECT … FOR UPDATE`` locks nothing while no reaction exists, so two
requests for one link both inserted and one answered 500. Each pair here is released through a barrier
so the two requests reach the database together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from _digest_helpers import add_batch, add_readers
from conftest import free_port
from paperdigest.digest import TokenCodec
from paperdigest.store import Store
from paperdigest.store.models import Interaction
from paperdigest.web import create_app
from sqlalchemy import func, select

PAIRS = 30


@pytest.fixture
def served(any_store: Store) -> Iterator[tuple[str, Store]]:
    config = uvicorn.Config(create_app(any_store.settings, any_store), host="127.0.0.1",
                            port=free_port(), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}", any_store
    finally:
        server.should_exit = True
        thread.join(10)


def _fire_together(url: str, paths: list[str]) -> list[int]:
    """POST every path at once (one thread and connection each); returns the status codes."""
    barrier = threading.Barrier(len(paths))
    codes: list[int] = [0] * len(paths)

    def one(index: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/healthz")  # connect first, so the barrier releases the POSTs themselves
            barrier.wait()
            codes[index] = client.post(paths[index]).status_code

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return codes


def test_simultaneous_duplicate_and_opposite_posts_never_fail(served: tuple[str, Store]) -> None:
    url, store = served
    papers = add_batch(store, [(f"Graph paper number {i}", f"Abstract {i}.") for i in range(PAIRS)])
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    codec = TokenCodec(store.secret_keys())
    half = PAIRS // 2
    codes: list[int] = []
    for paper in papers[:half]:  # the same link twice at once
        token = codec.feedback(rid, paper, "like", None)
        codes += _fire_together(url, [f"/f/{token}", f"/f/{token}"])
    for paper in papers[half:]:  # both buttons at once: either may win, never both
        like, dislike = (codec.feedback(rid, paper, k, None) for k in ("like", "dislike"))
        codes += _fire_together(url, [f"/f/{like}", f"/f/{dislike}"])
    assert codes == [200] * (2 * PAIRS)
    with store.transaction() as session:
        current = dict(session.execute(
            select(Interaction.paper_id, func.count()).where(Interaction.current.is_(True))
            .group_by(Interaction.paper_id)).all())
        rows = dict(session.execute(
            select(Interaction.paper_id, func.count()).group_by(Interaction.paper_id)).all())
    assert current == {paper: 1 for paper in papers}  # exactly one live reaction per paper
    assert all(rows[paper] == 1 for paper in papers[:half])  # a duplicate adds no history row
    assert all(rows[paper] in (1, 2) for paper in papers[half:])
