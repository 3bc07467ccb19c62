"""Reference libraries parsed into plain entries: every format, sniffing, duplicates and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from paperdigest.ingest.errors import IngestError
from paperdigest.ingest.library import (
    parse_library,
    parse_library_file,
    parse_reference,
    sniff_library_format,
    split_references,
)

FIXTURES = Path(__file__).parent / "fixtures" / "library"
GNN = "Graph Neural Networks at Scale"
PROTEIN = "Protein Structure Prediction with Language Models"
SAE = "Sparse Autoencoders Find Interpretable Features"


def _summary(path: Path, fmt: str | None = None) -> list[tuple[int | None, str, str | None, str | None]]:
    parsed = parse_library_file(path, fmt)
    return [(e.line, e.title, e.arxiv_id, e.doi) for e in parsed.entries]


def test_bibtex_entries_with_ids_from_journal_eprint_and_doi() -> None:
    parsed = parse_library_file(FIXTURES / "library.bib")
    assert parsed.fmt == "bibtex"
    assert _summary(FIXTURES / "library.bib") == [
        (2, GNN, "2501.00001", None),
        (9, PROTEIN, None, "10.1000/prot.2024.17"),
        (18, SAE, "2502.01234", None),
    ]
    assert parsed.entries[0].authors == ["Smith, John", "Müller, Anna"]  # LaTeX accent decoded
    assert parsed.entries[1].abstract == "We predict protein structures."
    # "Graph neural networks at scale." at line 26 is the first entry again (normalized title).
    assert parsed.duplicates == [(26, 2)] and parsed.total == 4


def test_ris_records_with_arxiv_from_url_and_datacite_doi() -> None:
    parsed = parse_library_file(FIXTURES / "library.ris")
    assert parsed.fmt == "ris"
    assert _summary(FIXTURES / "library.ris") == [
        (1, GNN, "2501.00001", None),
        (9, PROTEIN, None, "10.1000/prot.2024.17"),
        (17, SAE, "2502.01234", None),  # DOI 10.48550/arXiv.2502.01234 is arXiv's own
    ]


def test_zotero_csv_export() -> None:
    parsed = parse_library_file(FIXTURES / "zotero.csv")
    assert parsed.fmt == "csv"
    assert _summary(FIXTURES / "zotero.csv") == [
        (2, GNN, "2501.00001", None),
        (3, PROTEIN, None, "10.1000/prot.2024.17"),
        (4, SAE, "2502.01234", None),  # from the Archive Location column
        (5, "Diffusion Models for Images, Revisited", None, None),
    ]
    assert parsed.entries[0].authors == ["Smith, John", "Müller, Anna"]
    assert parsed.entries[1].authors == ["Lee, Kim"]  # one author, not two
    assert [e.key for e in parsed.entries][:2] == ["ABCD1234", "EFGH5678"]


def test_plain_list_of_ids_dois_and_titles() -> None:
    parsed = parse_library_file(FIXTURES / "papers.txt")
    assert parsed.fmt == "list"
    assert _summary(FIXTURES / "papers.txt") == [
        (2, "", "2501.00001", None),
        (3, "", None, "10.1000/prot.2024.17"),
        (4, "", "2502.01234", None),
        (5, "Diffusion models for images, revisited", None, None),
    ]
    assert parsed.duplicates == [(7, 2)]  # "2501.00001" again, without the prefix and version


@pytest.mark.parametrize("name, fmt", [("library.bib", "bibtex"), ("library.ris", "ris"),
                                       ("zotero.csv", "csv"), ("papers.txt", "list")])
def test_format_is_sniffed_from_content_without_an_extension(name: str, fmt: str) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    assert sniff_library_format(text, "export.dat") == fmt
    assert parse_library(text.encode(), "export.dat").fmt == fmt


def test_format_option_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "refs.bib"  # misnamed: really a plain list
    path.write_text("2501.00001\nSome Paper Title\n", encoding="utf-8")
    with pytest.raises(IngestError, match="no references found"):
        parse_library_file(path)  # read as BibTeX, there is no entry
    assert [e.arxiv_id for e in parse_library_file(path, "list").entries] == ["2501.00001", None]
    with pytest.raises(IngestError, match="unknown library format 'endnote'"):
        parse_library_file(path, "endnote")


def test_unparsable_bibtex_names_the_line() -> None:
    with pytest.raises(IngestError, match=r"broken\.bib, line 5: malformed BibTeX entry"):
        parse_library_file(FIXTURES / "broken.bib")


@pytest.mark.parametrize("text, needle", [
    ("TY  - JOUR\nTI  - One\nER  - \nstray text\n", "line 4: expected 'TY  - '"),
    ("TY  - JOUR\nTI  - One\nTY  - JOUR\nTI  - Two\nER  - \n", "line 3: a new RIS record starts before"),
    ("TY  - JOUR\nTI  - One\nER  - \nTY  - JOUR\nTI  - Cut", "line 4: RIS record has no 'ER  -' end"),
])
def test_unparsable_ris_names_the_line(text: str, needle: str) -> None:
    with pytest.raises(IngestError, match=needle.replace("(", r"\(")):
        parse_library(text.encode(), "lib.ris")


def test_unparsable_csv_and_bytes_name_the_line() -> None:
    with pytest.raises(IngestError, match=r"lib\.csv, line 3: malformed CSV"):
        parse_library(b'Title,DOI\n"Fine",10.1/a\n"Unclosed,10.1/b\n', "lib.csv")
    with pytest.raises(IngestError, match=r"lib\.csv, line 1: CSV header has none of the columns"):
        parse_library(b"Name,Colour\nx,y\n", "lib.csv")
    with pytest.raises(IngestError, match=r"refs\.txt, line 2: not valid UTF-8"):
        parse_library(b"2501.00001\nCaf\xe9 paper\n", "refs.txt")


def test_entry_without_title_or_id_is_named() -> None:
    with pytest.raises(IngestError, match=r"untitled\.bib, line 5: entry 'notitle' has no title"):
        parse_library_file(FIXTURES / "untitled.bib")
    with pytest.raises(IngestError, match=r"x\.ris, line 2: entry has no title"):
        parse_library(b'TY  - JOUR\nAU  - Nobody\nER  - \n'.replace(b"TY", b"\nTY"), "x.ris")


def test_duplicates_are_merged_filling_gaps() -> None:
    text = ("@article{a, title={Same Paper}}\n"
            "@article{b, title={SAME paper!}, doi={10.1000/xyz}, abstract={Filled in.}}\n"
            "@article{a, title={Other}, doi={10.1000/XYZ}}\n")  # repeated key, same DOI
    parsed = parse_library(text.encode(), "dups.bib")
    assert len(parsed.entries) == 1 and parsed.total == 3
    entry = parsed.entries[0]
    assert (entry.title, entry.doi, entry.abstract) == ("Same Paper", "10.1000/xyz", "Filled in.")
    assert parsed.duplicates == [(2, 1), (3, 1)]


def test_reference_kinds() -> None:
    assert parse_reference("arXiv:2501.00001v2").arxiv_id == "2501.00001"
    assert parse_reference("https://arxiv.org/pdf/2501.00001.pdf").arxiv_id == "2501.00001"
    assert parse_reference("doi:10.1000/ABC").doi == "10.1000/abc"
    assert parse_reference("10.48550/arXiv.2501.00001").arxiv_id == "2501.00001"
    titled = parse_reference("  Attention   is all you need ")
    assert (titled.title, titled.arxiv_id, titled.doi) == ("Attention is all you need", None, None)
    assert split_references("2501.00001; A title, with a comma | 10.1/x ;") == [
        "2501.00001", "A title, with a comma", "10.1/x"]
