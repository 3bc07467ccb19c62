"""A small lab in a store: two readers, one who likes, one who stays silent, a failing source."""

from __future__ import annotations

import datetime as dt

from _digest_helpers import GRAPH, VISION, KeywordRanker, add_batch, add_readers
from paperdigest.digest import FileBackend, send_digests
from paperdigest.store import Store
from paperdigest.store.feedback import record_feedback
from paperdigest.store.jobs import record_source


def populate(store: Store, outbox: object, when: dt.datetime) -> dict[str, int]:
    """Ann (graph papers) likes her first item; Bob (vision) never reacts; arXiv polling fails."""
    add_batch(store, GRAPH + VISION)
    ann, bob = add_readers(store, ("ann@example.org", ["graph"]), ("bob@example.org", ["image"]))
    report = send_digests(store, store.settings, now=when, backend=FileBackend(outbox),
                          ranker=KeywordRanker({str(ann): ["graph"], str(bob): ["image"]}))
    assert report.sent == 2, report
    with store.transaction() as session:
        from paperdigest.store.models import Digest, DigestItem
        from sqlalchemy import select

        first = session.execute(
            select(DigestItem.paper_id, Digest.id).join(Digest, Digest.id == DigestItem.digest_id)
            .where(Digest.reader_id == ann, DigestItem.rank == 1)
        ).one()
        record_feedback(session, ann, first[0], "like", "web", digest_id=first[1],
                        when=when + dt.timedelta(hours=1))
        record_source(session, "hf", when=when)
        record_source(session, "arxiv:cs.LG", when=when, error="HTTP 503 from export.arxiv.org")
    return {"ann": ann, "bob": bob}


def fit_model(store: Store) -> None:
    """A real fit through the model store (TF-IDF: fast and offline), as `paperdigest run` does."""
    from dataclasses import replace

    from paperdigest.ranking import refit_model

    refit_model(store, replace(store.settings, content_backend="tfidf"))
