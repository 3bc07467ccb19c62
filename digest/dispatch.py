"""Delivering filled digests in chunks: claim in bulk, compose, hand over one at a time, record.

A chunk (a few hundred digests) is claimed with one statement (``pending -> claimed``), composed on
the calling thread while a :class:`~digest.delivery.DeliveryWorker` thread talks to the backend over
one connection, and the backend is closed at the end of the chunk. Right before messages are handed
to the backend their rows move ``claimed -> sending`` in the same transaction that records the
outcomes of the ones before, a few at a time, so at any moment a run has at most
:data:`HAND_OVER_GROUP` digests ``sending``.

If the process dies, its ``claimed`` digests were never handed over: the next run of ``digest send``
or ``run`` (or a queue worker) gives them back to ``pending`` and sends them. Only the ``sending``
digests become ``unknown`` (never resent automatically). :func:`recover_claims` tells a dead run's
claims from a live one's by the owner (``host:pid``; a pid that no longer exists on this host) or, for
another host, by the age of the claim.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr

from paperdigest.core import Settings
from paperdigest.core.chunks import chunked
from paperdigest.core.errors import InvalidInput
from paperdigest.digest.archive import write_archive_page
from paperdigest.digest.compose import (
    ItemInfo,
    ReaderInfo,
    build_view,
    compose_message,
    compose_notice,
    message_id_for,
    stored_item,
)
from paperdigest.digest.delivery import DeliveryBackend, DeliveryResult, DeliveryWorker, Outgoing
from paperdigest.digest.tokens import TokenCodec
from paperdigest.store import Store
from paperdigest.store.claims import (
    abandon_sending,
    claim_many,
    claimed_rows,
    hand_over_many,
    release_claims,
    settle_claimed,
)
from paperdigest.store.digests import items_with_papers
from paperdigest.store.models import utcnow
from paperdigest.store.readers import mask_email

__all__ = ["CHUNK", "CLAIM_LEASE", "MAX_ATTEMPTS", "Delivered", "deliver_ready", "owner_id",
           "recover_claims"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # deliveries deferred this often end as failed
CHUNK = 200  # digests claimed, composed and delivered over one connection
# A claim older than this is taken over even when its owner cannot be checked (another host): far
# longer than a chunk takes. Taking over a live run's claim is safe (every move is conditional on
# the owner), it only wastes that run's work.
CLAIM_LEASE = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Delivered:
    reader: ReaderInfo
    digest_id: int
    period: str
    papers: int
    status: str  # sent, failed, unknown, deferred, skipped (claimed by another run), stopped
    detail: str = ""


def owner_id() -> str:
    """This process as a claim owner, ``host:pid`` (read at call time: workers fork)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_gone(owner: str | None, claimed_at: dt.datetime | None, now: dt.datetime,
                lease: dt.timedelta) -> bool:
    if not owner:
        return True  # rows from before claims had owners
    host, _, pid_text = owner.rpartition(":")
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, another user's process
        else:
            if _zombie(pid):  # killed, not yet reaped by its parent: it sends nothing more
                return True
    return claimed_at is None or now - claimed_at > lease


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def recover_claims(store: Store, *, lease: dt.timedelta = CLAIM_LEASE) -> tuple[list[int], list[int]]:
    """Take over the claims of runs that are gone.

    Their ``claimed`` digests go back to ``pending`` (the caller then sends them); their ``sending``
    digest becomes ``unknown``. Returns (released ids, ids marked unknown).
    """
    now = utcnow()
    with store.transaction() as session:
        stale = [(digest_id, status) for digest_id, status, owner, at in claimed_rows(session)
                 if _owner_gone(owner, at, now, lease)]
        released = [d for d, s in stale if s == "claimed"]
        lost = [d for d, s in stale if s == "sending"]
        release_claims(session, None, released)
        abandon_sending(session, lost, f"the sending process stopped before confirming delivery "
                                       f"(found {now:%Y-%m-%d %H:%M}Z)")
    if released:
        log.warning("took over %d digest(s) claimed by a stopped process; they are sent now", len(released))
    if lost:
        log.warning("marked %d digest(s) in flight when their process stopped as 'unknown': ids %s",
                    len(lost), ", ".join(map(str, lost[:20])))
    return released, lost


# Messages marked ``sending`` together (one transaction, which also records the ones before). A crash
# leaves at most this many ``unknown``; one transaction per message cost a quarter of the delivery
# thread's time when the database shared the machine.
HAND_OVER_GROUP = 8


class _Tracker:
    """The backend as the delivery thread sees it: every hand-over is recorded first.

    The thread hands over what has queued up since its last round (up to :data:`HAND_OVER_GROUP`
    messages): they move to ``sending`` in the transaction that records the previous round's outcomes.
    """

    def __init__(self, store: Store, backend: DeliveryBackend, owner: str, now: dt.datetime) -> None:
        self.name = backend.name
        self.store, self.backend, self.owner, self.now = store, backend, owner, now
        self.message_ids: dict[int, str] = {}
        self.stored: dict[int, tuple[str, str | None]] = {}
        self._prev: list[tuple[int, str, str | None]] = []
        self._lock = threading.Lock()

    def _step(self, start: list[tuple[int, str]]) -> set[int]:
        with self._lock, self.store.transaction() as session:
            finished, started = hand_over_many(session, self.owner, finish=self._prev, start=start,
                                               now=self.now, max_attempts=MAX_ATTEMPTS)
            self.stored.update(finished)
            self._prev = []
        return started

    def deliver(self, item: Outgoing) -> DeliveryResult:
        return self.deliver_many([item])[0]

    def deliver_many(self, items: list[Outgoing]) -> list[DeliveryResult]:
        started = self._step([(item.digest_id, self.message_ids[item.digest_id]) for item in items])
        results = []
        for item in items:
            if item.digest_id not in started:
                results.append(DeliveryResult("skipped", "another run took over this digest"))
                continue
            try:
                result = self.backend.deliver(item)
            except Exception as exc:  # a backend bug: whether it left is unknown, so never resend
                log.exception("delivery of digest %s crashed", item.digest_id)
                result = DeliveryResult("unknown", f"{type(exc).__name__}: {exc}")
            self._prev.append((item.digest_id, result.status, result.error))
            results.append(result)
        return results

    def flush(self) -> None:
        if self._prev:
            self._step([])


def _item_infos(pairs: list) -> list[ItemInfo]:  # type: ignore[type-arg]
    return [stored_item(item, p) for item, p in pairs]


def deliver_ready(store: Store, settings: Settings, ready: list[tuple[ReaderInfo, int, str]],
                  now: dt.datetime, backend: DeliveryBackend, emit: Callable[[Delivered], None], *,
                  stop: Callable[[], bool] | None = None, chunk: int = CHUNK) -> None:
    """Deliver pending, filled digests ``(reader, digest_id, period)``; ``emit`` gets each outcome.

    ``stop`` is asked between chunks; digests of chunks not started stay ``pending`` (status
    ``stopped``) for the next run.
    """
    codec = TokenCodec(store.secret_keys(), settings.feedback_max_age_days)
    sender = parseaddr(settings.from_addr)[1] or "digest@localhost"
    owner = owner_id()
    for part in chunked(ready, chunk):
        if stop is not None and stop():
            for reader, digest_id, period in part:
                emit(Delivered(reader, digest_id, period, 0, "stopped", "stop requested: left for next run"))
            continue
        _deliver_chunk(store, settings, list(part), now, backend, emit, codec, sender, owner)


def _deliver_chunk(store: Store, settings: Settings, part: list[tuple[ReaderInfo, int, str]],
                   now: dt.datetime, backend: DeliveryBackend, emit: Callable[[Delivered], None],
                   codec: TokenCodec, sender: str, owner: str) -> None:
    with store.transaction() as session:
        claimed = claim_many(session, [digest_id for _, digest_id, _ in part], owner, utcnow())
        items = items_with_papers(session, sorted(claimed))
    tracker = _Tracker(store, backend, owner, now)
    settled: dict[int, tuple[str, str | None]] = {}  # never went through the backend
    handed: dict[int, tuple[ReaderInfo, str, int]] = {}
    results: list[tuple[int, DeliveryResult]] = []
    try:
        backend.open()
    except BaseException:
        # Nothing was handed over (no server, or a setting the server refuses): the claims go back to
        # pending at once, so the next run sends them instead of waiting for the claim lease.
        with store.transaction() as session:
            release_claims(session, owner, sorted(claimed))
        raise
    worker = DeliveryWorker(tracker, depth=HAND_OVER_GROUP, group=HAND_OVER_GROUP)  # type: ignore[arg-type]
    try:
        for reader, digest_id, period in part:
            if digest_id not in claimed:
                emit(Delivered(reader, digest_id, period, 0, "skipped", "another run is sending this digest"))
                continue
            infos = _item_infos(items[digest_id])
            handed[digest_id] = (reader, period, len(infos))
            message_id = message_id_for(digest_id, reader.id, period, settings)
            try:
                view = build_view(reader, digest_id, period, infos, settings, codec)
                if reader.format != "email":  # a web page (html) or the Atom feed
                    write_archive_page(settings, reader, period, view)
                    if not reader.web_notice:  # the reader chose no notice email
                        settled[digest_id] = ("sent", None)
                        continue
                    try:
                        mail = compose_notice(view, reader, message_id=message_id, settings=settings, now=now)
                    except InvalidInput:  # no usable address: the page is up, skip the note
                        settled[digest_id] = ("sent", None)
                        continue
                else:
                    mail = compose_message(view, reader, message_id=message_id, settings=settings, now=now)
            except Exception as exc:  # one broken digest must not hold back the rest of the chunk
                settled[digest_id] = ("failed", f"cannot render: {type(exc).__name__}: {exc}")
                log.error("digest %s for reader %s cannot be rendered: %s: %s", digest_id, reader.id,
                          type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))
                continue
            tracker.message_ids[digest_id] = message_id
            worker.submit(Outgoing(digest_id, sender, mail.recipient, mail.data,
                                   f"digest-{digest_id}-reader-{reader.id}", mail.html, mail.eight_bit),
                          digest_id)
            results.extend(worker.finished())
    finally:
        results.extend(worker.close())
        try:
            tracker.flush()
        finally:
            backend.close()
            with store.transaction() as session:
                settle_claimed(session, owner, settled, now)
                # Claimed but never handed over (an error above): the next run sends them.
                release_claims(session, owner, sorted(claimed))
    for digest_id, result in results:
        reader, period, papers = handed[digest_id]
        status, error = tracker.stored.get(digest_id, (result.status, result.error))
        if result.status == "deferred" and status == "pending":
            status = "deferred"
        if result.status == "skipped":
            status, error = "skipped", result.error
        _emit(emit, Delivered(reader, digest_id, period, papers, status, error or ""))
    for digest_id, (status, error) in settled.items():
        reader, period, papers = handed[digest_id]
        _emit(emit, Delivered(reader, digest_id, period, papers, status, error or ""))


def _emit(emit: Callable[[Delivered], None], outcome: Delivered) -> None:
    if outcome.status != "sent":
        log.warning("digest %s for %s: %s %s", outcome.digest_id, mask_email(outcome.reader.email),
                    outcome.status, outcome.detail)
    emit(outcome)
