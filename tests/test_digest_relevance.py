"""Digests hold only papers likely enough to be liked; "nothing strong today" or no digest at all.

The real HybridRecommender (TF-IDF) on a toy store where the right answer is obvious: three readers
who each liked papers of one topic, then a batch with language papers and one medical-imaging paper.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _digest_helpers import add_batch, add_readers, now, parse
from paperdigest.core import ConfigError, load_settings
from paperdigest.digest import FileBackend, send_digests
from paperdigest.store import Store
from paperdigest.store.digests import get_digest, list_digests
from paperdigest.store.feedback import record_feedback
from paperdigest.store.readers import ReaderFields, find_reader, update_reader

TOPICS = {
    "language": ["Language models that decode tokens faster",
                 "Speculative decoding for large language models",
                 "Instruction tuning of small language models",
                 "Tokenizers for multilingual language models"],
    "vision": ["Image segmentation with vision transformers", "Object detection in street images",
               "Self-supervised image features for segmentation", "Depth estimation from single images"],
    "graphs": ["Graph neural networks for molecules", "Message passing on large graphs",
               "Graph transformers with positional encodings", "Link prediction in temporal graphs"],
}
MEDICAL = "Few-Shot Medical Image Segmentation with Foundation Features"


def _store(home: Path, **env: str) -> tuple[Store, dict[str, int]]:
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_CONTENT_BACKEND": "tfidf",
                                  **env})
    store, _ = Store.initialise(settings)
    history = add_batch(store, [(t, t) for titles in TOPICS.values() for t in titles], label="history")
    readers = add_readers(store, *((f"{topic}@example.org", []) for topic in TOPICS))
    with store.transaction() as session:
        for n, rid in enumerate(readers):  # each reader liked their topic's four papers
            for pid in history[4 * n: 4 * n + 4]:
                record_feedback(session, rid, pid, "like", "cli")
    return store, dict(zip(TOPICS, readers, strict=True))


def _newest(store: Store) -> dict[int, object]:
    """Each reader's newest digest (with items)."""
    with store.transaction() as session:
        rows = sorted(list_digests(session), key=lambda d: d.id)
        return {d.reader_id: get_digest(session, d.id) for d in rows}


def test_only_papers_on_the_readers_topic_clear_the_threshold(home: Path) -> None:
    store, ids = _store(home)
    add_batch(store, [("Language model decoding with draft tokens", "Speculative decoding for language"
                       " models."), (MEDICAL, "Segmentation of medical images with few labels.")],
              label="new")
    send_digests(store, store.settings, now=now(), backend=FileBackend(home / "out"))
    newest = _newest(store)
    lang = [i.paper.title for i in newest[ids["language"]].items]
    assert lang and all("language" in t.lower() for t in lang)  # short, and never the medical paper
    assert MEDICAL not in lang
    assert all("weaker match" in i.reason for i in newest[ids["graphs"]].items)  # nothing strong


@pytest.mark.parametrize("mode", ["skip", "note"])
def test_nothing_strong_today_follows_the_setting(home: Path, mode: str) -> None:
    store, ids = _store(home, PAPERDIGEST_NOTHING_STRONG=mode)
    add_batch(store, [(MEDICAL, "Segmentation of medical images."),
                      ("Market prices in auctions", "Auction theory and demand.")], label="new")
    send_digests(store, store.settings, now=now(), backend=FileBackend(home / "out"))
    newest = _newest(store)[ids["language"]]
    if mode == "skip":
        assert newest.status == "empty" and "like probability" in (newest.note or "")
        assert newest.items == []
        assert not list((home / "out").glob("*.eml"))
    else:
        assert newest.status == "sent" and 1 <= len(newest.items) <= 3
        assert all(i.reason.startswith("weaker match") for i in newest.items)
        mails = [parse(p.read_bytes()) for p in (home / "out").glob("*.eml")]
        [mail] = [m for m in mails if m["To"].startswith("language@")]
        assert str(mail["Subject"]).startswith("Nothing strong today")
        text = mail.get_body(preferencelist=("plain",))
        assert text is not None and "marked as a weaker match" in text.get_content()


@pytest.mark.parametrize(("name", "value"), [("PAPERDIGEST_MIN_RELEVANCE", "1.5"),
                                             ("PAPERDIGEST_MIN_RELEVANCE", "-0.1"),
                                             ("PAPERDIGEST_MIN_RELEVANCE", "nan"),
                                             ("PAPERDIGEST_MIN_RELEVANCE", "high"),
                                             ("PAPERDIGEST_NOTHING_STRONG", "sometimes")])
def test_bad_relevance_settings_name_the_key(home: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env={"PAPERDIGEST_HOME": str(home), name: value})


@pytest.mark.parametrize("site", ["note", "skip"])
def test_each_reader_chooses_note_or_skip_over_the_setting(home: Path, site: str) -> None:
    store, ids = _store(home, PAPERDIGEST_NOTHING_STRONG=site)
    with store.transaction() as session:  # language: the other choice; vision: as the site does
        other = "skip" if site == "note" else "note"
        update_reader(session, find_reader(session, ids["language"]), ReaderFields(nothing_strong=other))
    add_batch(store, [(MEDICAL, "Segmentation of medical images."),
                      ("Market prices in auctions", "Auction theory and demand.")], label="new")
    send_digests(store, store.settings, now=now(), backend=FileBackend(home / "out"))
    newest = _newest(store)
    noted = {"note": "sent", "skip": "empty"}
    assert newest[ids["language"]].status == noted[other]
    assert newest[ids["vision"]].status == noted[site]
    mailed = {str(parse(p.read_bytes())["To"]) for p in (home / "out").glob("*.eml")}
    assert ("language@example.org" in mailed) == (other == "note")


def test_the_nothing_strong_choice_through_the_cli(initialised_cli) -> None:
    import json

    cli = initialised_cli
    added = json.loads(cli("users", "add", "a@example.org", "--nothing-strong", "Skip", "--json").stdout)
    assert added["nothing_strong"] == "skip"
    assert json.loads(cli("users", "add", "b@example.org", "--json").stdout)["nothing_strong"] is None
    edited = json.loads(cli("users", "edit", "a@example.org", "--nothing-strong", "note", "--json").stdout)
    assert edited["nothing_strong"] == "note"
    shown = json.loads(cli("users", "show", "a@example.org", "--json").stdout)
    assert shown["nothing_strong"] == "note"
    cleared = json.loads(cli("users", "edit", "a@example.org", "--nothing-strong", "default",
                             "--json").stdout)
    assert cleared["nothing_strong"] is None
    for command in (("users", "add", "c@example.org"), ("users", "edit", "b@example.org")):
        bad = cli(*command, "--nothing-strong", "sometimes", ok=False)
        assert bad.exit_code == 1
        assert "'nothing strong' must be one of note, skip, got 'sometimes'" in bad.output
