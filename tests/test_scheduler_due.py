"""The due rules as a pure function of (readers, digests, batches, now): no clock, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from paperdigest.scheduler.due import FIRST_DIGEST_LOOKBACK, due_digests, latest_slot, period_for

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class R:
    id: int = 1
    timezone: str = "UTC"
    cadence: str = "daily"
    weekday: int | None = None
    send_hour: int = 8
    status: str = "active"
    created_at: dt.datetime = field(default_factory=lambda: at("2026-01-01T00:00+00:00"))


def due(readers, now, *, done=None, last=None, batch=(1, "2026-03-01T00:00+00:00")):
    newest = (batch[0], at(batch[1])) if batch else None
    return due_digests(readers, now=at(now), periods_done=done or {}, last_digest_at=last or {},
                       newest_batch=newest)


def test_daily_reader_is_due_at_their_local_send_hour_not_before():
    # Subscribed after the previous day's slot, so only the 2026-03-02 slot can be due.
    tokyo = R(timezone="Asia/Tokyo", send_hour=8, created_at=at("2026-03-01T00:00+00:00"))
    assert due([tokyo], "2026-03-01T22:59+00:00") == []
    [d] = due([tokyo], "2026-03-01T23:00+00:00")
    assert d.period == "2026-03-02" and d.slot == at("2026-03-01T23:00+00:00")


def test_each_time_zone_gets_its_own_hour():
    joined = at("2026-03-01T20:00+00:00")
    readers = [R(1, "Europe/Berlin", created_at=joined), R(2, "America/New_York", created_at=joined),
               R(3, "UTC", created_at=joined)]
    # 08:00 in Berlin is 07:00 UTC; New York 13:00 UTC; UTC 08:00.
    assert [d.reader_id for d in due(readers, "2026-03-02T07:30+00:00")] == [1]
    assert [d.reader_id for d in due(readers, "2026-03-02T12:00+00:00")] == [1, 3]
    assert [d.reader_id for d in due(readers, "2026-03-02T13:00+00:00")] == [1, 3, 2]


def test_an_existing_digest_for_the_period_is_never_due_again():
    reader = R()
    [d] = due([reader], "2026-03-02T09:00+00:00")
    assert due([reader], "2026-03-02T09:05+00:00", done={1: {d.period}}) == []
    # ...but the next day's slot is due once news arrived after that digest.
    assert due([reader], "2026-03-03T08:00+00:00", done={1: {d.period}},
               last={1: at("2026-03-02T09:00+00:00")}, batch=(2, "2026-03-02T20:00+00:00"))


def test_dst_spring_forward_keeps_one_digest_per_local_day_at_the_local_hour():
    # Europe/Berlin jumps from 02:00 to 03:00 on 2026-03-29.
    reader = R(timezone="Europe/Berlin", send_hour=8)
    reader.created_at = at("2026-03-27T12:00+00:00")
    assert due([reader], "2026-03-28T06:59+00:00", batch=(1, "2026-03-28T00:00+00:00")) == []
    [before] = due([reader], "2026-03-28T07:00+00:00", batch=(1, "2026-03-28T00:00+00:00"))  # 08:00 CET
    assert before.period == "2026-03-28"
    assert due([reader], "2026-03-29T05:59+00:00", done={1: {"2026-03-28"}},
               last={1: at("2026-03-28T07:00+00:00")}, batch=(2, "2026-03-29T00:00+00:00")) == []
    [after] = due([reader], "2026-03-29T06:00+00:00", done={1: {"2026-03-28"}},
                  last={1: at("2026-03-28T07:00+00:00")}, batch=(2, "2026-03-29T00:00+00:00"))
    assert after.period == "2026-03-29" and after.slot == at("2026-03-29T06:00+00:00")  # 08:00 CEST


def test_dst_gap_hour_and_repeated_hour_resolve_to_one_slot():
    gap = R(timezone="Europe/Berlin", send_hour=2)  # 02:00 does not exist on 2026-03-29
    period, slot = latest_slot(gap, at("2026-03-29T12:00+00:00"))
    assert period == "2026-03-29" and slot == at("2026-03-29T01:00+00:00")  # 03:00 CEST
    repeated = R(timezone="Europe/Berlin", send_hour=2)  # 02:00 happens twice on 2026-10-25
    period, slot = latest_slot(repeated, at("2026-10-25T12:00+00:00"))
    assert period == "2026-10-25" and slot == at("2026-10-25T00:00+00:00")  # first pass, CEST


def test_weekly_reader_is_due_on_their_weekday_with_an_iso_week_period():
    reader = R(cadence="weekly", weekday=2, send_hour=9)  # Wednesdays 09:00 UTC
    assert due([reader], "2026-03-03T10:00+00:00", batch=(1, "2026-03-03T00:00+00:00")) != []  # last Wed
    [d] = due([reader], "2026-03-04T09:00+00:00", done={1: {"2026-W09"}},
              last={1: at("2026-02-25T09:00+00:00")}, batch=(1, "2026-03-03T00:00+00:00"))
    assert d.period == "2026-W10"
    assert due([reader], "2026-03-06T09:00+00:00", done={1: {"2026-W10"}},
               last={1: at("2026-03-04T09:00+00:00")}, batch=(2, "2026-03-05T00:00+00:00")) == []


def test_reader_who_subscribes_mid_week_starts_with_the_next_weekly_slot():
    reader = R(cadence="weekly", weekday=0, send_hour=8, created_at=at("2026-03-04T12:00+00:00"))  # a Wed
    assert due([reader], "2026-03-06T09:00+00:00", batch=(1, "2026-03-05T00:00+00:00")) == []
    [d] = due([reader], "2026-03-09T08:00+00:00", batch=(1, "2026-03-05T00:00+00:00"))
    assert d.period == "2026-W11"


def test_daily_reader_who_subscribes_after_todays_hour_waits_for_tomorrow():
    reader = R(created_at=at("2026-03-02T10:00+00:00"))
    assert due([reader], "2026-03-02T11:00+00:00") == []
    assert due([reader], "2026-03-03T08:00+00:00")[0].period == "2026-03-03"


def test_no_batch_since_the_last_digest_means_not_due():
    reader = R()
    assert due([reader], "2026-03-03T09:00+00:00", last={1: at("2026-03-02T08:00+00:00")},
               batch=(1, "2026-03-01T00:00+00:00")) == []
    assert due([reader], "2026-03-03T09:00+00:00", batch=None) == []
    # A first digest only counts batches of the lookback window.
    old = (at("2026-03-03T09:00+00:00") - FIRST_DIGEST_LOOKBACK - dt.timedelta(hours=1)).isoformat()
    assert due([reader], "2026-03-03T09:00+00:00", batch=(1, old)) == []


def test_batch_arriving_late_goes_out_the_same_day_if_the_day_had_no_digest():
    reader = R(send_hour=8)
    last = {1: at("2026-03-01T08:00+00:00")}
    # 08:05: the day's batch is not there yet: nothing due.
    assert due([reader], "2026-03-02T08:05+00:00", done={1: {"2026-03-01"}}, last=last,
               batch=(1, "2026-03-01T06:00+00:00")) == []
    # 11:05: it landed at 11:00: today's digest goes out now.
    [d] = due([reader], "2026-03-02T11:05+00:00", done={1: {"2026-03-01"}}, last=last,
              batch=(2, "2026-03-02T11:00+00:00"))
    assert d.period == "2026-03-02"
    # If today's digest already went out, the late batch waits for tomorrow's slot.
    done = {1: {"2026-03-01", "2026-03-02"}}
    last2 = {1: at("2026-03-02T08:00+00:00")}
    assert due([reader], "2026-03-02T11:05+00:00", done=done, last=last2,
               batch=(2, "2026-03-02T11:00+00:00")) == []
    assert due([reader], "2026-03-03T08:00+00:00", done=done, last=last2,
               batch=(2, "2026-03-02T11:00+00:00"))[0].period == "2026-03-03"


def test_catch_up_after_downtime_sends_one_digest_for_the_latest_slot_only():
    reader = R(send_hour=8)
    # Down from 03-02 07:00 to 03-05 07:30: one catch-up digest, for 03-04 (latest slot).
    [d] = due([reader], "2026-03-05T07:30+00:00", last={1: at("2026-03-01T08:00+00:00")},
              done={1: {"2026-03-01"}}, batch=(5, "2026-03-04T06:00+00:00"))
    assert d.period == "2026-03-04"


def test_each_batch_reader_gets_one_digest_per_newest_batch_any_hour():
    reader = R(cadence="each_batch", send_hour=8)
    [d] = due([reader], "2026-03-02T03:00+00:00", batch=(7, "2026-03-02T02:00+00:00"))
    assert d.period == "batch:7"
    assert due([reader], "2026-03-02T03:05+00:00", done={1: {"batch:7"}},
               last={1: at("2026-03-02T03:00+00:00")}, batch=(7, "2026-03-02T02:00+00:00")) == []
    # A batch from before the reader subscribed is not news to them.
    late = R(cadence="each_batch", created_at=at("2026-03-02T05:00+00:00"))
    assert due([late], "2026-03-02T06:00+00:00", batch=(7, "2026-03-02T02:00+00:00")) == []


def test_inactive_readers_are_never_due():
    assert due([R(status="paused"), R(2, status="unsubscribed")], "2026-03-02T09:00+00:00") == []


def test_period_for_each_cadence():
    now = at("2026-03-04T10:00+00:00")
    assert period_for(R(), now) == "2026-03-04"
    assert period_for(R(cadence="weekly", weekday=0), now) == "2026-W10"
    assert period_for(R(cadence="each_batch"), now, 12) == "batch:12"


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="aware"):
        due_digests([R()], now=dt.datetime(2026, 3, 2, 9), periods_done={}, last_digest_at={},
                    newest_batch=None)
