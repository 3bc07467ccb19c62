"""The small core every package may import: settings, typed errors, the signing keys and file helpers.

Nothing here imports another paperdigest package, SQLAlchemy or a heavy library.
"""

from __future__ import annotations

from paperdigest.core.errors import (
    AlreadyExists,
    ConfigError,
    InvalidInput,
    NotFound,
    PaperdigestError,
    StoreNotInitialized,
)
from paperdigest.core.settings import Secret, Settings, load_settings

__all__ = [
    "AlreadyExists",
    "ConfigError",
    "InvalidInput",
    "NotFound",
    "PaperdigestError",
    "Secret",
    "Settings",
    "StoreNotInitialized",
    "load_settings",
]
