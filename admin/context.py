"""What every command gets: lazily built settings, the store, output switches."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from paperdigest.core import Settings, load_settings

if TYPE_CHECKING:
    from paperdigest.store import Store

__all__ = ["AppContext", "get_context"]


@dataclass
class AppContext:
    config_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    debug: bool = False
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        # Built on first use so `--help` works even when the environment holds a bad setting.
        if self._settings is None:
            self._settings = load_settings(self.config_file, **self.overrides)
        return self._settings

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        """The initialised store for this run (raises StoreNotInitialized before `init`)."""
        # Imported here: SQLAlchemy costs more than the rest of start-up, and `--help` never needs it.
        from paperdigest.store import Store

        store = Store.open(self.settings)
        try:
            yield store
        finally:
            store.close()

    @property
    def interactive(self) -> bool:
        return sys.stderr.isatty()


def get_context(ctx: typer.Context) -> AppContext:
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj
