"""Settings: merge order, validation messages that name the key, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from paperdigest.core.errors import ConfigError
from paperdigest.core.settings import Secret, describe_settings, load_settings


def test_defaults_form_the_embedded_setup(tmp_path: Path) -> None:
    s = load_settings(env={"PAPERDIGEST_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'paperdigest.sqlite3'}"
    assert s.delivery == "file"
    assert s.outbox_dir == tmp_path / "outbox"
    assert s.archive_dir == tmp_path / "archive"
    assert s.secret_key_path == tmp_path / "secret.key"


def test_merge_order_defaults_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "pd.toml"
    cfg.write_text('[paperdigest]\ndigest_size = 7\ntick_minutes = 3\nbase_url = "https://a.example"\n')
    env = {"PAPERDIGEST_HOME": str(tmp_path), "PAPERDIGEST_TICK_MINUTES": "9"}
    s = load_settings(cfg, env=env, base_url="https://flag.example/")
    assert s.digest_size == 7  # file beats default
    assert s.tick_minutes == 9  # env beats file
    assert s.base_url == "https://flag.example"  # flag beats all; trailing slash dropped


def test_config_file_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "pd.toml"
    cfg.write_text("digest_size = 12\n")
    s = load_settings(env={"PAPERDIGEST_HOME": str(tmp_path), "PAPERDIGEST_CONFIG": str(cfg)})
    assert s.digest_size == 12


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"PAPERDIGEST_DELIVERY": "pigeon"}, "PAPERDIGEST_DELIVERY"),
        ({"PAPERDIGEST_DIGEST_SIZE": "ten"}, "PAPERDIGEST_DIGEST_SIZE"),
        ({"PAPERDIGEST_DIGEST_SIZE": "0"}, "PAPERDIGEST_DIGEST_SIZE"),
        ({"PAPERDIGEST_BASE_URL": "ftp://x"}, "PAPERDIGEST_BASE_URL"),
        ({"PAPERDIGEST_DELIVERY": "smtp"}, "PAPERDIGEST_SMTP_URL"),
        ({"PAPERDIGEST_DELIVERY": "smtp", "PAPERDIGEST_SMTP_URL": "http://x"}, "PAPERDIGEST_SMTP_URL"),
        ({"PAPERDIGEST_DATABASE_URL": "nonsense"}, "PAPERDIGEST_DATABASE_URL"),
        ({"PAPERDIGEST_SOURCES": "hf,rss"}, "PAPERDIGEST_SOURCES"),
        ({"PAPERDIGEST_LOG_FORMAT": "xml"}, "PAPERDIGEST_LOG_FORMAT"),
    ],
)
def test_invalid_settings_name_the_key(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"PAPERDIGEST_HOME": str(tmp_path), **env})
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_bad_config_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml does not exist"):
        load_settings(missing, env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("digest_size = = 3\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_settings(broken, env={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(unknown, env={})
    typed = tmp_path / "typed.toml"
    typed.write_text("digest_size = 'many'\n")
    with pytest.raises(ConfigError, match=r"digest_size in .*typed\.toml"):
        load_settings(typed, env={})


def test_smtp_url_parsing_and_secrecy(tmp_path: Path) -> None:
    env = {
        "PAPERDIGEST_HOME": str(tmp_path),
        "PAPERDIGEST_DELIVERY": "smtp",
        "PAPERDIGEST_SMTP_URL": "smtp://mailer:s3cr%40t@mail.example:587?starttls=true",
    }
    s = load_settings(env=env)
    smtp = s.smtp()
    assert (smtp.host, smtp.port, smtp.starttls, smtp.implicit_tls) == ("mail.example", 587, True, False)
    assert smtp.username == "mailer"
    assert smtp.password is not None and smtp.password.get() == "s3cr@t"
    for text in (repr(s), str(s), repr(smtp), str(s.redacted())):
        assert "s3cr" not in text
    implicit = load_settings(env={**env, "PAPERDIGEST_SMTP_URL": "smtps://mail.example"}).smtp()
    assert (implicit.port, implicit.implicit_tls, implicit.starttls) == (465, True, False)


def test_database_password_is_redacted(tmp_path: Path) -> None:
    s = load_settings(env={"PAPERDIGEST_HOME": str(tmp_path),
                           "PAPERDIGEST_DATABASE_URL": "postgresql://u:hunter2@db/pd"})
    assert "hunter2" not in s.redacted()["database_url"]
    assert "***" in s.redacted()["database_url"]


def test_secret_repr_hides_value() -> None:
    secret = Secret("topsecret")
    assert "topsecret" not in repr(secret) and "topsecret" not in f"{secret}"
    assert secret.get() == "topsecret"


def test_every_setting_is_described() -> None:
    rows = describe_settings()
    names = {row[0] for row in rows}
    for required in ("PAPERDIGEST_HOME", "PAPERDIGEST_DATABASE_URL", "PAPERDIGEST_DELIVERY",
                     "PAPERDIGEST_SMTP_URL", "PAPERDIGEST_FROM", "PAPERDIGEST_BASE_URL"):
        assert required in names
    assert all(help_text for _, _, help_text in rows)


def test_fields_table_is_the_only_declaration() -> None:
    # Settings carries types only; names and defaults come from _FIELDS, in the same order.
    from dataclasses import MISSING, fields

    from paperdigest.core.settings import _FIELDS, Settings

    declared = fields(Settings)
    assert [f.name for f in declared] == [f.name for f in _FIELDS]
    assert all(f.default is MISSING and f.default_factory is MISSING for f in declared)


def test_every_environment_variable_the_code_reads_is_declared() -> None:
    import re

    root = Path(__file__).resolve().parents[1]
    declared = {name for name, _, _ in describe_settings()}
    skip = {"tests", ".venv", "benchmarks", "build"}
    found: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        if skip & set(path.relative_to(root).parts):
            continue
        for name in re.findall(r"PAPERDIGEST_[A-Z_]+[A-Z]", path.read_text(encoding="utf-8")):
            found.setdefault(name, path)
    undeclared = {n: str(p.relative_to(root)) for n, p in found.items() if n not in declared}
    assert not undeclared
    assert len([n for n, _, _ in describe_settings()]) == len(declared)


def test_config_file_cannot_name_itself(tmp_path: Path) -> None:
    cfg = tmp_path / "pd.toml"
    cfg.write_text('config = "other.toml"\n')
    with pytest.raises(ConfigError, match="cannot be set inside"):
        load_settings(cfg, env={"PAPERDIGEST_HOME": str(tmp_path)})


def test_config_path_is_recorded(tmp_path: Path) -> None:
    cfg = tmp_path / "pd.toml"
    cfg.write_text("digest_size = 12\n")
    assert load_settings(cfg, env={"PAPERDIGEST_HOME": str(tmp_path)}).config == cfg
    assert load_settings(env={"PAPERDIGEST_HOME": str(tmp_path)}).config is None
