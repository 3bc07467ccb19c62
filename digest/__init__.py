"""Personalized digests: build, render, deliver, and the feedback web app.

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
    refit_model(store: Store, settings: Settings) -> dict
        Fit the recommender on the whole store and save it atomically with a watermark.
    load_model(store: Store, settings: Settings) -> Ranker
        The saved model with feedback newer than the watermark folded in (light update).
    create_app(settings: Settings, store: Store | None = None) -> Starlette
        The feedback web app (``paperdigest serve`` runs it under uvicorn).
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
    "Ranker",
    "ReaderOutcome",
    "SendReport",
    "SmtpBackend",
    "TokenCodec",
    "create_app",
    "default_period",
    "load_model",
    "make_backend",
    "preview_digest",
    "refit_model",
    "resend_digest",
    "send_digests",
]

# Lazy attributes: `import digest` stays cheap (no Starlette, css-inline or recommender import)
# for commands that never send anything.
_WHERE = {
    "DeliveryBackend": "digest.delivery", "DeliveryResult": "digest.delivery",
    "FileBackend": "digest.delivery", "Outgoing": "digest.delivery", "SmtpBackend": "digest.delivery",
    "make_backend": "digest.delivery",
    "Ranker": "digest.model", "load_model": "digest.model", "refit_model": "digest.model",
    "ReaderOutcome": "digest.send", "SendReport": "digest.send", "default_period": "digest.send",
    "resend_digest": "digest.send", "send_digests": "digest.send",
    "Preview": "digest.preview", "preview_digest": "digest.preview",
    "TokenCodec": "digest.tokens",
    "create_app": "digest.web",
}

if TYPE_CHECKING:
    from digest.delivery import (
        DeliveryBackend,
        DeliveryResult,
        FileBackend,
        Outgoing,
        SmtpBackend,
        make_backend,
    )
    from digest.model import Ranker, load_model, refit_model
    from digest.preview import Preview, preview_digest
    from digest.send import ReaderOutcome, SendReport, default_period, resend_digest, send_digests
    from digest.tokens import TokenCodec
    from digest.web import create_app


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'digest' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
