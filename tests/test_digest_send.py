"""Building and sending digests on the real SQLite and PostgreSQL stores, file delivery."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

import pytest
from _digest_helpers import GRAPH, VISION, KeywordRanker, add_batch, add_readers, now, parse
from paperdigest.core import InvalidInput, NotFound
from paperdigest.digest import FileBackend, send_digests
from paperdigest.digest.send import resend_digest
from paperdigest.store import Store
from paperdigest.store.claims import claim_many
from paperdigest.store.digests import get_digest, list_digests
from paperdigest.store.feedback import record_feedback
from paperdigest.store.models import Reader


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "out"


def _outbox_files(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.exists() else []


def _ranker(ids: list[int], *keywords: list[str]) -> KeywordRanker:
    return KeywordRanker({str(i): k for i, k in zip(ids, keywords, strict=True)})


def test_sends_top_papers_once_per_period(any_store: Store, outbox: Path) -> None:
    settings = any_store.settings
    add_batch(any_store, GRAPH + VISION)
    ids = add_readers(any_store, ("ann@example.org", ["graph"]), ("bob@example.org", ["image"]))
    ranker = _ranker(ids, ["graph"], ["image"])
    backend = FileBackend(outbox)
    when = now()
    report = send_digests(any_store, settings, now=when, backend=backend, ranker=ranker)
    assert report.counts()["sent"] == 2 and report.failed == 0
    with any_store.transaction() as session:
        digests = {d.reader_id: get_digest(session, d.id) for d in list_digests(session)}
        titles = {rid: [i.paper.title for i in d.items] for rid, d in digests.items()}
        assert all(d.status == "sent" and d.message_id for d in digests.values())
        assert [i.rank for i in digests[ids[0]].items] == [1, 2, 3]
    assert sorted(titles[ids[0]]) == sorted(t for t, _ in GRAPH)
    assert len(titles[ids[1]]) == 2 and all("image" in t.lower() for t in titles[ids[1]])
    files = sorted(p.name for p in _outbox_files(outbox))
    assert len([f for f in files if f.endswith(".eml")]) == 2
    assert len([f for f in files if f.endswith(".html")]) == 2

    # The same run again: nothing new is sent, the rows are left alone.
    again = send_digests(any_store, settings, now=when, backend=backend, ranker=ranker)
    assert again.sent == 0 and again.skipped == 2
    assert len(list(outbox.glob("*.eml"))) == 2


def test_no_paper_is_sent_twice_and_feedback_is_excluded(any_store: Store, outbox: Path) -> None:
    settings = any_store.settings
    first = add_batch(any_store, GRAPH[:2], label="day1")
    [rid] = add_readers(any_store, ("ann@example.org", ["graph"]))
    ranker = _ranker([rid], ["graph"])
    backend = FileBackend(outbox)
    day1 = now()
    assert send_digests(any_store, settings, now=day1, backend=backend, ranker=ranker).sent == 1
    # Next day: the old batch is out of the window; a paper repeated in a new batch is not resent,
    # and one the reader already disliked is not offered either.
    second = add_batch(any_store, [GRAPH[0], GRAPH[2], ("Graph kernels", "Kernel methods.")],
                       label="day2")
    with any_store.transaction() as session:
        record_feedback(session, rid, second[2], "dislike", "cli")
    day2 = now() + dt.timedelta(days=1)
    report = send_digests(any_store, settings, now=day2, backend=backend, ranker=ranker)
    assert report.sent == 1
    with any_store.transaction() as session:
        newest = get_digest(session, list_digests(session)[0].id)
        assert [i.paper_id for i in newest.items] == [second[1]]
        assert first[0] not in {i.paper_id for i in newest.items}


def test_nothing_passes_threshold_records_empty(any_store: Store, outbox: Path) -> None:
    add_batch(any_store, VISION)
    [rid] = add_readers(any_store, ("ann@example.org", ["graph"]))
    report = send_digests(any_store, any_store.settings, now=now(), backend=FileBackend(outbox),
                          ranker=_ranker([rid], ["graph"]))
    assert report.empty == 1 and report.sent == 0
    assert "reached a like probability" in report.outcomes[0].detail
    with any_store.transaction() as session:
        [row] = list_digests(session)
        assert row.status == "empty" and "threshold" in (row.note or "")
    assert not _outbox_files(outbox)


def test_no_batches_means_empty_with_reason(store: Store, outbox: Path) -> None:
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    ranker = _ranker([rid], ["graph"])
    report = send_digests(store, store.settings, now=now(), backend=FileBackend(outbox), ranker=ranker)
    assert report.empty == 1 and "no new papers" in report.outcomes[0].detail
    assert ranker.calls == []  # nothing to rank: the model is not even asked


def test_dry_run_writes_nothing(store: Store, outbox: Path) -> None:
    add_batch(store, GRAPH)
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    report = send_digests(store, store.settings, now=now(), dry_run=True,
                          backend=FileBackend(outbox), ranker=_ranker([rid], ["graph"]))
    assert report.counts()["would_send"] == 1 and report.outcomes[0].papers == 3
    with store.transaction() as session:
        assert list_digests(session) == []
    assert not _outbox_files(outbox)


def test_reader_without_valid_address_fails_alone(store: Store, outbox: Path) -> None:
    add_batch(store, GRAPH)
    ids = add_readers(store, ("ann@example.org", ["graph"]), ("bad@example.org", ["graph"]),
                      ("none@example.org", ["graph"]))
    with store.transaction() as session:
        # Rows as an older import might have left them: the store's own checks are bypassed.
        session.get(Reader, ids[1]).email = "not an address\nBcc: x@evil.example"
        session.get(Reader, ids[2]).email = ""
    report = send_digests(store, store.settings, now=now(), backend=FileBackend(outbox),
                          ranker=_ranker(ids, ["graph"], ["graph"], ["graph"]))
    by_reader = {o.reader_id: o for o in report.outcomes}
    assert by_reader[ids[0]].status == "sent"
    assert by_reader[ids[1]].status == "failed" and "invalid email address" in by_reader[ids[1]].detail
    assert by_reader[ids[2]].status == "failed" and "no email address" in by_reader[ids[2]].detail
    assert len(list(outbox.glob("*.eml"))) == 1


def test_paused_and_unknown_readers(store: Store, outbox: Path) -> None:
    [rid] = add_readers(store, ("ann@example.org", ["graph"]), status="paused")
    report = send_digests(store, store.settings, now=now(), readers=[rid], backend=FileBackend(outbox),
                          ranker=_ranker([rid], ["graph"]))
    assert report.skipped == 1 and "paused" in report.outcomes[0].detail
    # By default only active readers are considered at all.
    assert send_digests(store, store.settings, now=now(), backend=FileBackend(outbox),
                        ranker=_ranker([rid], ["graph"])).outcomes == []
    with pytest.raises(NotFound, match="no reader 999"):
        send_digests(store, store.settings, now=now(), readers=[999], ranker=_ranker([rid], ["graph"]))
    with pytest.raises(InvalidInput, match="aware"):
        send_digests(store, store.settings, now=dt.datetime.now(), ranker=_ranker([rid], ["graph"]))


def test_claim_is_exclusive(any_store: Store, outbox: Path) -> None:
    add_batch(any_store, GRAPH)
    [rid] = add_readers(any_store, ("ann@example.org", ["graph"]))
    ranker = _ranker([rid], ["graph"])
    # Another (live) run claimed the digest first: this run must not deliver it.
    send_digests(any_store, any_store.settings, now=now(), dry_run=False,
                 backend=_Refuse(), ranker=ranker)
    with any_store.transaction() as session:
        [row] = list_digests(session)
        assert row.status == "pending"  # the refusing backend deferred it
        other = f"{socket.gethostname()}:{os.getppid()}"  # a live process that is not us
        assert claim_many(session, [row.id], other, now()) == {row.id}
        assert claim_many(session, [row.id], "elsewhere:1", now()) == set()
    report = send_digests(any_store, any_store.settings, now=now(), backend=FileBackend(outbox),
                          ranker=ranker)
    assert report.sent == 0 and report.skipped == 1 and not _outbox_files(outbox)


class _Refuse:
    name = "refuse"

    def open(self) -> None:
        pass

    def deliver(self, item: object) -> object:
        from paperdigest.digest import DeliveryResult

        return DeliveryResult("deferred", "no route")

    def close(self) -> None:
        pass


def test_deferred_digest_keeps_its_papers_and_gives_up_after_max_attempts(store: Store,
                                                                          outbox: Path) -> None:
    add_batch(store, GRAPH)
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    ranker = _ranker([rid], ["graph"])
    when = now()
    for _ in range(4):
        assert send_digests(store, store.settings, now=when, backend=_Refuse(), ranker=ranker).deferred == 1
    with store.transaction() as session:
        [row] = list_digests(session)
        assert row.status == "pending" and row.attempts == 4 and row.error == "no route"
    report = send_digests(store, store.settings, now=when, backend=_Refuse(), ranker=ranker)
    assert report.failed == 1 and "gave up after 5 attempts" in report.outcomes[0].detail
    assert len(ranker.calls) == 1  # papers picked once, kept across retries
    # The operator's explicit resend delivers the same papers.
    out = resend_digest(store, store.settings, row.id, now=when, backend=FileBackend(outbox))
    assert out.status == "sent" and out.papers == 3
    with pytest.raises(InvalidInput, match="only failed or unknown"):
        resend_digest(store, store.settings, row.id, now=when, backend=FileBackend(outbox))


def test_eml_in_outbox_is_a_complete_message(store: Store, outbox: Path) -> None:
    add_batch(store, GRAPH)
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    send_digests(store, store.settings, now=now(), backend=FileBackend(outbox),
                 ranker=_ranker([rid], ["graph"]))
    [eml] = outbox.glob("*.eml")
    msg = parse(eml.read_bytes())
    assert msg["To"] == "ann@example.org"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"].startswith("3 new papers for you — ")


def test_html_format_writes_archive_page_and_index(store: Store, outbox: Path) -> None:
    add_batch(store, GRAPH, label="b1")
    [rid] = add_readers(store, ("ann@example.org", ["graph"]), format="html", web_notice=False)
    ranker = _ranker([rid], ["graph"])
    send_digests(store, store.settings, now=now(), backend=FileBackend(outbox), ranker=ranker)
    add_batch(store, [("Graph kernels", "Kernels.")], label="b2")
    send_digests(store, store.settings, now=now() + dt.timedelta(days=1), backend=FileBackend(outbox),
                 ranker=ranker)
    folder = store.settings.archive_dir / f"reader-{rid}"
    pages = sorted(p.name for p in folder.glob("*.html"))
    assert len(pages) == 3 and "index.html" in pages
    index = (folder / "index.html").read_text()
    for page in pages:
        if page != "index.html":
            assert f'href="{page}"' in index
    assert "3 papers" in index and "1 paper:" in index
    assert not _outbox_files(outbox)  # the HTML format without the notice is not emailed


def test_two_concurrent_runs_never_send_twice(any_store: Store, tmp_path: Path) -> None:
    import threading

    add_batch(any_store, GRAPH)
    emails = [f"r{i}@example.org" for i in range(30)]
    ids = add_readers(any_store, *((e, ["graph"]) for e in emails))
    ranker = KeywordRanker({str(i): ["graph"] for i in ids})
    when = now()
    reports = []
    errors: list[BaseException] = []

    def run(folder: Path) -> None:
        try:
            reports.append(send_digests(any_store, any_store.settings, now=when,
                                        backend=FileBackend(folder), ranker=ranker))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(tmp_path / f"run{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    sent = [o.reader_id for r in reports for o in r.outcomes if o.status == "sent"]
    assert sorted(sent) == sorted(ids)  # every reader exactly once across both runs
    files = [p for n in range(2) for p in _outbox_files(tmp_path / f"run{n}") if p.suffix == ".eml"]
    assert len(files) == len(ids)
