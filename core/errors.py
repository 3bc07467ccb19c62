"""Typed errors of paperdigest's domain. The CLI turns each into one line and a non-zero exit."""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "ConfigError",
    "InvalidInput",
    "NotFound",
    "PaperdigestError",
    "StoreNotInitialized",
]


class PaperdigestError(Exception):
    """Base of every expected, user-facing failure. ``str(exc)`` is the one-line message."""

    exit_code = 1


class ConfigError(PaperdigestError):
    """A setting is missing or invalid; the message names the key."""

    exit_code = 2


class InvalidInput(PaperdigestError, ValueError):
    """Input data (a file, a URL, a field) is not acceptable; the message names the culprit."""


class NotFound(PaperdigestError, LookupError):
    """A reader, paper, batch or digest that does not exist."""


class AlreadyExists(PaperdigestError):
    """A unique thing (reader email, ...) exists already."""


class StoreNotInitialized(PaperdigestError):
    """The database has no schema yet: run ``paperdigest init``."""
