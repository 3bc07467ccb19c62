"""Typed errors of ingestion: bad content versus a failed fetch."""

from __future__ import annotations

from paperdigest.core.errors import InvalidInput, PaperdigestError

__all__ = ["EmptyBatch", "FetchError", "IngestError"]


class IngestError(InvalidInput):
    """The content of a file or response is not an acceptable batch; the message names file and line."""


class EmptyBatch(IngestError):
    """A well-formed source with no papers in it (an HF day without papers, an empty feed).

    A subclass so that pollers can treat it as "nothing new" while the CLI still reports it.
    """


class FetchError(PaperdigestError):
    """A network or HTTP failure; the message names the URL (and the status when there was one)."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
