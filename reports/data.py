"""Collect the operator's numbers from the store and the model store into one plain value."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from paperdigest.core import Settings
from paperdigest.core.errors import InvalidInput
from paperdigest.store import Store

__all__ = ["OperatorReport", "collect"]


@dataclass(frozen=True)
class OperatorReport:
    """Everything the dashboard shows; plain values so HTML, JSON and tests read the same thing.

    ``daily`` rows come from ``store.jobs.daily_stats``; ``by_position`` from
    ``like_rate_by_position``; ``cohorts``, ``silent`` and ``sources`` from :mod:`store.operator`;
    ``model`` is the model store's own description (``ranking.model_info``) or None before a fit.
    """

    generated_at: dt.datetime
    since: dt.datetime
    days: int
    silent_after: int
    daily: list[dict[str, Any]]
    by_position: list[dict[str, Any]]
    cohorts: list[dict[str, Any]]
    silent: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    batches: list[dict[str, Any]]
    readers: dict[str, int] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    model_error: str | None = None

    def totals(self) -> dict[str, int]:
        """Sums over the window of every daily count."""
        keys = [k for k in (self.daily[0] if self.daily else {}) if k != "day"]
        return {k: sum(int(row[k]) for row in self.daily) for k in keys}


def validate_window(days: int, silent_after: int) -> None:
    """Raise :class:`InvalidInput` naming the option when the report window is out of range."""
    if not 1 <= days <= 3650:
        raise InvalidInput(f"--days must be between 1 and 3650, got {days}")
    if not 1 <= silent_after <= 100:
        raise InvalidInput(f"--silent-after must be between 1 and 100 digests, got {silent_after}")


def collect(store: Store, settings: Settings, *, days: int = 30, silent_after: int = 3,
            now: dt.datetime | None = None) -> OperatorReport:
    """Read the report for the ``days`` UTC days up to ``now`` (default: the current time)."""
    from paperdigest.store.jobs import daily_stats, last_batches_by_source, like_rate_by_position
    from paperdigest.store.models import utcnow
    from paperdigest.store.operator import like_rate_by_cohort, reader_counts, silent_readers, source_health

    validate_window(days, silent_after)
    now = now or utcnow()
    since = dt.datetime.combine(now.date() - dt.timedelta(days=days - 1), dt.time(), tzinfo=dt.UTC)
    with store.transaction() as session:
        daily = daily_stats(session, since, now)
        by_position = like_rate_by_position(session, since)
        cohorts = like_rate_by_cohort(session, since)
        silent = silent_readers(session, silent_after)
        sources = source_health(session)
        batches = last_batches_by_source(session)
        readers = reader_counts(session)
    model, model_error = _model(settings)
    return OperatorReport(
        generated_at=now, since=since, days=days, silent_after=silent_after, daily=daily,
        by_position=by_position, cohorts=cohorts, silent=silent, sources=sources, batches=batches,
        readers=readers, model=model, model_error=model_error,
    )


def _model(settings: Settings) -> tuple[dict[str, Any] | None, str | None]:
    from paperdigest.ranking import model_info

    # A file of an older format must not take the whole dashboard down: show why, the rest still works.
    try:
        return model_info(settings), None
    except (OSError, ValueError) as exc:
        return None, str(exc)
