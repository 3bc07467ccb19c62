"""Render an :class:`OperatorReport` as one self-contained HTML page (inline CSS and SVG only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup
from paperdigest.reports.data import OperatorReport

__all__ = ["mask_addresses", "percent", "render_report"]


def percent(rate: float) -> str:
    """0.6667 -> '66.7%'."""
    return f"{100 * rate:.1f}%"


def _when(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return "never"
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    hours = (now - value).total_seconds() / 3600
    ago = f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"
    return f"{value:%Y-%m-%d %H:%M} UTC ({ago})"


def mask_addresses(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with ``email`` masked as logs mask it (``a***@example.org``)."""
    from paperdigest.store.readers import mask_email

    return [{**row, "email": mask_email(row["email"])} for row in rows]


def _model_view(model: dict[str, Any] | None, now: dt.datetime) -> dict[str, Any] | None:
    if model is None:
        return None
    fitted = model.get("fitted_at")
    fitted_at = dt.datetime.fromisoformat(fitted) if isinstance(fitted, str) else None
    # Scores are whatever the model store recorded at fit time; a nested mapping is a score table.
    scores = {k: v for k, v in model.items() if isinstance(v, dict)}
    facts = {k: v for k, v in model.items() if not isinstance(v, dict | list) and k != "fitted_at"}
    return {"fitted": _when(fitted_at, now), "facts": facts, "scores": scores,
            "stale": fitted_at is not None and now - fitted_at > dt.timedelta(days=2)}


def render_report(report: OperatorReport, *, mask: bool = False, logout_csrf: str | None = None,
                  user: str | None = None) -> str:
    """The report page; ``mask`` hides addresses, ``logout_csrf`` adds the dashboard's logout form."""
    from paperdigest.digest.render import environment
    from paperdigest.reports import charts

    now = report.generated_at
    active = [row for row in report.daily if any(v for k, v in row.items() if k != "day")]
    silent = mask_addresses(report.silent) if mask else report.silent
    view = {
        "generated": f"{now:%Y-%m-%d %H:%M} UTC",
        "since": f"{report.since:%Y-%m-%d}",
        "days": report.days,
        "silent_after": report.silent_after,
        "totals": report.totals(),
        "readers": report.readers,
        "active_days": active,
        "digests_chart": Markup(charts.daily_digests_chart(report.daily)) if active else None,
        "reactions_chart": Markup(charts.daily_reactions_chart(report.daily)) if active else None,
        "by_position": [{**row, "rate": percent(row["like_rate"])} for row in report.by_position],
        "position_chart": Markup(charts.position_chart(report.by_position)) if report.by_position else None,
        "cohorts": [{**row, "rate": percent(row["like_rate"])} for row in report.cohorts],
        "cohort_chart": Markup(charts.cohort_chart(report.cohorts)) if report.cohorts else None,
        "silent": [{**row, "last": _when(row["last_reaction"], now),
                    "since": _when(row["silent_since"], now)} for row in silent],
        "sources": [{**row, "attempt": _when(row["last_attempt"], now),
                     "success": _when(row["last_success"], now)} for row in report.sources],
        "batches": [{**row, "fetched": _when(row["fetched_at"], now)} for row in report.batches],
        "model": _model_view(report.model, now),
        "model_error": report.model_error,
        "logout_csrf": logout_csrf,
        "user": user,
    }
    return environment().get_template("report.html").render(r=view)
