"""Size, hour and cadence are checked by one function, with the same words in every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Cli
from paperdigest.core.errors import ConfigError
from paperdigest.core.settings import load_settings

BAD = [
    ("--size", "digest_size", "0", "digest size must be 1-100, got 0"),
    ("--size", "digest_size", "101", "digest size must be 1-100, got 101"),
    ("--send-hour", "send_hour", "24", "send hour must be 0-23, got 24"),
    ("--cadence", "cadence", "monthly", "cadence must be one of each_batch, daily, weekly, got 'monthly'"),
]


@pytest.mark.parametrize(("flag", "column", "value", "message"), BAD)
def test_every_command_refuses_the_same_values(initialised_cli: Cli, tmp_path: Path, flag: str,
                                                column: str, value: str, message: str) -> None:
    cli = initialised_cli
    added = cli("users", "add", "ann@example.org", flag, value, ok=False)
    assert added.exit_code != 0 and message in added.stderr
    cli("users", "add", "bob@example.org")
    edited = cli("users", "edit", "bob@example.org", flag, value, ok=False)
    assert edited.exit_code != 0 and message in edited.stderr
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text(f"email,{column}\ncy@example.org,{value}\n", encoding="utf-8")
    imported = cli("users", "import", str(csv_file), ok=False)
    assert imported.exit_code != 0 and message in imported.stderr
    emails = [r["email"] for r in json.loads(cli("users", "list", "--json").stdout)]
    assert emails == ["bob@example.org"]  # nothing half-written
    shown = json.loads(cli("users", "show", "bob@example.org", "--json").stdout)
    assert (shown["digest_size"], shown["send_hour"], shown["cadence"]) == (10, 8, "daily")


def test_setting_uses_the_same_check(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"PAPERDIGEST_HOME": str(tmp_path), "PAPERDIGEST_DIGEST_SIZE": "0"})
    assert str(info.value) == "PAPERDIGEST_DIGEST_SIZE: digest size must be 1-100, got 0"


def test_good_values_pass_everywhere(initialised_cli: Cli) -> None:
    initialised_cli("users", "add", "ann@example.org", "--size", "1", "--send-hour", "0",
                    "--cadence", "Each-Batch")
    shown = json.loads(initialised_cli("users", "show", "ann@example.org", "--json").stdout)
    assert (shown["digest_size"], shown["send_hour"], shown["cadence"]) == (1, 0, "each_batch")
