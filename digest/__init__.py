"""Personalized digests: choose, compose, render and deliver (the HTTP app is ``paperdigest.web``; the
model store is ``paperdigest.ranking``).

Public API (what the scheduler and the CLI call)::

    send_digests(store: Store, settings: Settings, *, now: datetime,
                 readers: Sequence[int] | None = None,
                 period_for: Callable[[Reader, datetime], str] | None = None,
                 dry_run: bool = False, backend: DeliveryBackend | None = None,
                 ranker: Ranker | None = None) -> SendReport
        One digest per (reader, period); counts sent, failed, unknown, empty, skipped, deferred
        and per-reader outcomes. Running it twice never sends twice.
    resend_digest(store, settings, digest_id: int, *, now: datetime,
                  backend: DeliveryBackend | None = None) -> ReaderOutcome
        The operator's explicit retry of a failed or unknown digest.
    preview_digest(store, settings, reader: str | int, *, now: datetime,
                   ranker: Ranker | None = None) -> Preview
        What the reader would get now (nothing is written): ``.text``, ``.html``, ``.eml()``.
    make_backend(settings: Settings) -> DeliveryBackend
        ``FileBackend(settings.outbox_dir)`` or ``SmtpBackend(settings.smtp())``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "DeliveryBackend",
    "DeliveryResult",
    "FileBackend",
    "Outgoing",
    "Preview",
    "ReaderOutcome",
    "SendReport",
    "SmtpBackend",
    "TokenCodec",
    "default_period",
    "make_backend",
    "preview_digest",
    "resend_digest",
    "send_digests",
]

# Lazy attributes: `import digest` stays cheap (no Starlette, css-inline or recommender import)
# for commands that never send anything.
_WHERE = {
    "DeliveryBackend": "delivery", "DeliveryResult": "delivery", "FileBackend": "delivery",
    "Outgoing": "delivery", "SmtpBackend": "delivery", "make_backend": "delivery",
    "ReaderOutcome": "send", "SendReport": "send", "default_period": "send",
    "resend_digest": "send", "send_digests": "send",
    "Preview": "preview", "preview_digest": "preview",
    "TokenCodec": "tokens",
}

if TYPE_CHECKING:
    from paperdigest.digest.delivery import (
        DeliveryBackend,
        DeliveryResult,
        FileBackend,
        Outgoing,
        SmtpBackend,
        make_backend,
    )
    from paperdigest.digest.preview import Preview, preview_digest
    from paperdigest.digest.send import ReaderOutcome, SendReport, default_period, resend_digest, send_digests
    from paperdigest.digest.tokens import TokenCodec


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'paperdigest.digest' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"paperdigest.digest.{_WHERE[name]}"), name)
