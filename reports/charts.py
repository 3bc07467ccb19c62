"""Charts drawn on the server with matplotlib and returned as inline SVG text (no script, no fetch).

matplotlib is imported inside each function: it costs ~0.5 s and only the report needs it. Figures
are built with :class:`matplotlib.figure.Figure` directly, never pyplot, so no global state is shared
between requests served from different threads.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["cohort_chart", "daily_digests_chart", "daily_reactions_chart", "position_chart"]

_COLORS = {"sent": "#2e7d32", "failed": "#c62828", "unknown": "#f9a825", "likes": "#1565c0",
           "dislikes": "#6a1b9a", "unsubscribes": "#ef6c00"}


def _figure(width: float = 7.5, height: float = 2.8) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=96, layout="constrained")
    return fig, fig.add_subplot()


def _svg(fig: Any, title: str) -> str:
    buffer = io.StringIO()
    # Text as paths: the file needs no font from the viewer's machine.
    fig.savefig(buffer, format="svg", metadata={"Title": title, "Date": None, "Creator": None})
    text = buffer.getvalue()
    start = text.find("<svg")
    # The XML prolog and DOCTYPE are not allowed inside an HTML page; the <svg> element is.
    svg = text[start:]
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)


def _day_ticks(ax: Any, days: Sequence[str]) -> None:
    step = max(1, len(days) // 10)
    ax.set_xticks(range(0, len(days), step), [d[5:] for d in days[::step]], fontsize=8)


def _finish_daily(fig: Any, ax: Any, days: Sequence[str], ylabel: str, title: str) -> str:
    """The common end of the per-day charts: day ticks, whole-number axis, legend, SVG."""
    _day_ticks(ax, days)
    ax.set_ylabel(ylabel)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=3)
    _style(ax)
    return _svg(fig, title)


def daily_digests_chart(daily: Sequence[Mapping[str, Any]]) -> str:
    """Stacked bars per UTC day: digests sent, failed, unknown."""
    fig, ax = _figure()
    days = [row["day"] for row in daily]
    bottom = [0] * len(days)
    for key in ("sent", "failed", "unknown"):
        values = [int(row[key]) for row in daily]
        ax.bar(range(len(days)), values, bottom=bottom, label=key, color=_COLORS[key], width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    return _finish_daily(fig, ax, days, "digests", "Digests per day: sent, failed, unknown")


def daily_reactions_chart(daily: Sequence[Mapping[str, Any]]) -> str:
    """Lines per UTC day: likes, dislikes, unsubscribes."""
    fig, ax = _figure()
    days = [row["day"] for row in daily]
    for key in ("likes", "dislikes", "unsubscribes"):
        ax.plot(range(len(days)), [int(row[key]) for row in daily], marker="o", markersize=3,
                label=key, color=_COLORS[key])
    return _finish_daily(fig, ax, days, "per day", "Reactions per day: likes, dislikes, unsubscribes")


def position_chart(by_position: Sequence[Mapping[str, Any]]) -> str:
    """Bars: like rate (percent) by position in the digest."""
    fig, ax = _figure(height=2.4)
    positions = [int(row["position"]) for row in by_position]
    rates = [100 * float(row["like_rate"]) for row in by_position]
    ax.bar(positions, rates, color=_COLORS["likes"], width=0.7)
    ax.set_xticks(positions, [str(p) for p in positions], fontsize=8)
    ax.set_xlabel("position in the digest")
    ax.set_ylabel("liked (%)")
    ax.set_ylim(0, max([*rates, 1.0]) * 1.15)
    _style(ax)
    return _svg(fig, "Like rate by position")


def cohort_chart(cohorts: Sequence[Mapping[str, Any]]) -> str:
    """One line per cohort (month joined): like rate (percent) per ISO week of sending."""
    fig, ax = _figure()
    weeks = sorted({row["week"] for row in cohorts})
    index = {week: i for i, week in enumerate(weeks)}
    for cohort in sorted({row["cohort"] for row in cohorts}):
        rows = [row for row in cohorts if row["cohort"] == cohort]
        ax.plot([index[row["week"]] for row in rows], [100 * float(row["like_rate"]) for row in rows],
                marker="o", markersize=3, label=f"joined {cohort}")
    ax.set_xticks(range(len(weeks)), weeks, fontsize=8)
    ax.set_ylabel("liked (%)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=3)
    _style(ax)
    return _svg(fig, "Like rate per week, by cohort")
