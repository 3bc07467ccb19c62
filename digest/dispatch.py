"""Delivering filled digests: claim, compose, hand to the backend, record the outcome.

Claims are taken in small groups (one transaction each); composing runs on the calling thread
while a :class:`~digest.delivery.DeliveryWorker` thread talks to the backend, and outcomes are
recorded in batches. A digest is claimed (``sending``) before it is composed and handed over, so a
second run can never send it too; if this process dies, at most one group stays ``sending`` and
the scheduler turns those into ``unknown`` (never resent automatically).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr

from paperdigest.core import Settings
from paperdigest.core.errors import InvalidInput
from paperdigest.digest.archive import write_archive_page
from paperdigest.digest.compose import (
    ItemInfo,
    ReaderInfo,
    build_view,
    compose_message,
    compose_notice,
    message_id_for,
    paper_info,
)
from paperdigest.digest.delivery import DeliveryBackend, DeliveryResult, DeliveryWorker, Outgoing
from paperdigest.digest.tokens import TokenCodec
from paperdigest.store import Store
from paperdigest.store.digests import claim_digest, finish_digest, items_with_papers, release_digest
from paperdigest.store.models import Digest
from paperdigest.store.readers import mask_email

__all__ = ["MAX_ATTEMPTS", "Delivered", "deliver_ready"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # deliveries deferred this often end as failed
_GROUP = 20  # digests claimed per transaction


@dataclass(frozen=True)
class Delivered:
    reader: ReaderInfo
    digest_id: int
    period: str
    papers: int
    status: str  # sent, failed, unknown, deferred, or skipped (claimed by another run)
    detail: str = ""


@dataclass(frozen=True)
class _Job:
    reader: ReaderInfo
    digest_id: int
    period: str
    papers: int


def _item_infos(pairs: list) -> list[ItemInfo]:  # type: ignore[type-arg]
    return [ItemInfo(paper_info(p), item.score, item.reason) for item, p in pairs]


def deliver_ready(store: Store, settings: Settings, ready: list[tuple[ReaderInfo, int, str]],
                  now: dt.datetime, backend: DeliveryBackend, emit: Callable[[Delivered], None]) -> None:
    """Deliver pending, filled digests ``(reader, digest_id, period)``; ``emit`` gets each outcome."""
    codec = TokenCodec(store.secret_keys(), settings.feedback_max_age_days)
    sender = parseaddr(settings.from_addr)[1] or "digest@localhost"
    backend.open()
    worker = DeliveryWorker(backend)
    pending: list[tuple[_Job, DeliveryResult]] = []  # finished, not yet recorded
    try:
        for start in range(0, len(ready), _GROUP):
            group = ready[start:start + _GROUP]
            claimed, items = _claim(store, settings, group)
            for reader, digest_id, period in group:
                if digest_id not in claimed:
                    emit(Delivered(reader, digest_id, period, 0, "skipped",
                                   "another run is sending this digest"))
            jobs = [(reader, digest_id, period) for reader, digest_id, period in group
                    if digest_id in claimed]
            for index, (reader, digest_id, period) in enumerate(jobs):
                infos = _item_infos(items[digest_id])
                job = _Job(reader, digest_id, period, len(infos))
                try:
                    view = build_view(reader, digest_id, period, infos, settings, codec)
                    if reader.format != "email":  # a web page (html) or the Atom feed
                        write_archive_page(settings, reader, period, view)
                        if not reader.web_notice:  # the reader chose no notice email
                            pending.append((job, DeliveryResult("sent")))
                            continue
                        try:
                            mail = compose_notice(view, reader, message_id=claimed[digest_id],
                                                  settings=settings, now=now)
                        except InvalidInput:  # no usable address: the page is up, skip the note
                            pending.append((job, DeliveryResult("sent")))
                            continue
                    else:
                        mail = compose_message(view, reader, message_id=claimed[digest_id],
                                               settings=settings, now=now)
                except Exception as exc:
                    # Nothing of these left yet: give them back before the error propagates.
                    with store.transaction() as session:
                        for _, left_id, _ in jobs[index:]:
                            release_digest(session, left_id, f"{type(exc).__name__}: {exc}")
                    raise
                worker.submit(Outgoing(digest_id, sender, mail.recipient, mail.data,
                                       f"digest-{digest_id}-reader-{reader.id}", mail.html,
                                       mail.eight_bit), job)
                pending.extend(worker.finished())
                if len(pending) >= _GROUP // 2:  # one transaction per several outcomes
                    _record(store, pending, now, emit)
                    pending = []
    finally:
        pending.extend(worker.close())
        backend.close()
        if pending:
            _record(store, pending, now, emit)


def _claim(store: Store, settings: Settings, group: list[tuple[ReaderInfo, int, str]]
           ) -> tuple[dict[int, str], dict[int, list]]:  # type: ignore[type-arg]
    claimed: dict[int, str] = {}
    with store.transaction() as session:
        for reader, digest_id, period in group:
            message_id = message_id_for(digest_id, reader.id, period, settings)
            if claim_digest(session, digest_id, message_id):
                claimed[digest_id] = message_id
        items = items_with_papers(session, list(claimed))
    return claimed, items


def _record(store: Store, results: list[tuple[_Job, DeliveryResult]], now: dt.datetime,
            emit: Callable[[Delivered], None]) -> None:
    outcomes = []
    with store.transaction() as session:
        for job, result in results:
            status, error = result.status, result.error
            if status == "deferred":
                row = session.get(Digest, job.digest_id)
                if row is not None and row.attempts >= MAX_ATTEMPTS:
                    status, error = "failed", f"gave up after {row.attempts} attempts: {error}"
                    finish_digest(session, job.digest_id, "failed", error=error)
                else:
                    release_digest(session, job.digest_id, error or "deferred")
            else:
                finish_digest(session, job.digest_id, status, error=error, now=now)
            outcomes.append(Delivered(job.reader, job.digest_id, job.period, job.papers, status,
                                      error or ""))
    for outcome in outcomes:
        if outcome.status != "sent":
            log.warning("digest %s for %s: %s %s", outcome.digest_id, mask_email(outcome.reader.email),
                        outcome.status, outcome.detail)
        emit(outcome)
