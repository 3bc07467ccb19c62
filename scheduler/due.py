"""Who is due for a digest right now: a pure function of readers, their digests, batches and *now*.

Nothing here reads a clock or a database, so every rule is tested with plain values (time zones, DST,
weekly cadence, late batches, mid-week subscribers). The scheduler's tick gathers the inputs from the
store and hands the result to the digest service, which claims one row per (reader, period).

Rules
-----
* Only ``active`` readers are considered.
* ``daily``: one slot per local date, at ``send_hour`` in the reader's time zone; period = local date
  (``2026-11-25``).
* ``weekly``: one slot per ISO week, on ``weekday`` (0 = Monday) at ``send_hour``; period = ISO week
  of the slot's local date (``2026-W48``).
* ``each_batch``: the first tick after a new batch lands, whatever the hour; period = ``batch:<id>``
  of the newest batch (several batches between two ticks make one digest).
* Only the *latest* slot at or before *now* counts. After downtime that one catch-up digest carries
  every paper since the previous digest, so nothing is lost and a reader never gets a burst.
* A slot before the reader subscribed is skipped (a mid-week subscriber starts next week).
* A slot is due only when a batch arrived after the reader's previous digest (first digest: within
  :data:`FIRST_DIGEST_LOOKBACK`); a batch that lands after the send hour is sent on the next tick of
  the same period if that period has no digest yet, else in the next period.
* A period that already has a digest row (any status but ``pending``) is never due again: that is
  what makes restarts safe. ``pending`` rows were claimed by no one and are driven again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "FIRST_DIGEST_LOOKBACK",
    "DueDigest",
    "ReaderLike",
    "due_digests",
    "latest_slot",
    "period_for",
]

FIRST_DIGEST_LOOKBACK = dt.timedelta(days=7)


class ReaderLike(Protocol):
    """The reader fields the due rules read (a ``store.models.Reader`` fits)."""

    id: int
    timezone: str
    cadence: str
    weekday: int | None
    send_hour: int
    status: str
    created_at: dt.datetime


@dataclass(frozen=True)
class DueDigest:
    """One digest to send: the reader, its period key and the slot time (UTC) it became due."""

    reader_id: int
    period: str
    slot: dt.datetime


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Readers are validated on entry; a zone that vanished from tzdata falls back to UTC.
        return dt.UTC


def _slot_at(day: dt.date, hour: int, zone: dt.tzinfo) -> dt.datetime:
    # A send hour that does not exist that day (spring-forward gap) resolves with the pre-gap
    # offset, i.e. one hour later on the wall clock; a repeated hour (fall-back) takes its first pass.
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone).astimezone(dt.UTC)


def latest_slot(reader: ReaderLike, now: dt.datetime) -> tuple[str, dt.datetime] | None:
    """The newest (period, slot in UTC) at or before ``now`` for a daily or weekly reader.

    Returns ``None`` for ``each_batch`` readers, whose periods come from batches.
    """
    if reader.cadence not in ("daily", "weekly"):
        return None
    zone = _zone(reader.timezone)
    day = now.astimezone(zone).date()
    if reader.cadence == "daily":
        slot = _slot_at(day, reader.send_hour, zone)
        if slot > now:
            day -= dt.timedelta(days=1)
            slot = _slot_at(day, reader.send_hour, zone)
        return day.isoformat(), slot
    weekday = reader.weekday if reader.weekday is not None else 0
    day -= dt.timedelta(days=(day.weekday() - weekday) % 7)
    slot = _slot_at(day, reader.send_hour, zone)
    if slot > now:
        day -= dt.timedelta(days=7)
        slot = _slot_at(day, reader.send_hour, zone)
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}", slot


def period_for(reader: ReaderLike, now: dt.datetime, newest_batch_id: int | None = None) -> str:
    """The period key a digest for ``reader`` sent at ``now`` belongs to.

    daily: the reader's local date of the latest slot; weekly: its ISO week; each_batch:
    ``batch:<newest batch id>`` (``batch:none`` without batches).
    """
    slot = latest_slot(reader, now)
    if slot is not None:
        return slot[0]
    return f"batch:{newest_batch_id if newest_batch_id is not None else 'none'}"


def due_digests(
    readers: Iterable[ReaderLike],
    *,
    now: dt.datetime,
    periods_done: Mapping[int, Set[str]],
    last_digest_at: Mapping[int, dt.datetime],
    newest_batch: tuple[int, dt.datetime] | None,
) -> list[DueDigest]:
    """Digests due at ``now``, one per reader at most, ordered by slot time then reader id.

    Parameters
    ----------
    readers
        Candidate readers (inactive ones are ignored).
    now
        Aware current time.
    periods_done
        reader id -> periods that already have a digest row in a state other than ``pending``.
    last_digest_at
        reader id -> creation time of the reader's previous digest that counts as delivered
        (sent, sending, unknown or empty); papers after it are "new" for the reader.
    newest_batch
        (id, fetched_at) of the newest batch fetched at or before ``now``, or ``None``.
    """
    if now.tzinfo is None:
        raise ValueError("due_digests needs an aware 'now'")
    if newest_batch is None:
        return []
    batch_id, batch_at = newest_batch
    out: list[DueDigest] = []
    for reader in readers:
        if reader.status != "active":
            continue
        since = last_digest_at.get(reader.id)
        if reader.cadence == "each_batch":
            period, slot = f"batch:{batch_id}", batch_at
            # The batch must be news to this reader: after their last digest and their sign-up.
            floor = max(since, reader.created_at) if since else reader.created_at
            if batch_at <= floor:
                continue
        else:
            found = latest_slot(reader, now)
            if found is None:
                continue
            period, slot = found
            if slot < reader.created_at:
                continue
            floor = since if since is not None else now - FIRST_DIGEST_LOOKBACK
            if batch_at <= floor:
                continue
        if period in periods_done.get(reader.id, ()):
            continue
        out.append(DueDigest(reader.id, period, slot))
    out.sort(key=lambda d: (d.slot, d.reader_id))
    return out
