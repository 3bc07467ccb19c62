"""``paperdigest users seed`` and the ``likes`` column of ``users import``, as an operator runs them."""

from __future__ import annotations

import json
import os
import pty
import re
import select as select_module
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Cli
from paperdigest.core import load_settings
from paperdigest.store import Store
from paperdigest.store.library import HISTORY_SOURCE
from paperdigest.store.models import Interaction, Paper
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from sqlalchemy import func, select

FIXTURES = Path(__file__).parent / "fixtures" / "library"
SUMMARY = re.compile(r"^(\d+) entries, (\d+) matched existing papers, (\d+) added as history,"
                     r" (\d+) duplicates merged")


@pytest.fixture
def scli(initialised_cli: Cli) -> Cli:
    """A store with two ingested papers (one with an arXiv id) and a reader."""
    with Store.open(load_settings(env=initialised_cli.env)) as store, store.transaction() as s:
        upsert_batch(s, NewBatch("hf", "day1", [
            NewPaper("Graph Neural Networks at Scale", "GNN", arxiv_id="2501.00001"),
            NewPaper("Diffusion Models for Images, Revisited", "DM"),
        ]))
    initialised_cli("users", "add", "ada@example.org")
    return initialised_cli


def _counts(cli: Cli) -> tuple[int, int, int]:
    with Store.open(load_settings(env=cli.env)) as store, store.transaction() as s:
        return (s.scalar(select(func.count()).select_from(Paper)),
                s.scalar(select(func.count()).select_from(Paper).where(Paper.source == HISTORY_SOURCE)),
                s.scalar(select(func.count()).select_from(Interaction)))


def _summary(stdout: str) -> tuple[int, ...]:
    match = SUMMARY.match(stdout.strip())
    assert match, stdout
    return tuple(int(g) for g in match.groups())


@pytest.mark.parametrize("name, expected", [
    # (entries, matched, added as history, duplicates merged)
    ("library.bib", (4, 1, 2, 1)),
    ("library.ris", (3, 1, 2, 0)),
    ("zotero.csv", (4, 2, 2, 0)),
])
def test_seed_each_format(scli: Cli, name: str, expected: tuple[int, ...]) -> None:
    result = scli("users", "seed", "ada@example.org", str(FIXTURES / name))
    assert _summary(result.stdout) == expected
    papers, history, likes = _counts(scli)
    assert (papers, history) == (2 + expected[2], expected[2])
    assert likes == expected[1] + expected[2]
    shown = json.loads(scli("users", "show", "ada@example.org", "--json").stdout)
    assert "2501.00001" in shown["likes"]
    # Seeding the same library again changes nothing and says so.
    again = json.loads(scli("users", "seed", "1", str(FIXTURES / name), "--json").stdout)
    assert (again["added"], again["liked"], again["already"]) == (0, 0, expected[1] + expected[2])


def test_plain_list_after_a_library_matches_by_id_and_doi(scli: Cli) -> None:
    scli("users", "add", "bob@example.org")
    scli("users", "seed", "ada@example.org", str(FIXTURES / "library.ris"))
    data = json.loads(scli("users", "seed", "bob@example.org", str(FIXTURES / "papers.txt"),
                           "--json").stdout)
    # Every line names a stored paper: by arXiv id, by the DOI the RIS file brought, by title.
    assert (data["entries"], data["matched"], data["added"], data["duplicates"]) == (5, 4, 0, 1)
    assert data["duplicate_lines"] == [{"line": 7, "same_as_line": 2}]
    assert data["format"] == "list"


def test_unparsable_file_names_the_line_and_stores_nothing(scli: Cli) -> None:
    result = scli("users", "seed", "ada@example.org", str(FIXTURES / "broken.bib"), ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {FIXTURES / 'broken.bib'}, line 5: malformed BibTeX entry (Unexpected block start:"
        " `@article`. Was still looking for field-value closing `}`)"]
    assert _counts(scli) == (2, 0, 0)


def test_entry_without_title_is_named(scli: Cli, tmp_path: Path) -> None:
    result = scli("users", "seed", "ada@example.org", str(FIXTURES / "untitled.bib"), ok=False)
    assert result.exit_code == 1 and "line 5: entry 'notitle' has no title" in result.stderr
    # An arXiv id alone cannot become a history paper: the line is named, nothing is stored...
    path = tmp_path / "ids.txt"
    path.write_text("Brand New Paper Title\narXiv:2609.99999\n", encoding="utf-8")
    result = scli("users", "seed", "ada@example.org", str(path), ok=False)
    assert result.exit_code == 1
    assert "line 2 ('arXiv:2609.99999'): no title, and no stored paper" in result.stderr
    assert _counts(scli) == (2, 0, 0)
    # ...unless the operator asks to skip such lines.
    data = json.loads(scli("users", "seed", "ada@example.org", str(path), "--skip-untitled",
                           "--json").stdout)
    assert (data["added"], data["skipped"], data["skipped_lines"]) == (1, 1, [2])


def test_unknown_reader_and_format(scli: Cli) -> None:
    result = scli("users", "seed", "ghost@example.org", str(FIXTURES / "library.bib"), ok=False)
    assert result.exit_code == 1 and "no reader 'ghost@example.org'" in result.stderr
    result = scli("users", "seed", "1", str(FIXTURES / "library.bib"), "--format", "endnote", ok=False)
    assert result.exit_code == 1 and "unknown library format 'endnote'" in result.stderr
    assert _counts(scli) == (2, 0, 0)


def _big_bibtex(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(f"@article{{k{i}, title={{Paper number {i} on graph learning}}, author={{A and B}},"
                      f" doi={{10.5555/big.{i}}}}}\n")
        out.write("@article{again, title={Paper number 7 on graph learning.}}\n")


@pytest.mark.slow
def test_ten_thousand_entries(scli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "big.bib"
    _big_bibtex(path, 10_000)
    result = scli("users", "seed", "ada@example.org", str(path))
    assert _summary(result.stdout) == (10_001, 0, 10_000, 1)
    assert "Seeding" not in result.stdout + result.stderr  # no progress bar when not on a terminal
    assert _counts(scli) == (10_002, 10_000, 10_000)


@pytest.mark.slow
def test_progress_shows_on_a_terminal(scli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "big.bib"
    _big_bibtex(path, 3_000)
    primary, secondary = pty.openpty()
    env = {**os.environ, **scli.env, "COLUMNS": "100"}
    # stderr is a pseudo-terminal (where the bar goes), stdout a pipe (where the summary goes).
    command = [str(Path(sys.executable).parent / "paperdigest"), "users", "seed", "1", str(path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=secondary, stdin=subprocess.DEVNULL,
                            env=env)
    os.close(secondary)
    seen = b""
    while True:
        ready, _, _ = select_module.select([primary], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    stdout, _ = proc.communicate(timeout=60)
    os.close(primary)
    assert proc.returncode == 0, seen
    assert b"Seeding" in seen
    assert _summary(stdout.decode()) == (3_001, 0, 3_000, 1)


def test_users_import_likes_column(scli: Cli, tmp_path: Path) -> None:
    scli("users", "seed", "ada@example.org", str(FIXTURES / "library.ris"))
    path = tmp_path / "readers.csv"
    path.write_text("email,name,likes\n"
                    "cleo@example.org,Cleo,2501.00001; 10.1000/prot.2024.17\n"
                    'dan@example.org,Dan,"Diffusion models for images, revisited"\n'
                    "eve@example.org,Eve,\n", encoding="utf-8")
    result = scli("users", "import", str(path))
    assert "Imported 3 new and 0 updated readers with 3 new likes" in result.stdout
    cleo = json.loads(scli("users", "show", "cleo@example.org", "--json").stdout)
    assert len(cleo["likes"]) == 2 and "2501.00001" in cleo["likes"]
    bad = tmp_path / "bad.csv"
    bad.write_text("email,likes\nfay@example.org,2501.00001\ngus@example.org,No Such Paper\n",
                   encoding="utf-8")
    result = scli("users", "import", str(bad), ok=False)
    assert result.exit_code == 1
    assert f"{bad}, line 3: liked paper 'No Such Paper' is not in the store" in result.stderr
    emails = [r["email"] for r in json.loads(scli("users", "list", "--json").stdout)]
    assert "fay@example.org" not in emails  # all or nothing
