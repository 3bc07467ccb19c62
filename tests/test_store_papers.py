"""store.papers on SQLite and PostgreSQL: dedupe, relinking, no-op re-ingest, rollback, queries."""

from __future__ import annotations

import pytest
from paperdigest.core import InvalidInput, NotFound
from paperdigest.ingest import ingest_batch
from paperdigest.store.models import Batch, BatchPaper, Paper
from paperdigest.store.papers import (
    NewBatch,
    NewPaper,
    find_paper,
    get_batch,
    list_batches,
    list_papers,
    papers_in_batches,
    search_papers,
    upsert_batch,
)
from sqlalchemy import event, func, select


def _paper(title: str, arxiv: str | None = None, **kw: object) -> NewPaper:
    return NewPaper(title=title, abstract=kw.pop("abstract", f"About {title.lower()}."),  # type: ignore[arg-type]
                    arxiv_id=arxiv, **kw)  # type: ignore[arg-type]


def _counts(store) -> tuple[int, int, int]:
    with store.transaction() as session:
        return (session.scalar(select(func.count()).select_from(Paper)),
                session.scalar(select(func.count()).select_from(Batch)),
                session.scalar(select(func.count()).select_from(BatchPaper)))


def test_known_papers_are_linked_not_duplicated(any_store) -> None:
    first = NewBatch("hf", "day1", [_paper("Graph Experts", "2507.01001"), _paper("Token Budgets")])
    second = NewBatch("arxiv", "day2", [
        _paper("graph experts!", None), _paper("Token budgets", "2507.01017v2"),
        _paper("Event Depth", "2507.00988"),
    ])
    r1 = ingest_batch(any_store, first)
    r2 = ingest_batch(any_store, second)
    assert (r1.new_papers, r1.linked_papers) == (2, 0)
    assert (r2.new_papers, r2.linked_papers) == (1, 2)
    assert r2.paper_ids[:2] == r1.paper_ids  # same papers, matched by title then by arXiv id
    assert _counts(any_store) == (3, 2, 5)
    with any_store.transaction() as session:
        token = session.get(Paper, r1.paper_ids[1])
        assert token is not None and token.arxiv_id == "2507.01017"  # gap filled by the later batch
        assert find_paper(session, "arXiv:2507.01017v3").id == token.id


def test_same_batch_again_is_a_no_op(any_store) -> None:
    batch = NewBatch("file", "a.txt", [_paper("One"), _paper("Two")])
    first = ingest_batch(any_store, batch)
    again = ingest_batch(any_store, NewBatch("file", "copy-of-a.txt", [_paper("One"), _paper("Two")]))
    assert first.created and not again.created
    assert again.batch_id == first.batch_id and again.paper_ids == first.paper_ids
    assert _counts(any_store) == (2, 1, 2)
    # Same papers under another source: a new batch, papers linked.
    other = ingest_batch(any_store, NewBatch("hf", "api", [_paper("One"), _paper("Two")]))
    assert other.created and other.linked_papers == 2
    assert _counts(any_store) == (2, 2, 4)


def test_upvotes_are_kept_and_raised(any_store) -> None:
    r1 = ingest_batch(any_store, NewBatch("hf", "d1", [_paper("Votes", "2507.00001", upvotes=3)]))
    # Same content again would be a no-op; a later day that lists the paper again raises the count.
    ingest_batch(any_store, NewBatch("hf", "d2", [_paper("Votes", "2507.00001", upvotes=9), _paper("New")]))
    with any_store.transaction() as session:
        assert session.get(Paper, r1.paper_ids[0]).upvotes == 9


@pytest.mark.parametrize(
    ("papers", "message"),
    [
        ([_paper("Twice"), _paper("twice.")], r"b\.txt, line 8: the same paper appears twice.*line 3"),
        ([_paper("A", "2507.00001"), _paper("B", "2507.00001v2")], r"arXiv 2507\.00001 appears twice"),
        ([_paper("x" * 10_000)], r"title is 10,000 characters"),
        ([_paper("   ")], r"empty title"),
    ],
)
def test_invalid_batches_write_nothing(any_store, papers: list[NewPaper], message: str) -> None:
    for line, paper in zip((3, 8), papers, strict=False):
        paper.line = line
    with pytest.raises(InvalidInput, match=message):
        ingest_batch(any_store, NewBatch("file", "b.txt", papers))
    assert _counts(any_store) == (0, 0, 0)


def test_failure_mid_write_rolls_back_the_whole_batch(any_store) -> None:
    ingest_batch(any_store, NewBatch("file", "first", [_paper("Kept")]))

    def fail_on_links(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO BATCH_PAPERS"):
            raise RuntimeError("disk full (injected)")

    # The batch row and the new papers are already flushed when the link insert fails.
    event.listen(any_store.engine, "before_cursor_execute", fail_on_links)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            ingest_batch(any_store, NewBatch("file", "second", [_paper("Lost"), _paper("Kept")]))
    finally:
        event.remove(any_store.engine, "before_cursor_execute", fail_on_links)
    assert _counts(any_store) == (1, 1, 1)
    retry = ingest_batch(any_store, NewBatch("file", "second", [_paper("Lost"), _paper("Kept")]))
    assert retry.created and retry.new_papers == 1


def test_queries_over_batches_and_papers(any_store) -> None:
    r1 = ingest_batch(any_store, NewBatch("hf", "d1", [_paper("Diffusion for Depth"), _paper("Graph Nets")]))
    r2 = ingest_batch(any_store, NewBatch("arxiv", "d2", [_paper("Graph Nets"), _paper("Depth Priors")]))
    with any_store.transaction() as session:
        assert [b.id for b in list_batches(session)] == [r2.batch_id, r1.batch_id]
        assert [b.id for b in list_batches(session, source="hf")] == [r1.batch_id]
        assert get_batch(session, r1.batch_id).paper_count == 2
        with pytest.raises(NotFound, match="no batch with id 999"):
            get_batch(session, 999)
        assert [p.title for p in list_papers(session, batch_id=r2.batch_id)] == ["Graph Nets", "Depth Priors"]
        assert len(list_papers(session)) == 3
        assert {p.title for p in search_papers(session, "depth")} == {"Diffusion for Depth", "Depth Priors"}
        assert [p.title for p in search_papers(session, "DEPTH diffusion")] == ["Diffusion for Depth"]
        assert len(papers_in_batches(session, [r1.batch_id, r2.batch_id])) == 3


def test_search_treats_like_wildcards_literally(any_store) -> None:
    ingest_batch(any_store, NewBatch("file", "w", [_paper("Top 1% Accuracy", abstract="Gains of 5% here."),
                                                  _paper("Plain Title", abstract="Nothing special.")]))
    with any_store.transaction() as session:
        assert [p.title for p in search_papers(session, "1%")] == ["Top 1% Accuracy"]
        assert search_papers(session, "_") == []


def test_upsert_batch_uses_the_callers_transaction(store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as session:
        upsert_batch(session, NewBatch("file", "x", [_paper("Rolled back")]))
        raise RuntimeError("caller fails later")
    assert _counts(store) == (0, 0, 0)


def test_concurrent_ingest_of_the_same_batch_stores_it_once(any_store) -> None:
    import threading

    papers = [_paper(f"Concurrent {i}", f"2507.{i:05d}") for i in range(300)]
    results = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(ingest_batch(any_store, NewBatch("hf", "same", list(papers))))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.created for r in results) == [False, True]
    assert _counts(any_store) == (300, 1, 300)
