"""Splitting long id lists: one ``IN (...)`` statement per chunk, under every database's bind limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

__all__ = ["ID_CHUNK", "chunked"]

T = TypeVar("T")

# SQLite allows 32,766 bound parameters (999 before 3.32); 500 keeps statements short on both databases.
ID_CHUNK = 500


def chunked(items: Sequence[T], size: int = ID_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items`` of at most ``size`` elements (none for an empty sequence)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start:start + size]
