"""One settings object for the whole application.

Every setting is declared once in ``_FIELDS`` (name, type, default, help). Values merge in this order,
later wins: defaults < TOML config file < ``PAPERDIGEST_*`` environment variables < explicit overrides
(command-line flags). Validation happens once, in :func:`load_settings`, and every error names the key.

Secrets (the SMTP URL, which may carry a password) are wrapped in :class:`Secret` so that ``repr`` and
logs never show them. The signing key for feedback links is not a setting: ``paperdigest init`` writes it
to ``<home>/secret.key`` with mode 0600 (see :mod:`paperdigest.core.secrets`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from paperdigest.core.errors import ConfigError, InvalidInput
from paperdigest.core.schedule import NOTHING_STRONG, check_schedule

__all__ = ["ENV_PREFIX", "Secret", "Settings", "SmtpConfig", "describe_settings", "load_settings"]

ENV_PREFIX = "PAPERDIGEST_"


class Secret:
    """A string that never shows itself in ``repr``/``str``; call :meth:`get` for the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class SmtpConfig:
    """Parsed ``smtp://user:pass@host:port?starttls=true`` / ``smtps://...`` URL."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: Secret | None
    timeout: float = 30.0

    def __repr__(self) -> str:
        user = self.username or "-"
        return f"SmtpConfig(host={self.host!r}, port={self.port}, user={user!r}, tls={self.implicit_tls})"


def _default_home() -> Path:
    try:
        from platformdirs import user_data_path

        return user_data_path("paperdigest", appauthor=False)
    except Exception:  # platformdirs missing or no home directory: fall back to the current folder
        return Path.cwd() / "paperdigest-data"


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(str(value).strip())


def _float(value: Any) -> float:
    return float(str(value).strip())


def _str(value: Any) -> str:
    return str(value).strip()


def _opt_str(value: Any) -> str | None:
    text = str(value).strip()
    return text or None


def _path(value: Any) -> Path:
    return Path(str(value)).expanduser()


def _opt_path(value: Any) -> Path | None:
    text = str(value).strip()
    return Path(text).expanduser() if text else None


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        items = [str(v).strip() for v in value]
    else:
        items = [part.strip() for part in str(value).split(",")]
    return tuple(item for item in items if item)


def _secret(value: Any) -> Secret | None:
    text = str(value).strip()
    return Secret(text) if text else None


@dataclass(frozen=True)
class _Field:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str

    @property
    def env_name(self) -> str:
        # The issue names the sender setting PAPERDIGEST_FROM; the Python name avoids the keyword.
        return f"{ENV_PREFIX}FROM" if self.name == "from_addr" else ENV_PREFIX + self.name.upper()


_FIELDS: tuple[_Field, ...] = (
    _Field("config", _opt_path, None,
           "TOML settings file (same as --config); read before the environment, cannot name itself."),
    _Field("home", _path, None,
           "Data folder: database, outbox, archive, models. Default: ~/.local/share/paperdigest."),
    _Field("database_url", _opt_str, None,
           "SQLAlchemy URL. Default: a SQLite file paperdigest.sqlite3 in the home folder."),
    _Field("delivery", _str, "file", "How digests leave: 'file' (outbox folder) or 'smtp'."),
    _Field("smtp_url", _secret, None,
           "smtp://user:pass@host:port[?starttls=true] or smtps://... for implicit TLS."),
    _Field("from_addr", _str, "paperdigest <digest@localhost>", "From header of digest emails."),
    _Field("base_url", _str, "http://127.0.0.1:8000",
           "Public URL of the feedback web app, used in links."),
    _Field("outbox_dir", _opt_path, None, "File delivery folder. Default: <home>/outbox."),
    _Field("archive_dir", _opt_path, None, "HTML digest archive. Default: <home>/archive."),
    _Field("model_dir", _opt_path, None, "Recommender artifacts. Default: <home>/models."),
    _Field("cache_dir", _opt_path, None,
           "Cache of paper text embeddings (safe to delete). Default: ~/.cache/paperdigest."),
    _Field("watch_dir", _opt_path, None, "Folder polled for dropped batch files (scheduler)."),
    _Field("sources", _str_list, ("hf",),
           "Sources the scheduler polls, comma separated: hf, arxiv, watch."),
    _Field("arxiv_categories", _str_list, ("cs.LG",), "arXiv categories polled by the scheduler."),
    _Field("hf_api_url", _str, "https://huggingface.co/api/daily_papers",
           "Hugging Face daily papers API endpoint."),
    _Field("arxiv_api_url", _str, "https://export.arxiv.org/api/query", "arXiv Atom API endpoint."),
    _Field("http_timeout", _float, 20.0, "Seconds before an HTTP fetch gives up."),
    _Field("http_retries", _int, 3, "Retries on connection errors, 429 and 5xx."),
    _Field("http_deadline", _float, 120.0,
           "Seconds one fetch may take in all (retries and a slow-drip body included)."),
    _Field("poll_minutes", _int, 60, "Minutes between source polls."),
    _Field("tick_minutes", _int, 5, "Minutes between scheduler ticks that send due digests."),
    _Field("refit_hours", _int, 24, "Hours between full recommender refits."),
    _Field("digest_size", _int, 10, "Default number of papers per digest."),
    _Field("min_relevance", _float, 0.1,
           "Like probability (0-1) a paper needs to enter a digest, unless the reader set their own;"
           " 0 fills every digest. Chosen on citeulike-a (docs/recommender.md)."),
    _Field("nothing_strong", _str, "note",
           "When no paper reaches the threshold: 'note' sends the best 3 marked as weaker matches,"
           " 'skip' sends nothing that day. Each reader may choose otherwise (users edit, settings page)."),
    _Field("content_backend", _str, "auto", "Recommender content backend: auto, embedding, tfidf."),
    _Field("feedback_max_age_days", _int, 180, "Days a feedback link stays valid."),
    _Field("list_id", _str, "paperdigest.localhost", "List-Id domain of digest emails."),
    _Field("log_format", _str, "text", "Log lines: 'text' or 'json'."),
    _Field("fake_now", _opt_str, None,
           "Testing aid for `run` only: an ISO time with offset that freezes the scheduler's clock."),
    _Field("queue_url", _secret, None,
           "redis://host:port/db or amqp://user:pass@host:port/vhost: `run` enqueues digest chunks for "
           "`paperdigest worker`. Unset: digests are sent in-process."),
    _Field("queue_name", _str, "paperdigest-digests", "Queue (and Redis key namespace) of digest chunks."),
    _Field("queue_chunk", _int, 200, "Readers per enqueued chunk: one message, one SMTP connection."),
    _Field("signup", _str, "off",
           "Self-service subscribe page (double opt-in): 'off', 'open', or 'domain:example.org'"
           " (comma separate several domains)."),
)

_NAMES = {f.name for f in _FIELDS}
_CONFIG = _FIELDS[0]


@dataclass(frozen=True)
class Settings:
    """Validated application settings. Build with :func:`load_settings`.

    The fields carry types only: names, defaults and help live once, in ``_FIELDS`` (a test checks the
    two lists match), so a default cannot drift between two declarations.
    """

    config: Path | None
    home: Path
    database_url: str
    delivery: str
    smtp_url: Secret | None
    from_addr: str
    base_url: str
    outbox_dir: Path
    archive_dir: Path
    model_dir: Path
    cache_dir: Path
    watch_dir: Path | None
    sources: tuple[str, ...]
    arxiv_categories: tuple[str, ...]
    hf_api_url: str
    arxiv_api_url: str
    http_timeout: float
    http_retries: int
    http_deadline: float
    poll_minutes: int
    tick_minutes: int
    refit_hours: int
    digest_size: int
    min_relevance: float
    nothing_strong: str
    content_backend: str
    feedback_max_age_days: int
    list_id: str
    log_format: str
    fake_now: str | None
    queue_url: Secret | None
    queue_name: str
    queue_chunk: int
    signup: str

    @property
    def signup_enabled(self) -> bool:
        return self.signup != "off"

    def signup_allows(self, email: str) -> bool:
        """Whether the subscribe page accepts this (already validated) address."""
        if self.signup == "open":
            return True
        if not self.signup.startswith("domain:"):
            return False
        domains = {d.strip().lower() for d in self.signup[len("domain:"):].split(",")}
        return email.rsplit("@", 1)[-1].lower() in domains

    @property
    def secret_key_path(self) -> Path:
        return self.home / "secret.key"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def smtp(self) -> SmtpConfig:
        """Parse :attr:`smtp_url`; raises :class:`ConfigError` naming the key if absent or invalid."""
        if self.smtp_url is None:
            raise ConfigError("PAPERDIGEST_SMTP_URL is not set (needed for delivery 'smtp')")
        return _parse_smtp_url(self.smtp_url.get())

    def redacted(self) -> dict[str, str]:
        """All settings as strings, secrets masked: safe to print or log."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = ",".join(value)
            out[f.name] = "" if value is None else str(value)
        out["database_url"] = _redact_url(self.database_url)
        return out


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def _parse_smtp_url(url: str) -> SmtpConfig:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"PAPERDIGEST_SMTP_URL is not a valid URL: {exc}") from None
    if parts.scheme not in {"smtp", "smtps"}:
        raise ConfigError(
            f"PAPERDIGEST_SMTP_URL must start with smtp:// or smtps://, got {parts.scheme or 'none'}://"
        )
    if not parts.hostname:
        raise ConfigError("PAPERDIGEST_SMTP_URL has no host")
    query = parse_qs(parts.query)
    implicit = parts.scheme == "smtps"
    try:
        starttls = _bool(query.get("starttls", ["false"])[0])
        timeout = _float(query.get("timeout", ["30"])[0])
    except ValueError as exc:
        raise ConfigError(f"PAPERDIGEST_SMTP_URL query: {exc}") from None
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls=starttls and not implicit,
        username=unquote(parts.username) if parts.username else None,
        password=Secret(unquote(parts.password)) if parts.password else None,
        timeout=timeout,
    )


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    # Accept both a flat file and one with a [paperdigest] table.
    table = data.get("paperdigest", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [paperdigest] must be a table")
    if "config" in table:
        raise ConfigError(f"config file {path}: 'config' cannot be set inside a config file")
    unknown = sorted(set(table) - _NAMES)
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting '{unknown[0]}'")
    return dict(table)


def load_settings(
    config_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Merge defaults < config file < environment < overrides and validate.

    Parameters
    ----------
    config_file
        Optional TOML file; ``PAPERDIGEST_CONFIG`` in the environment is used when this is None.
    env
        Environment mapping (default ``os.environ``).
    overrides
        Explicit values (command-line flags); ``None`` values are ignored.

    Raises
    ------
    ConfigError
        One line naming the setting that is invalid.
    """
    env = os.environ if env is None else env
    raw: dict[str, tuple[Any, str]] = {}
    config_file = config_file or env.get(_CONFIG.env_name) or None
    if config_file:
        path = Path(config_file).expanduser()
        raw["config"] = (str(path), _CONFIG.env_name)
        for key, value in _read_config_file(path).items():
            raw[key] = (value, f"{key} in {path}")
    for f in _FIELDS:
        if f is not _CONFIG and f.env_name in env:  # the config file was resolved just above
            raw[f.name] = (env[f.env_name], f.env_name)
    for key, value in overrides.items():
        if key not in _NAMES or key == _CONFIG.name:  # the file comes in as ``config_file``
            raise ConfigError(f"unknown setting '{key}'")
        if value is not None:
            raw[key] = (value, f"--{key.replace('_', '-')}")

    values: dict[str, Any] = {}
    for f in _FIELDS:
        if f.name in raw:
            value, origin = raw[f.name]
            try:
                values[f.name] = f.parse(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{origin}: {exc}") from None
        else:
            values[f.name] = f.default
    return _finish(values, {k: origin for k, (_, origin) in raw.items()})


def _origin(origins: Mapping[str, str], name: str) -> str:
    return origins.get(name, next(f.env_name for f in _FIELDS if f.name == name))


def _finish(values: dict[str, Any], origins: Mapping[str, str]) -> Settings:
    home = values["home"] or _default_home()
    home = Path(home).expanduser().absolute()
    values["home"] = home
    if not values["database_url"]:
        values["database_url"] = f"sqlite:///{home / 'paperdigest.sqlite3'}"
    url = values["database_url"]
    if "://" not in url:
        raise ConfigError(f"{_origin(origins, 'database_url')}: not a database URL: {url!r}")
    if values["delivery"] not in {"file", "smtp"}:
        raise ConfigError(
            f"{_origin(origins, 'delivery')}: must be 'file' or 'smtp', got {values['delivery']!r}"
        )
    if values["delivery"] == "smtp":
        if values["smtp_url"] is None:
            raise ConfigError("PAPERDIGEST_SMTP_URL is required when PAPERDIGEST_DELIVERY=smtp")
        _parse_smtp_url(values["smtp_url"].get())
    base = urlsplit(values["base_url"])
    if base.scheme not in {"http", "https"} or not base.netloc:
        raise ConfigError(
            f"{_origin(origins, 'base_url')}: must be an http(s) URL, got {values['base_url']!r}"
        )
    values["base_url"] = values["base_url"].rstrip("/")
    try:  # the same check as `users add --size`, named after the setting it came from
        check_schedule(digest_size=values["digest_size"])
    except InvalidInput as exc:
        raise ConfigError(f"{_origin(origins, 'digest_size')}: {exc}") from None
    for key, low, high in (
        ("tick_minutes", 1, 1440), ("poll_minutes", 1, 10080),
        ("refit_hours", 1, 8760), ("http_retries", 0, 10), ("feedback_max_age_days", 1, 3650),
        ("queue_chunk", 1, 5000),
    ):
        if not low <= values[key] <= high:
            raise ConfigError(f"{_origin(origins, key)}: must be between {low} and {high}")
    if not 0.0 <= values["min_relevance"] <= 1.0:  # also refuses NaN
        raise ConfigError(f"{_origin(origins, 'min_relevance')}: must be a probability between 0 and 1")
    if values["nothing_strong"] not in NOTHING_STRONG:
        raise ConfigError(f"{_origin(origins, 'nothing_strong')}: must be 'note' or 'skip'")
    for key in ("http_timeout", "http_deadline"):
        if values[key] <= 0:
            raise ConfigError(f"{_origin(origins, key)}: must be positive")
    if values["content_backend"] not in {"auto", "embedding", "tfidf"}:
        raise ConfigError(f"{_origin(origins, 'content_backend')}: must be auto, embedding or tfidf")
    if values["log_format"] not in {"text", "json"}:
        raise ConfigError(f"{_origin(origins, 'log_format')}: must be 'text' or 'json'")
    values["signup"] = _signup(values["signup"], _origin(origins, "signup"))
    unknown_sources = set(values["sources"]) - {"hf", "arxiv", "watch"}
    if unknown_sources:
        raise ConfigError(
            f"{_origin(origins, 'sources')}: unknown source '{sorted(unknown_sources)[0]}'"
            " (known: hf, arxiv, watch)"
        )
    if values["queue_url"] is not None:
        scheme = urlsplit(values["queue_url"].get()).scheme
        if scheme not in {"redis", "rediss", "amqp", "amqps"}:
            # The URL may carry a password: name the scheme only.
            raise ConfigError(f"{_origin(origins, 'queue_url')}: must be a redis:// or amqp:// URL, "
                              f"got scheme {scheme or 'none'!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", values["queue_name"]):
        raise ConfigError(f"{_origin(origins, 'queue_name')}: letters, digits, '_', '.', '-' only (1-100)")
    values["outbox_dir"] = values["outbox_dir"] or home / "outbox"
    values["archive_dir"] = values["archive_dir"] or home / "archive"
    values["model_dir"] = values["model_dir"] or home / "models"
    values["cache_dir"] = values["cache_dir"] or Path.home() / ".cache" / "paperdigest"
    if values["watch_dir"] is None and "watch" in values["sources"]:
        values["watch_dir"] = home / "inbox"
    return Settings(**values)


_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")


def _signup(value: str, origin: str) -> str:
    text = value.strip().lower()
    if text in {"off", "open"}:
        return text
    if text.startswith("domain:"):
        domains = [d.strip() for d in text[len("domain:"):].split(",")]
        bad = next((d for d in domains if not _DOMAIN.fullmatch(d)), None)
        if bad is None and domains:
            return "domain:" + ",".join(domains)
        raise ConfigError(f"{origin}: not a domain name: {bad!r}")
    raise ConfigError(f"{origin}: must be 'off', 'open' or 'domain:example.org', got {value!r}")


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment name, default, help) for every setting: used by docs/operating.md and ``--help``."""
    rows = []
    for f in _FIELDS:
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(default)
        rows.append((f.env_name, "" if default is None else str(default), f.help))
    return rows

