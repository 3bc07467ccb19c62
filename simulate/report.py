"""Per day and policy: precision@k, recall of the day's relevant papers, share of readers with a hit,
and late-hour vs early-hour precision; written as JSON, a markdown table and a PNG chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paperdigest.core.files import atomic_write, atomic_writer
from paperdigest.simulate.loop import DayResult, ReaderDay

__all__ = ["day_metrics", "markdown_table", "summarise", "write_chart", "write_report"]

LATE_HOUR = 12  # readers sending at 12:00-23:00 UTC are "late", 00:00-11:00 "early"


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def _precision(rows: Sequence[ReaderDay], k: int) -> float:
    return _mean([r.hits / k for r in rows])


def day_metrics(result: DayResult, k: int) -> dict[str, Any]:
    """Metrics of one day; ``recall`` and ``hit_share`` over readers with a save in the batch."""
    rows = result.readers
    relevant = [r for r in rows if r.relevant]
    return {
        "day": result.day, "digests": len(rows),
        "precision": _precision(rows, k),
        "likes_per_digest": _mean([r.hits for r in rows]),
        "recall": _mean([r.hits / r.relevant for r in relevant]),
        "hit_share": _mean([float(r.hits > 0) for r in relevant]),
        "early_precision": _precision([r for r in rows if r.hour < LATE_HOUR], k),
        "late_precision": _precision([r for r in rows if r.hour >= LATE_HOUR], k),
        "posts": result.posts, "seconds": round(result.seconds, 2),
    }


def summarise(days: Sequence[DayResult], k: int, window: range) -> dict[str, Any]:
    """Pooled metrics over the days in ``window`` (1-based day numbers)."""
    rows = [r for d in days if d.day in window for r in d.readers]
    early = _precision([r for r in rows if r.hour < LATE_HOUR], k)
    late = _precision([r for r in rows if r.hour >= LATE_HOUR], k)
    relevant = [r for r in rows if r.relevant]
    return {
        "days": f"{window.start}-{window.stop - 1}",
        "precision": _precision(rows, k),
        "recall": _mean([r.hits / r.relevant for r in relevant]),
        "hit_share": _mean([float(r.hits > 0) for r in relevant]),
        "early_precision": early, "late_precision": late,
        "late_over_early": late / early if early else None,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """Per-day precision of every run, then the summary over the goal window."""
    runs = report["runs"]
    days = [d["day"] for d in next(iter(runs.values()))["days"]]
    lines = ["| run | " + " | ".join(f"day {d}" for d in days) + " |",
             "|---|" + "---|" * len(days)]
    for name, run in runs.items():
        lines.append(f"| {name} | " + " | ".join(f"{d['precision']:.3f}" for d in run["days"]) + " |")
    window = next(iter(runs.values()))["summary"]["days"]
    lines += ["", f"Days {window} pooled:", "",
              "| run | precision@k | recall | readers with a hit | early precision | late precision |"
              " late / early |",
              "|---|---|---|---|---|---|---|"]
    for name, run in runs.items():
        s = run["summary"]
        ratio = f"{s['late_over_early']:.2f}" if s["late_over_early"] else "–"
        lines.append(f"| {name} | {s['precision']:.4f} | {s['recall']:.3f} | {s['hit_share']:.3f} | "
                     f"{s['early_precision']:.4f} | {s['late_precision']:.4f} | {ratio} |")
    return "\n".join(lines) + "\n"


def write_chart(report: dict[str, Any], path: Path) -> None:
    """Precision by day, one line per run (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=90)
    for name, run in report["runs"].items():
        ax.plot([d["day"] for d in run["days"]], [d["precision"] for d in run["days"]], marker="o",
                markersize=3, label=name)
    ax.set_xlabel("day")
    ax.set_ylabel(f"precision@{report['config']['digest_size']} (likes per digest / k)")
    ax.set_title("paperdigest simulate: precision by day")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_writer(path, mode=0o644) as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)


def write_report(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """``report.json``, ``report.md`` and ``precision.png`` in ``out``."""
    paths = {"json": out / "report.json", "markdown": out / "report.md", "chart": out / "precision.png"}
    atomic_write(paths["json"], json.dumps(report, indent=2), mode=0o644)
    atomic_write(paths["markdown"], markdown_table(report), mode=0o644)
    write_chart(report, paths["chart"])
    return paths
