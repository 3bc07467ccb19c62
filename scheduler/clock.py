"""Where "now" comes from. Everything in the scheduler takes a :data:`Clock` instead of reading time.

``PAPERDIGEST_FAKE_NOW`` (an ISO time with offset, e.g. ``2026-03-02T09:00:00+00:00``) is a testing aid
honoured only by ``paperdigest run``: the crash-safety test uses it so that a restarted process sees
the same due readers. It freezes the due computation's clock; APScheduler's own timers still run on
real time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from paperdigest.core.errors import ConfigError

__all__ = ["FAKE_NOW_ENV", "Clock", "clock_from_env", "fixed_clock", "system_clock"]

Clock = Callable[[], dt.datetime]
FAKE_NOW_ENV = "PAPERDIGEST_FAKE_NOW"


def system_clock() -> dt.datetime:
    """The real time, aware UTC."""
    return dt.datetime.now(dt.UTC)


def fixed_clock(when: dt.datetime) -> Clock:
    """A clock that always answers ``when`` (must be aware)."""
    if when.tzinfo is None:
        raise ValueError("fixed_clock needs an aware datetime")
    return lambda: when


def clock_from_env(env: Mapping[str, str]) -> Clock:
    """:func:`system_clock`, or a fixed clock when ``PAPERDIGEST_FAKE_NOW`` is set."""
    text = env.get(FAKE_NOW_ENV, "").strip()
    if not text:
        return system_clock
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{FAKE_NOW_ENV}: not an ISO date-time: {text!r}") from None
    if when.tzinfo is None:
        raise ConfigError(f"{FAKE_NOW_ENV}: needs a UTC offset, e.g. {text}+00:00")
    return fixed_clock(when.astimezone(dt.UTC))
