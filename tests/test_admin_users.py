"""The CLI as an operator uses it: init, users, likes, errors as one line with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli
from paperdigest.core import load_settings
from paperdigest.store import Store
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch


def _add_papers(env: dict[str, str]) -> None:
    with Store.open(load_settings(env=env)) as store, store.transaction() as s:
        upsert_batch(s, NewBatch("file", "b", [
            NewPaper("Graph neural networks at scale", "GNN", arxiv_id="2501.00001"),
            NewPaper("Graph transformers revisited", "GT"),
            NewPaper("Diffusion models for images", "DM"),
        ]))


def test_commands_before_init_say_run_init(cli: Cli) -> None:
    result = cli("users", "list", ok=False)
    assert result.exit_code != 0
    assert "paperdigest init" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_init_never_prints_the_secret(cli: Cli, home: Path) -> None:
    result = cli("init")
    key = (home / "secret.key").read_text().strip()
    assert key and key not in result.stdout
    again = cli("init")
    assert "kept" in again.stdout


def test_users_add_list_show_edit_remove(initialised_cli: Cli) -> None:
    cli = initialised_cli
    cli("users", "add", "ada@example.org", "--name", "Ada", "--tz", "Europe/Berlin",
        "--cadence", "weekly", "--weekday", "fri", "-k", "graphs, proteins")
    rows = json.loads(cli("users", "list", "--json").stdout)
    assert [r["email"] for r in rows] == ["ada@example.org"]
    assert rows[0]["weekday"] == "fri" and rows[0]["keywords"] == ["graphs", "proteins"]
    cli("users", "edit", "ada@example.org", "--send-hour", "6", "--size", "5")
    shown = json.loads(cli("users", "show", "1", "--json").stdout)
    assert (shown["send_hour"], shown["digest_size"]) == (6, 5)
    cli("users", "remove", "ada@example.org", "--yes")
    assert json.loads(cli("users", "list", "--json").stdout) == []


def test_user_errors_are_one_line(initialised_cli: Cli) -> None:
    cli = initialised_cli
    cli("users", "add", "ada@example.org")
    for args, needle in [
        (("users", "add", "ada@example.org"), "exists already"),
        (("users", "add", "not-an-email"), "invalid email address"),
        (("users", "add", "b@example.org", "--tz", "Nowhere/City"), "unknown time zone"),
        (("users", "show", "ghost@example.org"), "no reader"),
        (("users", "edit", "1", "--send-hour", "25"), "send hour"),
    ]:
        result = cli(*args, ok=False)
        assert result.exit_code == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], lines


def test_like_dislike_unlike_by_id_arxiv_and_title(initialised_cli: Cli, env: dict[str, str]) -> None:
    cli = initialised_cli
    _add_papers(env)
    cli("users", "add", "ada@example.org")
    cli("users", "like", "ada@example.org", "arXiv:2501.00001v3")
    assert "No change" in cli("users", "like", "1", "2501.00001").stdout
    cli("users", "dislike", "1", "diffusion models")
    shown = json.loads(cli("users", "show", "1", "--json").stdout)
    assert shown["likes"] == ["2501.00001"] and len(shown["dislikes"]) == 1
    cli("users", "unlike", "1", "2501.00001")
    assert json.loads(cli("users", "show", "1", "--json").stdout)["likes"] == []
    ambiguous = cli("users", "like", "1", "graph", ok=False)
    assert ambiguous.exit_code == 1 and "matches several papers" in ambiguous.stderr
    missing = cli("users", "like", "1", "quantum gravity", ok=False)
    assert "no paper matches" in missing.stderr


def test_users_import_all_or_nothing(initialised_cli: Cli, tmp_path: Path) -> None:
    cli = initialised_cli
    good = tmp_path / "readers.csv"
    good.write_text("email,name,timezone,cadence,keywords\n"
                    "a@x.org,A,Asia/Tokyo,daily,graphs;proteins\n"
                    "b@x.org,B,UTC,each_batch,\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("email,name\nc@x.org,C\nnot-an-email,D\n")
    cli("users", "import", str(good))
    result = cli("users", "import", str(bad), ok=False)
    assert "bad.csv, line 3" in result.stderr and "invalid email" in result.stderr
    emails = [r["email"] for r in json.loads(cli("users", "list", "--json").stdout)]
    assert emails == ["a@x.org", "b@x.org"]  # nothing from the failed file
    no_email = tmp_path / "noemail.csv"
    no_email.write_text("name\nX\n")
    assert "no 'email' column" in cli("users", "import", str(no_email), ok=False).stderr
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01email")
    assert "not UTF-8" in cli("users", "import", str(binary), ok=False).stderr


def test_debug_shows_traceback(initialised_cli: Cli) -> None:
    from paperdigest.admin.cli import app
    from paperdigest.core.errors import NotFound

    result = initialised_cli.runner.invoke(
        app, ["--debug", "users", "show", "nobody@x.org"], env=initialised_cli.env
    )
    assert isinstance(result.exception, NotFound)


def test_invalid_setting_is_one_line(cli: Cli) -> None:
    cli.env["PAPERDIGEST_DELIVERY"] = "carrier-pigeon"
    result = cli("init", ok=False)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: PAPERDIGEST_DELIVERY: must be 'file' or 'smtp', got 'carrier-pigeon'"
    ]


def test_keys_rotate_keeps_old_links_valid(initialised_cli: Cli, home: Path) -> None:
    import pytest
    from paperdigest.core.errors import InvalidInput
    from paperdigest.core.secrets import load_secret_keys
    from paperdigest.digest.tokens import TokenCodec

    before = load_secret_keys(home / "secret.key")
    token = TokenCodec(before).feedback(1, "p1", "like", 7)
    result = initialised_cli("keys", "rotate")
    assert "1 old key(s) kept" in result.stdout
    after = load_secret_keys(home / "secret.key")
    assert after[1:] == before and after[0] not in before
    assert (home / "secret.key").stat().st_mode & 0o777 == 0o600
    signer = TokenCodec(after)
    assert signer.read_feedback(token).paper_id == "p1"  # signed before the rotation
    with pytest.raises(InvalidInput):  # new links are signed with the new key, unknown to the old set
        TokenCodec(before).read_feedback(signer.feedback(1, "p1", "like", 7))
    # Rotated out of the kept window: old links stop verifying, as documented.
    initialised_cli("keys", "rotate", "--keep", "1")
    initialised_cli("keys", "rotate", "--keep", "1")
    with pytest.raises(InvalidInput):
        TokenCodec(load_secret_keys(home / "secret.key")).read_feedback(token)
