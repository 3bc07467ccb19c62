"""The one check for a reader's schedule values: digest size, send hour, cadence.

Every place that takes one of them (``users add``, ``users edit``, ``users import``, the
``PAPERDIGEST_DIGEST_SIZE`` setting) calls :func:`check_schedule`, so the same value is accepted or
refused everywhere with the same words.
"""

from __future__ import annotations

from typing import Any

from paperdigest.core.errors import InvalidInput

__all__ = ["CADENCES", "DIGEST_SIZE_MAX", "DIGEST_SIZE_MIN", "NOTHING_STRONG", "READER_STATUSES", "WEEKDAYS",
           "check_nothing_strong", "check_schedule", "check_status"]

CADENCES = ("each_batch", "daily", "weekly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index 0 = Monday, as stored
READER_STATUSES = ("active", "paused", "unsubscribed")
# When nothing clears a reader's threshold: a short note with the best few, or no digest that day.
NOTHING_STRONG = ("note", "skip")
DIGEST_SIZE_MIN, DIGEST_SIZE_MAX = 1, 100


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a whole number, got {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number, got {value!r}") from None


def check_schedule(*, digest_size: Any = None, send_hour: Any = None, cadence: Any = None) -> dict[str, Any]:
    """Normalized values of the arguments that are not None; :class:`InvalidInput` names the first bad one.

    ``digest_size`` 1-100 papers, ``send_hour`` 0-23 (local), ``cadence`` each_batch, daily or weekly
    (case, dashes and spaces forgiven: "Each-Batch" is each_batch).
    """
    out: dict[str, Any] = {}
    if digest_size is not None:
        size = _whole(digest_size, "digest size")
        if not DIGEST_SIZE_MIN <= size <= DIGEST_SIZE_MAX:
            raise InvalidInput(f"digest size must be {DIGEST_SIZE_MIN}-{DIGEST_SIZE_MAX}, got {size}")
        out["digest_size"] = size
    if send_hour is not None:
        hour = _whole(send_hour, "send hour")
        if not 0 <= hour <= 23:
            raise InvalidInput(f"send hour must be 0-23, got {hour}")
        out["send_hour"] = hour
    if cadence is not None:
        name = str(cadence).strip().lower().replace("-", "_").replace(" ", "_")
        if name not in CADENCES:
            raise InvalidInput(f"cadence must be one of {', '.join(CADENCES)}, got {cadence!r}")
        out["cadence"] = name
    return out


def check_status(status: Any) -> str:
    """A reader status (active, paused or unsubscribed); :class:`InvalidInput` names a wrong one."""
    name = str(status).strip().lower()
    if name not in READER_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(READER_STATUSES)}, got {status!r}")
    return name


def check_nothing_strong(choice: Any) -> str:
    """``note`` or ``skip`` (case forgiven); :class:`InvalidInput` names anything else."""
    name = str(choice).strip().lower()
    if name not in NOTHING_STRONG:
        raise InvalidInput(f"'nothing strong' must be one of {', '.join(NOTHING_STRONG)}, got {choice!r}")
    return name
