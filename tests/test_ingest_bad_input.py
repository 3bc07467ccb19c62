"""Every bad input of issue #2 §5 through the CLI: one line naming file (and line), non-zero exit,
nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paperdigest.core import load_settings
from paperdigest.store import Store
from paperdigest.store.models import Batch, Paper
from sqlalchemy import func, select

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
HEADER = "new\n\nGet trending papers in your email inbox!\n\nJul 4\n\n"
ABSTRACT = "We study the problem carefully. It works."


def _page(*paragraphs: str) -> str:
    return HEADER + "\n\n".join(paragraphs) + "\n"


def _stored(env: dict[str, str]) -> tuple[int, int]:
    with Store.open(load_settings(env=env)) as store, store.transaction() as session:
        return (session.scalar(select(func.count()).select_from(Batch)),
                session.scalar(select(func.count()).select_from(Paper)))


def _fails(cli, env, path: Path, *expected: str, args: tuple[str, ...] = ()) -> str:
    before = _stored(env)
    result = cli("ingest", *args, str(path), ok=False)
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert "\n" not in message, message  # one line, no traceback
    assert message.startswith(f"Error: {path}"), message
    for part in expected:
        assert part in message, message
    assert _stored(env) == before  # nothing half written
    return message


CASES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "empty.txt": (b"", ("file is empty",)),
    "blank.csv": (b"\n  \n\t\n", ("file is empty",)),
    "binary.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), ("binary file",)),
    "latin1.txt": (_page("Caf\xe9 Models", ABSTRACT).encode("latin-1"),
                   ("line 7", "not valid UTF-8", "0xe9")),
    "no_abstract.txt": (_page("Lonely Title", "Second Title", ABSTRACT).encode(),
                        ("line 7", "'Lonely Title' has no abstract")),
    "no_abstract_end.txt": (_page("First Title", ABSTRACT, "Cut Here").encode(),
                            ("line 11", "'Cut Here' has no abstract", "truncated")),
    "no_abstract.json": (json.dumps([{"title": "Only a title"}]).encode(),
                         ("line 1", "'Only a title' has no abstract")),
    "no_abstract.csv": (b"title,abstract\nGood,Fine text.\nBare,\n", ("line 3", "'Bare' has no abstract")),
    "abstract_only.txt": (_page(ABSTRACT, "Title", ABSTRACT).encode(), ("line 7", "abstract with no title")),
    "truncated.json": ((FIXTURES / "hf_daily.json").read_bytes()[:1500],
                       ("malformed JSON", "line 30", "truncated")),
    "truncated.xml": ((FIXTURES / "arxiv_atom.xml").read_bytes()[:2000], ("malformed XML", "line")),
    "truncated.csv": (b'title,abstract\nA,"Fine."\nB,"Cut in the mid', ("line 3", "malformed CSV")),
    "short_row.csv": (b"title,abstract,date\nA,Fine.\n", ("line 2", "2 fields but the header has 3")),
    "malformed.json": (b'[{"title": "A", "abstract": "B."},\n {"title": "C" "abstract": "D."}]',
                       ("line 2 column 16", "malformed JSON")),
    "not_a_list.json": (b'{"title": "A"}', ("no 'papers' list",)),
    "malformed.xml": (b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>A</entry></feed>",
                      ("line 1", "malformed XML", "mismatched tag")),
    "entities.xml": (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><feed>&lol;</feed>',
                     ("DOCTYPE",)),
    "html.xml": (b"<html><body>Not a feed</body></html>", ("neither an Atom feed nor an RSS feed",)),
    "long_title.txt": (_page("T" * 10_000, ABSTRACT).encode(), ("line 7", "title is 10,000 characters")),
    "long_title.json": (json.dumps([{"title": "word " * 2000, "abstract": ABSTRACT}]).encode(),
                        ("line 1", "title is 9,999 characters")),
    "twice.txt": (_page("Same Paper", ABSTRACT, "Other", ABSTRACT, "same paper!", ABSTRACT).encode(),
                  ("line 15", "the same paper appears twice", "first at line 7")),
    "twice_arxiv.csv": (b"title,abstract,id\nA,One.,2507.00001v1\nB,Two.,arXiv:2507.00001\n",
                        ("line 3", "arXiv 2507.00001 appears twice")),
    "script_only.txt": (_page("<script>alert(1)</script>", ABSTRACT).encode(), ("line 7", "no title")),
    "no_date.txt": (b"Title\n\n" + ABSTRACT.encode() + b"\n", ("no date line",)),
    "bad_date.csv": (b"title,abstract,date\nA,B.,yesterday\n", ("line 2", "'yesterday' is not an ISO date")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_writes_nothing(initialised_cli, env, tmp_path: Path, name: str) -> None:
    data, expected = CASES[name]
    path = tmp_path / name
    path.write_bytes(data)
    _fails(initialised_cli, env, path, *expected)


def test_fifty_megabyte_file_is_refused_before_reading(initialised_cli, env, tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:  # sparse: the test does not write 50 MB
        handle.truncate(50 * 1024 * 1024)
    _fails(initialised_cli, env, path, "52.4 MB", "limit")


def test_missing_path_and_directory(initialised_cli, env, tmp_path: Path) -> None:
    _fails(initialised_cli, env, tmp_path / "nope.txt", "no such file")
    _fails(initialised_cli, env, tmp_path, "not a file")


def test_one_bad_file_among_several_stores_none(initialised_cli, env, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"[{]")
    result = initialised_cli("ingest", str(FIXTURES / "page.txt"), str(bad), ok=False)
    assert result.exit_code != 0
    assert result.stderr.strip().startswith(f"Error: {bad}, line 1")
    assert _stored(env) == (0, 0)


def test_html_in_a_page_title_is_stripped_and_stored(initialised_cli, env, tmp_path: Path) -> None:
    path = tmp_path / "html.txt"
    path.write_text(_page('<img src=x onerror="alert(1)">Vision <i>Transformers</i> &amp; Friends', ABSTRACT))
    initialised_cli("ingest", str(path))
    result = initialised_cli("papers", "list", "--json")
    assert [p["title"] for p in json.loads(result.stdout)] == ["Vision Transformers & Friends"]


def test_debug_shows_the_traceback(initialised_cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    from paperdigest.ingest import IngestError

    with pytest.raises(IngestError, match="file is empty"):
        initialised_cli("--debug", "ingest", str(path), ok=False)
