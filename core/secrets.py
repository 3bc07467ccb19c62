"""The signing key(s) for feedback links: ``<home>/secret.key``, mode 0600, never printed.

The file holds one key per line, newest first; tokens are signed with the first and verified with
any, so keys can be rotated without breaking links already sent.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from paperdigest.core.errors import ConfigError
from paperdigest.core.files import atomic_write

__all__ = ["create_secret_key", "load_secret_keys", "rotate_secret_key"]


def _write_private(path: Path, text: str) -> None:
    # 0600 is set before the rename, so the key is never visible with looser bits.
    atomic_write(path, text, mode=0o600)


def create_secret_key(path: Path) -> bool:
    """Create the key file if it does not exist. Returns True if a key was created."""
    if path.exists():
        return False
    _write_private(path, secrets.token_urlsafe(48) + "\n")
    return True


def load_secret_keys(path: Path) -> list[str]:
    """Keys, newest first. Raises :class:`ConfigError` if missing, empty or readable by others."""
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no secret key at {path}: run 'paperdigest init'") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the secret key {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"secret key {path} is readable by others (mode {mode:o}): chmod 600 it")
    keys = [line.strip() for line in text.splitlines() if line.strip()]
    if not keys:
        raise ConfigError(f"secret key file {path} is empty")
    return keys


def rotate_secret_key(path: Path, keep: int = 2) -> None:
    """Put a new key first and keep the ``keep`` newest old ones for verifying sent links."""
    old = load_secret_keys(path)
    _write_private(path, "\n".join([secrets.token_urlsafe(48), *old[:keep]]) + "\n")
