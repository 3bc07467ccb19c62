"""The ingest, batches and papers commands end to end on a real SQLite store (in-process CLI)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def test_ingest_files_then_inspect(initialised_cli) -> None:
    cli = initialised_cli
    result = cli("ingest", str(FIXTURES / "hf_daily.json"), str(FIXTURES / "arxiv_atom.xml"))
    assert result.stderr == ""  # no progress bar off a terminal
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("Batch 1 (hf) from ")
    assert lines[0].endswith("3 papers, 3 new, 0 already known.")
    assert lines[1].endswith("3 papers, 2 new, 1 already known.")

    again = cli("ingest", str(FIXTURES / "hf_daily.json"))
    expected = f"{FIXTURES / 'hf_daily.json'}: already ingested as batch 1; nothing changed."
    assert again.stdout.strip() == expected

    batches = json.loads(cli("batches", "list", "--json").stdout)
    assert [(b["id"], b["source"], b["papers"]) for b in batches] == [(2, "arxiv", 3), (1, "hf", 3)]
    assert json.loads(cli("batches", "list", "--source", "hf", "--json").stdout)[0]["id"] == 1

    shown = json.loads(cli("batches", "show", "1", "--json").stdout)
    assert shown["date"] == "2025-07-02"
    assert [p["id"] for p in shown["paper_list"]] == ["2507.01001", "2507.01017", "2507.00988"]
    assert shown["paper_list"][0]["upvotes"] == 42
    assert "Sparse Mixtures" in cli("batches", "show", "2").stdout

    papers = json.loads(cli("papers", "list", "--json").stdout)
    assert len(papers) == 5
    in_batch = json.loads(cli("papers", "list", "--batch", "2", "--json").stdout)
    assert [p["arxiv_id"] for p in in_batch] == ["2507.01001", "2507.01044", "2507.01102"]

    found = json.loads(cli("papers", "search", "theorem curriculum", "--json").stdout)
    assert [p["id"] for p in found] == ["2507.01102"]
    assert found[0]["authors"] == ["Kofi Mensah", "Sara Bianchi"]
    assert cli("papers", "search", "nothingmatches").stdout == "No papers.\n"
    assert "Token Budgets" in cli("papers", "list").stdout


def test_source_and_format_options(initialised_cli, tmp_path: Path) -> None:
    path = tmp_path / "listing.dat"
    path.write_bytes((FIXTURES / "papers.csv").read_bytes())
    result = initialised_cli("ingest", "--format", "csv", "--source", "lab", str(path), "--json")
    out = json.loads(result.stdout)
    assert out[0]["source"] == "lab" and out[0]["new_papers"] == 3
    bad = initialised_cli("ingest", "--format", "yaml", str(path), ok=False)
    assert bad.exit_code != 0 and "--format must be one of page, hf, atom, rss, csv, json" in bad.stderr


def test_lookup_errors_are_one_line(initialised_cli) -> None:
    result = initialised_cli("batches", "show", "42", ok=False)
    assert result.exit_code != 0 and result.stderr.strip() == "Error: no batch with id 42"
    result = initialised_cli("papers", "list", "--batch", "42", ok=False)
    assert result.stderr.strip() == "Error: no batch with id 42"
    result = initialised_cli("papers", "search", "  ", ok=False)
    assert result.stderr.strip() == "Error: search query is empty"


def test_commands_need_an_initialised_store(cli) -> None:
    result = cli("ingest", str(FIXTURES / "page.txt"), ok=False)
    assert result.exit_code != 0 and "init" in result.stderr


def test_every_command_has_help_and_a_readme_entry(cli) -> None:
    readme = (Path(__file__).parents[1] / "docs" / "operating.md").read_text()
    section = readme.split("<!-- ingest:start -->")[1].split("<!-- ingest:end -->")[0]
    for command in (["ingest"], ["fetch"], ["batches", "list"], ["batches", "show"], ["papers", "list"],
                    ["papers", "search"]):
        assert cli(*command, "--help").stdout.strip()
        assert f"paperdigest {' '.join(command)}" in section, command
