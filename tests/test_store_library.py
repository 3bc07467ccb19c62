"""store.library on SQLite and PostgreSQL: matching, history papers, likes, and the candidate window."""

from __future__ import annotations

import datetime as dt

import pytest
from paperdigest.core import InvalidInput, NotFound
from paperdigest.store.digests import candidate_paper_ids
from paperdigest.store.library import HISTORY_SOURCE, LibraryEntry, like_stored_papers, seed_library
from paperdigest.store.models import BatchPaper, Interaction, Paper, utcnow
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.store.readers import ReaderFields, add_reader
from sqlalchemy import func, select

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _setup(store) -> tuple[int, int]:
    with store.transaction() as s:
        upsert_batch(s, NewBatch("hf", "day1", [
            NewPaper("Graph Neural Networks at Scale", "GNN", arxiv_id="2501.00001"),
            NewPaper("Diffusion Models for Images", "DM"),
        ]))
        return (add_reader(s, ReaderFields(email="ada@example.org")).id,
                add_reader(s, ReaderFields(email="bob@example.org")).id)


def _count(store, model) -> int:
    with store.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_match_by_arxiv_doi_title_and_add_history(any_store) -> None:
    ada, bob = _setup(any_store)
    entries = [
        LibraryEntry(title="Some other title", arxiv_id="2501.00001v2", line=1),  # arXiv wins
        LibraryEntry(title="diffusion models for images!", line=2),  # normalized title
        LibraryEntry(title="Protein Folding", doi="10.1000/prot", line=3),  # new: history
        LibraryEntry(title="GRAPH NEURAL NETWORKS AT SCALE", line=4),  # same stored paper again
    ]
    with any_store.transaction() as s:
        result = seed_library(s, ada, entries, duplicates=1)
    assert (result.entries, result.matched, result.added, result.duplicates) == (5, 2, 1, 2)
    assert (result.liked, result.already, result.skipped) == (3, 0, 0)
    with any_store.transaction() as s:
        history = s.scalars(select(Paper).where(Paper.source == HISTORY_SOURCE)).all()
        assert [(p.title, p.url, p.first_batch_id) for p in history] == [
            ("Protein Folding", "https://doi.org/10.1000/prot", None)]
        likes = set(s.scalars(select(Interaction.paper_id).where(Interaction.reader_id == ada,
                                                                  Interaction.current.is_(True))))
        assert likes == set(result.paper_ids) and len(likes) == 3
        # The DOI is now known to the store: another reader's bare DOI finds the history paper.
        again = seed_library(s, bob, [LibraryEntry(doi="10.1000/PROT", line=1)])
    assert (again.matched, again.added) == (1, 0) and again.paper_ids == (history[0].id,)


def test_history_papers_are_never_candidates(any_store) -> None:
    ada, _ = _setup(any_store)
    with any_store.transaction() as s:
        seed_library(s, ada, [LibraryEntry(title="An Old Classic", arxiv_id="1706.03762", line=1)])
        window = candidate_paper_ids(s, EPOCH, utcnow())
    assert "1706.03762" not in window and len(window) == 2
    # A later batch lists the old paper again: it is linked (no duplicate row) but still not news.
    with any_store.transaction() as s:
        upsert_batch(s, NewBatch("hf", "day2", [NewPaper("An Old Classic", "Abstract", arxiv_id="1706.03762"),
                                                NewPaper("Fresh Paper", "New")]))
        assert s.scalar(select(func.count()).select_from(BatchPaper)
                        .where(BatchPaper.paper_id == "1706.03762")) == 1
        window = candidate_paper_ids(s, EPOCH, utcnow())
    assert "1706.03762" not in window and len(window) == 3


def test_existing_reactions_are_kept(any_store) -> None:
    ada, _ = _setup(any_store)
    with any_store.transaction() as s:
        s.add(Interaction(reader_id=ada, paper_id="2501.00001", kind="dislike", source="cli", current=True))
    with any_store.transaction() as s:
        result = seed_library(s, ada, [LibraryEntry(arxiv_id="2501.00001", line=1)])
        kinds = list(s.scalars(select(Interaction.kind).where(Interaction.reader_id == ada)))
    assert (result.liked, result.already) == (0, 1) and kinds == ["dislike"]


def test_untitled_unmatched_entry_fails_whole_seed_or_is_skipped(any_store) -> None:
    ada, _ = _setup(any_store)
    entries = [LibraryEntry(title="Would Be Added", line=1),
               LibraryEntry(arxiv_id="2609.99999", line=7, key="arXiv:2609.99999")]
    with pytest.raises(InvalidInput, match=r"line 7 \('arXiv:2609.99999'\): no title"), \
            any_store.transaction() as s:
        seed_library(s, ada, entries)
    assert _count(any_store, Paper) == 2 and _count(any_store, Interaction) == 0  # rolled back
    with any_store.transaction() as s:
        result = seed_library(s, ada, entries, skip_untitled=True)
    assert (result.added, result.skipped, result.skipped_lines) == (1, 1, (7,))


def test_unknown_reader(any_store) -> None:
    _setup(any_store)
    with pytest.raises(NotFound, match="no reader 99"), any_store.transaction() as s:
        seed_library(s, 99, [LibraryEntry(title="X", line=1)])
    assert _count(any_store, Paper) == 2


def test_like_stored_papers_needs_every_paper_stored(any_store) -> None:
    ada, _ = _setup(any_store)
    with any_store.transaction() as s:
        stored_id = s.scalar(select(Paper.id).where(Paper.arxiv_id.is_(None)))
        liked = like_stored_papers(s, ada, [LibraryEntry(key=stored_id), LibraryEntry(arxiv_id="2501.00001")])
    assert liked == 2
    with pytest.raises(InvalidInput, match="'Nowhere' is not in the store"), any_store.transaction() as s:
        like_stored_papers(s, ada, [LibraryEntry(title="Nowhere", key="Nowhere")])
