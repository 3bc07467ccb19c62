"""Readers and feedback on both SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from paperdigest.core.errors import AlreadyExists, InvalidInput, NotFound
from paperdigest.store import Store
from paperdigest.store.feedback import current_reactions, interactions_frame, record_feedback
from paperdigest.store.models import Digest, Interaction
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.store.readers import ReaderFields, add_reader, find_reader, mask_email, update_reader
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError


def _seed(store: Store) -> tuple[int, list[str]]:
    with store.transaction() as s:
        reader = add_reader(s, ReaderFields(email="Ada@Example.ORG", name="Ada", keywords=["graphs"]))
        result = upsert_batch(s, NewBatch("file", "b1", [
            NewPaper("Graph neural networks at scale", "We scale GNNs."),
            NewPaper("Diffusion models for images", "We denoise."),
        ]))
        return reader.id, list(result.paper_ids)


def test_reader_email_normalised_unique_and_found_case_insensitively(any_store: Store) -> None:
    reader_id, _ = _seed(any_store)
    with any_store.transaction() as s:
        assert find_reader(s, "ada@example.org").id == reader_id
        assert find_reader(s, "ADA@EXAMPLE.ORG").email == "Ada@example.org"
        with pytest.raises(AlreadyExists):
            add_reader(s, ReaderFields(email="ada@EXAMPLE.org"))


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        (ReaderFields(email=""), "empty"),
        (ReaderFields(email="no-at-sign"), "invalid email"),
        (ReaderFields(email="a@b.c\r\nBcc: x@y.z"), "invalid email"),
        (ReaderFields(email="a@b.org", timezone="Moon/Base"), "time zone"),
        (ReaderFields(email="a@b.org", cadence="hourly"), "cadence"),
        (ReaderFields(email="a@b.org", weekday="someday"), "weekday"),
        (ReaderFields(email="a@b.org", send_hour=24), "send hour"),
        (ReaderFields(email="a@b.org", digest_size=0), "digest size"),
        (ReaderFields(email="a@b.org", format="pdf"), "format"),
    ],
)
def test_invalid_reader_fields(store: Store, fields: ReaderFields, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle), store.transaction() as s:
        add_reader(s, fields)


def test_weekly_defaults_to_monday_and_unsubscribe_is_stamped(store: Store) -> None:
    with store.transaction() as s:
        reader = add_reader(s, ReaderFields(email="w@x.org", cadence="weekly"))
        assert reader.weekday == 0
        update_reader(s, reader, ReaderFields(weekday="Fri", status="unsubscribed"))
        assert reader.weekday == 4 and reader.unsubscribed_at is not None


def test_feedback_is_idempotent_flips_and_keeps_history(any_store: Store) -> None:
    reader_id, (graph, diffusion) = _seed(any_store)
    with any_store.transaction() as s:
        assert record_feedback(s, reader_id, graph, "like", "cli").changed
        assert not record_feedback(s, reader_id, graph, "like", "web").changed  # repeat: no-op
        flipped = record_feedback(s, reader_id, graph, "dislike", "email")
        assert flipped.changed and flipped.previous == "like"
        record_feedback(s, reader_id, diffusion, "like", "cli")
        record_feedback(s, reader_id, diffusion, "unlike", "cli")
        record_feedback(s, reader_id, diffusion, "click", "email")
        assert current_reactions(s, reader_id) == {graph: "dislike"}
        history = s.scalar(select(func.count()).select_from(Interaction))
        assert history == 5  # like, dislike, like, unlike, click (the repeat added nothing)
        frame = interactions_frame(s)
    assert sorted(frame["kind"]) == ["dislike"]  # clicks never train (mail scanners click too)
    assert set(frame["reader"]) == {str(reader_id)}


def test_database_enforces_one_current_reaction(any_store: Store) -> None:
    reader_id, (graph, _) = _seed(any_store)
    with pytest.raises(IntegrityError), any_store.transaction() as s:
        s.add(Interaction(reader_id=reader_id, paper_id=graph, kind="like", current=True))
        s.add(Interaction(reader_id=reader_id, paper_id=graph, kind="dislike", current=True))
        s.flush()


def test_feedback_bad_input(store: Store) -> None:
    reader_id, (graph, _) = _seed(store)
    with store.transaction() as s:
        with pytest.raises(NotFound, match="no reader"):
            record_feedback(s, 999, graph, "like", "cli")
        with pytest.raises(NotFound, match="no paper"):
            record_feedback(s, reader_id, "nope", "like", "cli")
        with pytest.raises(InvalidInput, match="kind"):
            record_feedback(s, reader_id, graph, "love", "cli")
        with pytest.raises(InvalidInput, match="source"):
            record_feedback(s, reader_id, graph, "like", "fax")


def test_mask_email() -> None:
    assert mask_email("alice@example.org") == "a***@example.org"
    assert "alice" not in mask_email("alice@example.org")


def test_feedback_returns_the_paper_and_survives_a_removed_digest(any_store: Store) -> None:
    reader_id, (graph, _) = _seed(any_store)
    with any_store.transaction() as s:
        digest = Digest(reader_id=reader_id, period="2026-12-04", status="sent")
        s.add(digest)
        s.flush()
        kept_id = digest.id
        done = record_feedback(s, reader_id, graph, "like", "email", digest_id=kept_id)
        # A link from a digest row that no longer exists still records the reaction, unattached.
        gone = record_feedback(s, reader_id, graph, "dislike", "email", digest_id=kept_id + 1000)
        rows = s.execute(select(Interaction.kind, Interaction.digest_id).order_by(Interaction.id)).all()
    assert (done.paper_title, done.paper_abstract, done.paper_authors) == (
        "Graph neural networks at scale", "We scale GNNs.", ())
    assert gone.changed and gone.previous == "like"
    assert [tuple(r) for r in rows] == [("like", kept_id), ("dislike", None)]
