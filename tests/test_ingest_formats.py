"""Parsing each real format into a batch: fixtures written in the real layouts, plus the seed pages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from paperdigest.ingest import (
    DEFAULT_SOURCES,
    IngestError,
    ingest_batch,
    parse_bytes,
    parse_file,
    sniff_format,
)
from paperdigest.ingest.page import infer_date
from paperdigest.store.models import Paper

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
TODAY = dt.date(2025, 7, 5)


@pytest.mark.parametrize(
    ("name", "source", "count", "first_title"),
    [
        ("hf_daily.json", "hf", 3, "Sparse Mixtures of Graph Experts for Molecule Property Prediction"),
        ("arxiv_atom.xml", "arxiv", 3, "Sparse Mixtures of Graph Experts for Molecule Property Prediction"),
        ("arxiv_rss.xml", "arxiv", 3, "Calibrated Uncertainty for Tabular Foundation Models"),
        ("papers.csv", "file", 3, "Contrastive Pretraining for Satellite Time Series"),
        ("papers.json", "file", 2, "Contrastive Pretraining for Satellite Time Series"),
        ("page.txt", "file", 3, "Sparse Mixtures of Graph Experts for Molecule Property Prediction"),
    ],
)
def test_each_format_parses_from_its_fixture(name: str, source: str, count: int, first_title: str) -> None:
    batch = parse_file(FIXTURES / name, today=TODAY)
    assert batch.source == source
    assert len(batch.papers) == count
    assert batch.papers[0].title == first_title
    assert all(p.abstract and p.line for p in batch.papers)


def test_hf_json_keeps_arxiv_id_authors_upvotes_and_dates() -> None:
    batch = parse_file(FIXTURES / "hf_daily.json")
    first = batch.papers[0]
    assert first.arxiv_id == "2507.01001"
    assert first.authors == ["Mira Okafor", "Tomas Lindqvist"]
    assert first.upvotes == 42
    assert first.published == dt.date(2025, 7, 2)
    assert first.url == "https://huggingface.co/papers/2507.01001"
    assert [p.line for p in batch.papers] == [2, 24, 42]


def test_atom_joins_wrapped_titles_and_strips_versions() -> None:
    batch = parse_file(FIXTURES / "arxiv_atom.xml")
    assert batch.papers[2].title == (
        "Curriculum Reinforcement Learning for Theorem Proving with Small Language Models"
    )
    assert [p.arxiv_id for p in batch.papers] == ["2507.01001", "2507.01044", "2507.01102"]
    assert batch.papers[1].url == "https://arxiv.org/abs/2507.01044"
    assert batch.papers[0].abstract.startswith("We route each molecular graph")
    assert "\n" not in batch.papers[0].abstract
    assert batch.date == dt.date(2025, 7, 4)


def test_rss_drops_the_announce_prefix_and_splits_creators() -> None:
    batch = parse_file(FIXTURES / "arxiv_rss.xml")
    second = batch.papers[1]
    assert second.abstract.startswith("Clients in federated fine-tuning")
    assert "Announce Type" not in second.abstract
    assert second.authors == ["Daniel Park", "Ines Moreau", "Yuki Tanaka"]
    assert batch.papers[2].arxiv_id == "2506.22011"
    assert batch.date == dt.date(2025, 7, 4)


def test_csv_handles_quoted_newlines_optional_columns_and_line_numbers() -> None:
    batch = parse_file(FIXTURES / "papers.csv")
    assert [p.line for p in batch.papers] == [2, 3, 4]
    assert batch.papers[0].authors == ["Hannah Berg", "Luis Ortega"]
    assert batch.papers[0].arxiv_id == "2507.00871"
    assert batch.papers[2].abstract.endswith("which a simple kernel model predicts.")
    assert batch.papers[2].url == "https://example.org/memorize"
    assert batch.papers[1].arxiv_id is None


def test_json_accepts_aliases_and_arxiv_ids_in_urls() -> None:
    batch = parse_file(FIXTURES / "papers.json")
    assert batch.papers[0].arxiv_id == "2507.00871"
    assert batch.papers[1].arxiv_id == "2507.00950"
    assert batch.papers[1].authors == ["Eva Novak", "Samuel Green"]
    assert batch.papers[1].published == dt.date(2025, 7, 1)


def test_sniffing_does_not_rely_on_the_extension(tmp_path: Path) -> None:
    for name in ("hf_daily.json", "arxiv_atom.xml", "arxiv_rss.xml", "papers.json", "page.txt"):
        data = (FIXTURES / name).read_bytes()
        batch = parse_bytes(data, label="upload", today=TODAY)
        assert batch.source == parse_file(FIXTURES / name, today=TODAY).source
    assert sniff_format("title,abstract\nA,b\n", "x.dat") == "csv"
    assert sniff_format("Jul 4\n\nA\n\nb.\n", "x.csv") == "csv"
    assert set(DEFAULT_SOURCES) == {"page", "hf", "atom", "rss", "csv", "json"}


def test_explicit_format_mismatch_is_reported() -> None:
    with pytest.raises(IngestError, match=r"expected an rss document but this is atom"):
        parse_file(FIXTURES / "arxiv_atom.xml", fmt="rss")
    with pytest.raises(IngestError, match=r"unknown format 'yaml'"):
        parse_file(FIXTURES / "page.txt", fmt="yaml")


@pytest.mark.parametrize(
    ("month", "day", "today", "expected"),
    [
        (7, 4, dt.date(2025, 7, 5), dt.date(2025, 7, 4)),
        (7, 4, dt.date(2025, 7, 4), dt.date(2025, 7, 4)),
        (7, 4, dt.date(2025, 7, 3), dt.date(2024, 7, 4)),  # not in the future: last year's
        (12, 31, dt.date(2026, 1, 1), dt.date(2025, 12, 31)),
        (2, 29, dt.date(2027, 3, 1), dt.date(2024, 2, 29)),  # back to the last leap year
    ],
)
def test_year_is_the_latest_date_not_after_today(
    month: int, day: int, today: dt.date, expected: dt.date
) -> None:
    assert infer_date(month, day, today) == expected


def test_page_date_uses_injected_today_and_file_mtime(tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    page.write_bytes((FIXTURES / "page.txt").read_bytes())
    assert parse_file(page, today=dt.date(2025, 7, 3)).date == dt.date(2024, 7, 4)
    saved = dt.datetime(2031, 8, 1, 12, 0).timestamp()
    import os

    os.utime(page, (saved, saved))
    assert parse_file(page).date == dt.date(2031, 7, 4)


def test_html_in_titles_is_stored_as_plain_text(store) -> None:
    data = (
        b'[{"title": "<script>alert(1)</script>Robust <b>Sparse</b> Coding &amp; Friends",'
        b' "abstract": "<p>We study x < y and a <= b.</p>", "url": "javascript:alert(1)"}]'
    )
    batch = parse_bytes(data, label="evil.json")
    paper = batch.papers[0]
    assert paper.title == "Robust Sparse Coding & Friends"
    assert paper.abstract == "We study x < y and a <= b."
    assert paper.url is None  # only http(s) links survive: they end up in emails
    result = ingest_batch(store, batch)
    with store.transaction() as session:
        stored = session.get(Paper, result.paper_ids[0])
        assert stored is not None and "<" not in stored.title


def test_seed_pages_give_two_batches_and_179_distinct_papers(store, shared_dir: Path) -> None:
    seeds = sorted((shared_dir / "seeds").glob("*.txt"))
    assert len(seeds) == 2
    batches = [parse_file(path, today=dt.date(2025, 11, 1)) for path in seeds]
    assert [len(b.papers) for b in batches] == [74, 108]
    assert [b.date for b in batches] == [dt.date(2025, 7, 4), dt.date(2025, 3, 11)]
    results = [ingest_batch(store, b) for b in batches]
    assert [r.created for r in results] == [True, True]
    assert results[1].linked_papers == 3
    with store.transaction() as session:
        assert session.query(Paper).count() == 179
    again = ingest_batch(store, parse_file(seeds[0], today=dt.date(2025, 11, 1)))
    assert again.created is False and again.batch_id == results[0].batch_id
