"""Claims on digest rows: who delivers a digest, and what a crash leaves behind.

``pending -> claimed`` (:func:`claim_many`, a chunk at once) -> ``sending`` (:func:`hand_over_many`,
right before a few messages go to the backend, in the same transaction that records the ones before)
-> ``sent | failed | unknown``, or back to ``pending`` when nothing was handed over. Every move is a
conditional UPDATE on the status and the owner, so of two runs — or a queue redelivering a chunk —
exactly one delivers a digest, and a run that lost its claim to a takeover changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from paperdigest.core.chunks import chunked
from paperdigest.core.errors import InvalidInput
from paperdigest.store.models import Digest, utcnow
from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

__all__ = [
    "abandon_sending",
    "claim_many",
    "claimed_rows",
    "hand_over",
    "hand_over_many",
    "release_claims",
    "settle_claimed",
    "stamp_enqueued",
    "unstamp_enqueued",
]

_FINAL = ("sent", "failed", "unknown")


def _aware(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def claim_many(session: Session, digest_ids: Sequence[int], owner: str, now: dt.datetime) -> set[int]:
    """Move pending digests to ``claimed`` by ``owner`` in bulk; returns the ids this call claimed.

    A conditional UPDATE: of two callers each digest goes to exactly one.
    """
    claimed: set[int] = set()
    for part in chunked(sorted(set(digest_ids))):
        session.execute(update(Digest).where(Digest.id.in_(part), Digest.status == "pending")
                        .values(status="claimed", claimed_by=owner, claimed_at=now,
                                attempts=Digest.attempts + 1)
                        .execution_options(synchronize_session=False))
        claimed.update(session.scalars(select(Digest.id).where(
            Digest.id.in_(part), Digest.status == "claimed", Digest.claimed_by == owner)))
    return claimed


def hand_over(session: Session, owner: str, *, finish: tuple[int, str, str | None] | None = None,
              start: tuple[int, str] | None = None, now: dt.datetime | None = None,
              max_attempts: int = 5) -> tuple[tuple[str, str | None] | None, bool]:
    """:func:`hand_over_many` for one message: (stored status of ``finish``, whether ``start`` moved)."""
    stored, started = hand_over_many(session, owner, finish=[finish] if finish else (),
                                     start=[start] if start else (), now=now, max_attempts=max_attempts)
    return (stored[finish[0]] if finish else None), bool(start and start[0] in started)


def hand_over_many(session: Session, owner: str, *, finish: Sequence[tuple[int, str, str | None]] = (),
                   start: Sequence[tuple[int, str]] = (), now: dt.datetime | None = None,
                   max_attempts: int = 5) -> tuple[dict[int, tuple[str, str | None]], set[int]]:
    """Record the messages just delivered and mark the next few ``sending``, in one transaction.

    ``finish`` = (digest id, outcome, error) of the messages that were in flight: ``sent``, ``failed``,
    ``unknown``, or ``deferred`` (nothing was handed over: back to ``pending``, or ``failed`` once it
    was tried ``max_attempts`` times). ``start`` = (digest id, Message-ID) about to be handed to the
    backend; each moves ``claimed -> sending`` only while ``owner`` still holds the claim.

    Returns (stored status and error per finished id, the ids of ``start`` that moved to ``sending``).
    Doing both in one transaction is what bounds a crash to the ``sending`` digests of one call (then
    ``unknown``); the caller chooses how many that is.
    """
    stored: dict[int, tuple[str, str | None]] = {}
    sent = [digest_id for digest_id, outcome, error in finish if outcome == "sent" and error is None]
    for part in chunked(sent):  # the common case, in bulk
        session.execute(update(Digest).where(
            Digest.id.in_(part), Digest.status.in_(("claimed", "sending")), Digest.claimed_by == owner)
            .values(status="sent", error=None, sent_at=now or utcnow())
            .execution_options(synchronize_session=False))
    stored.update((digest_id, ("sent", None)) for digest_id in sent)
    for digest_id, outcome, error in finish:
        if digest_id not in stored:
            stored[digest_id] = _finish(session, owner, digest_id, outcome, error, now=now,
                                        max_attempts=max_attempts)
    started: set[int] = set()
    # The rows this very statement moved (RETURNING), not a re-read: two runs of one process share
    # an owner, and only the status change tells whose move it was.
    returning = session.get_bind().dialect.update_returning
    for part in chunked(list(start)) if returning else ([one] for one in start):
        ids = [digest_id for digest_id, _ in part]
        message_id = case({digest_id: mid for digest_id, mid in part}, value=Digest.id)
        stmt = (update(Digest).where(Digest.id.in_(ids), Digest.status == "claimed",
                                     Digest.claimed_by == owner)
                .values(status="sending", message_id=message_id).execution_options(synchronize_session=False))
        if returning:
            started.update(session.scalars(stmt.returning(Digest.id)))
        elif session.execute(stmt).rowcount == 1:
            started.add(ids[0])
    return stored, started


def _finish(session: Session, owner: str, digest_id: int, outcome: str, error: str | None, *,
            now: dt.datetime | None, max_attempts: int) -> tuple[str, str | None]:
    mine = (Digest.id == digest_id, Digest.status.in_(("claimed", "sending")), Digest.claimed_by == owner)
    if outcome == "deferred":
        gave_up = f"gave up after {max_attempts} attempts: {error}"
        session.execute(update(Digest).where(*mine).values(
            status=case((Digest.attempts >= max_attempts, "failed"), else_="pending"),
            error=case((Digest.attempts >= max_attempts, gave_up), else_=error or "deferred"))
            .execution_options(synchronize_session=False))
        row = session.execute(select(Digest.status, Digest.error).where(Digest.id == digest_id)).first()
        return (str(row[0]), row[1]) if row else ("pending", error)
    if outcome not in _FINAL:
        raise InvalidInput(f"a delivery ends sent, failed, unknown or deferred, not {outcome!r}")
    values: dict[str, object] = {"status": outcome, "error": error}
    if outcome == "sent":
        values["sent_at"] = now or utcnow()
    session.execute(update(Digest).where(*mine).values(**values).execution_options(synchronize_session=False))
    return outcome, error


def abandon_sending(session: Session, digest_ids: Sequence[int], note: str) -> None:
    """Digests left ``sending`` by a run that is gone become ``unknown``: whether the message left is
    unknowable, so it is never resent automatically (``digest resend`` decides)."""
    for part in chunked(sorted(set(digest_ids))):
        session.execute(update(Digest).where(Digest.id.in_(part), Digest.status == "sending")
                        .values(status="unknown", note=note).execution_options(synchronize_session=False))


def settle_claimed(session: Session, owner: str, outcomes: Mapping[int, tuple[str, str | None]],
                   now: dt.datetime | None = None) -> None:
    """Final state for claimed digests that never went through a backend (archive pages, render
    errors), in bulk: one UPDATE per distinct (outcome, error)."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for digest_id, (outcome, error) in outcomes.items():
        if outcome not in _FINAL:
            raise InvalidInput(f"a delivery ends sent, failed or unknown, not {outcome!r}")
        groups.setdefault((outcome, error), []).append(digest_id)
    for (outcome, error), ids in groups.items():
        values: dict[str, object] = {"status": outcome, "error": error}
        if outcome == "sent":
            values["sent_at"] = now or utcnow()
        for part in chunked(sorted(ids)):
            session.execute(update(Digest).where(Digest.id.in_(part), Digest.status == "claimed",
                                                 Digest.claimed_by == owner)
                            .values(**values).execution_options(synchronize_session=False))


def release_claims(session: Session, owner: str | None, digest_ids: Sequence[int], error: str | None = None
                   ) -> None:
    """Claimed digests go back to ``pending`` (nothing was handed over), in bulk.

    ``owner`` None releases whoever claimed them (for claims whose owner is known to be gone).
    """
    for part in chunked(sorted(set(digest_ids))):
        stmt = update(Digest).where(Digest.id.in_(part), Digest.status == "claimed")
        if owner is not None:
            stmt = stmt.where(Digest.claimed_by == owner)
        values: dict[str, object] = {"status": "pending", "claimed_by": None}
        if error is not None:
            values["error"] = error
        session.execute(stmt.values(**values).execution_options(synchronize_session=False))


def stamp_enqueued(session: Session, digest_ids: Sequence[int], stamp: str, now: dt.datetime,
                   stale_before: dt.datetime) -> set[int]:
    """Stamp pending digests as enqueued (``claimed_by`` = ``stamp``) unless stamped after
    ``stale_before``; returns the ids stamped now (the ones to enqueue)."""
    stamped: set[int] = set()
    for part in chunked(sorted(set(digest_ids))):
        session.execute(update(Digest).where(
            Digest.id.in_(part), Digest.status == "pending",
            Digest.claimed_at.is_(None) | (Digest.claimed_at < stale_before) | Digest.claimed_by.is_(None))
            .values(claimed_by=stamp, claimed_at=now).execution_options(synchronize_session=False))
        stamped.update(session.scalars(select(Digest.id).where(Digest.id.in_(part),
                                                               Digest.claimed_by == stamp)))
    return stamped


def unstamp_enqueued(session: Session, digest_ids: Sequence[int], stamp: str) -> None:
    """Undo :func:`stamp_enqueued` for digests whose message never reached the broker."""
    for part in chunked(sorted(set(digest_ids))):
        session.execute(update(Digest).where(Digest.id.in_(part), Digest.status == "pending",
                                             Digest.claimed_by == stamp)
                        .values(claimed_by=None, claimed_at=None)
                        .execution_options(synchronize_session=False))


def claimed_rows(session: Session) -> list[tuple[int, str, str | None, dt.datetime | None]]:
    """(id, status, owner, claimed at) of every ``claimed`` or ``sending`` digest."""
    rows = session.execute(select(Digest.id, Digest.status, Digest.claimed_by, Digest.claimed_at)
                           .where(Digest.status.in_(("claimed", "sending"))))
    return [(i, s, o, _aware(c) if c is not None else None) for i, s, o, c in rows]

