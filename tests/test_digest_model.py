"""The store <-> recommender bridge with the real HybridRecommender (TF-IDF content, fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _digest_helpers import GRAPH, VISION, add_batch, add_readers, now
from paperdigest.core import load_settings
from paperdigest.digest import FileBackend, send_digests
from paperdigest.ranking import load_model, refit_model
from paperdigest.ranking.model_store import MODEL_FILE, model_info
from paperdigest.store import Store
from paperdigest.store.digests import get_digest, list_digests
from paperdigest.store.feedback import record_feedback


@pytest.fixture
def tfidf_store(home: Path) -> Store:
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_CONTENT_BACKEND": "tfidf"})
    store, _ = Store.initialise(settings)
    return store


def test_refit_writes_artifact_and_watermark(tfidf_store: Store) -> None:
    papers = add_batch(tfidf_store, GRAPH + VISION)
    [rid] = add_readers(tfidf_store, ("ann@example.org", ["graph"]))
    with tfidf_store.transaction() as session:
        record_feedback(session, rid, papers[0], "like", "cli")
    info = refit_model(tfidf_store, tfidf_store.settings)
    folder = tfidf_store.settings.model_dir
    # One file: the watermark lives in the model's metadata (one atomic write); no temp files left.
    assert [p.name for p in folder.iterdir()] == [MODEL_FILE]
    mark = model_info(tfidf_store.settings)
    assert mark is not None and mark["watermark_id"] == info["watermark_id"] == 1
    assert (info["papers"], info["readers"], info["interactions"]) == (5, 1, 1)


def test_feedback_after_the_fit_reaches_the_next_ranking_without_a_refit(tfidf_store: Store) -> None:
    settings = tfidf_store.settings
    add_batch(tfidf_store, GRAPH + VISION, label="day1")
    [rid] = add_readers(tfidf_store, ("ann@example.org", []))
    refit_model(tfidf_store, settings)
    model_file = settings.model_dir / MODEL_FILE
    before = model_file.stat().st_mtime_ns
    # A paper ingested after the fit, liked through a link: the light update must add both.
    [fresh] = add_batch(tfidf_store, [("Graph neural networks for proteins", "Protein graphs.")],
                        label="day2")
    with tfidf_store.transaction() as session:
        record_feedback(session, rid, fresh, "like", "email")
    model = load_model(tfidf_store, settings)
    assert model_file.stat().st_mtime_ns == before  # folded in, not refitted
    cands = add_batch(tfidf_store, [("Graph pooling layers", "Pooling on graphs."),
                                    ("Image super resolution", "Upscaling images.")], label="day3")
    from paperdigest.ranking.model_store import papers_frame
    from paperdigest.store.digests import papers_by_id

    with tfidf_store.transaction() as session:
        frame = papers_frame(list(papers_by_id(session, cands).values()))
    [top, *_] = model.rank([str(rid)], frame, k=2)[str(rid)]
    assert top.paper_id == cands[0] and "Graph neural networks for proteins" in top.reason


def test_send_with_the_real_model(tfidf_store: Store, tmp_path: Path) -> None:
    add_batch(tfidf_store, GRAPH + VISION)
    ids = add_readers(tfidf_store, ("ann@example.org", ["graph"]), ("bob@example.org", ["image"]))
    report = send_digests(tfidf_store, tfidf_store.settings, now=now(), backend=FileBackend(tmp_path))
    assert report.sent == 2
    assert (tfidf_store.settings.model_dir / MODEL_FILE).exists()  # first send fits a model
    with tfidf_store.transaction() as session:
        first = {d.reader_id: get_digest(session, d.id).items[0] for d in list_digests(session)}
        assert "graph" in first[ids[0]].paper.title.lower()
        assert "image" in first[ids[1]].paper.title.lower()
        assert all(item.reason for item in first.values())


def test_an_old_pickle_model_is_refused_with_the_refit_advice(tfidf_store: Store) -> None:
    from paperdigest.recommender import ModelFormatError

    add_batch(tfidf_store, GRAPH + VISION)
    add_readers(tfidf_store, ("ann@example.org", ["graph"]))
    path = tfidf_store.settings.model_dir / MODEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAPERDIGEST-RECOMMENDER\n" + (1).to_bytes(4, "big") + b"\x80\x05")
    with pytest.raises(ModelFormatError, match=r"version 1.*refit"):
        load_model(tfidf_store, tfidf_store.settings)
    refit_model(tfidf_store, tfidf_store.settings)  # what the message advises
    assert model_info(tfidf_store.settings) is not None


def test_ranking_in_slices_gives_every_reader_the_same_digest(tfidf_store: Store, monkeypatch) -> None:
    """Readers are ranked a slice at a time to bound memory; each reader's picks must not change."""
    from paperdigest.digest import rank as rank_module
    from paperdigest.ranking.model_store import papers_frame
    from paperdigest.store.digests import papers_by_id

    papers = add_batch(tfidf_store, GRAPH + VISION, label="day1")
    ids = add_readers(tfidf_store, ("ann@example.org", ["graph"]), ("bob@example.org", ["image"]),
                      ("cy@example.org", []), ("dee@example.org", ["graph", "image"]))
    with tfidf_store.transaction() as session:
        record_feedback(session, ids[0], papers[0], "like", "cli")
        record_feedback(session, ids[2], papers[-1], "like", "cli")
        record_feedback(session, ids[3], papers[1], "dislike", "cli")
    refit_model(tfidf_store, tfidf_store.settings)
    cands = add_batch(tfidf_store, [("Graph pooling layers", "Pooling on graphs."),
                                    ("Image super resolution", "Upscaling images."),
                                    ("Message passing on graphs", "Graph networks pass messages."),
                                    ("Diffusion models for images", "Image generation.")], label="day2")
    model = load_model(tfidf_store, tfidf_store.settings)
    with tfidf_store.transaction() as session:
        frame = papers_frame(list(papers_by_id(session, cands).values()))
    readers = [str(r) for r in ids]
    exclude = {r: ({cands[0]} if r == readers[1] else set()) for r in readers}

    def picks(recs: dict) -> dict[str, list[tuple[str, str, float]]]:
        return {r: [(x.paper_id, x.reason, round(float(x.score), 6)) for x in v] for r, v in recs.items()}

    whole = picks(model.rank(readers, frame, k=3, exclude=exclude))
    monkeypatch.setattr(rank_module, "RANK_SLICE", 1)
    sliced = picks(rank_module._rank_sliced(model, readers, frame, k=3, exclude=exclude))
    assert sliced == whole
    assert sum(len(v) for v in whole.values()) == 4 * 3  # the comparison is over real picks
    assert cands[0] not in [pid for pid, _, _ in whole[readers[1]]]


def test_the_kept_model_folds_in_only_what_changed_and_matches_a_fresh_load(tfidf_store: Store) -> None:
    """Between ticks the folded model is kept; the next load folds in new, changed and withdrawn
    reactions, and ranks exactly like a model reloaded from the file with everything folded in."""
    import numpy as np
    from paperdigest.ranking import model_store
    from paperdigest.ranking.model_store import papers_frame
    from paperdigest.store.digests import papers_by_id

    papers = add_batch(tfidf_store, GRAPH + VISION, label="day1")
    ids = add_readers(tfidf_store, ("ann@example.org", []), ("bob@example.org", []), ("cy@example.org", []))
    with tfidf_store.transaction() as session:
        record_feedback(session, ids[0], papers[0], "like", "cli")
        record_feedback(session, ids[1], papers[-1], "like", "cli")
    settings = tfidf_store.settings
    refit_model(tfidf_store, settings)
    batch = add_batch(tfidf_store, [("Graph pooling layers", "Pooling on graphs."),
                                    ("Image super resolution", "Upscaling images."),
                                    ("Message passing on graphs", "Graph networks pass messages.")],
                      label="day2")
    with tfidf_store.transaction() as session:
        frame = papers_frame(list(papers_by_id(session, batch).values()))
        record_feedback(session, ids[2], batch[0], "like", "email")
        record_feedback(session, ids[1], batch[1], "like", "email")
    first = load_model(tfidf_store, settings)
    with tfidf_store.transaction() as session:
        record_feedback(session, ids[2], batch[2], "like", "email")     # new
        record_feedback(session, ids[2], batch[0], "dislike", "email")  # changed
        record_feedback(session, ids[1], batch[1], "unlike", "email")   # withdrawn
    kept = load_model(tfidf_store, settings)
    assert kept is first
    prefs = kept.prefs_
    row = {r: kept.reader_index_[str(r)] for r in ids}
    col = {p: kept.paper_index_[p] for p in batch}
    assert prefs[row[ids[2]], col[batch[2]]] == 1 and prefs[row[ids[2]], col[batch[0]]] == -1
    assert prefs[row[ids[1]], col[batch[1]]] == 0
    readers = [str(r) for r in ids]
    scores = kept.score(readers, frame)
    model_store._FOLDED.clear()  # as a new process would: reload the file, fold in everything
    fresh = load_model(tfidf_store, settings)
    assert fresh is not kept
    assert np.allclose(fresh.score(readers, frame), scores, atol=1e-5)
    refit_model(tfidf_store, settings)  # a new file: loaded afresh, not the kept object
    assert load_model(tfidf_store, settings) is not fresh
