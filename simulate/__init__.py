"""``paperdigest simulate``: how the product would serve a community, measured through the real product.

Public API: :func:`run_simulation` (``SimulationConfig`` in, a report dict out, files in ``out``),
:class:`SimulationConfig`, :class:`SimulationError`, :data:`POLICIES`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from paperdigest.simulate.data import SimulationError, load_dataset, split_dataset
from paperdigest.simulate.policies import POLICIES

__all__ = ["POLICIES", "SimulationConfig", "SimulationError", "parse_policies", "run_simulation"]


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of one simulation (the CLI's options)."""

    items: Path
    interactions: Path
    out: Path
    days: int = 10
    readers: int = 500
    seed_likes: int = 5
    all_history: bool = False
    policies: tuple[str, ...] = POLICIES
    feedback: bool = True
    batch_size: int = 500
    digest_size: int = 10
    dislike_rate: float = 0.1
    content: str = "auto"
    seed: int = 0
    refit_every: int = 1  # a refit before each day, as production refits every 24 hours


def parse_policies(text: str) -> tuple[str, ...]:
    """``"hybrid,random"`` -> ``("hybrid", "random")``; an unknown name raises :class:`SimulationError`."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in POLICIES]
    if unknown or not names:
        raise SimulationError(f"unknown policy {unknown[0] if unknown else text!r} "
                              f"(known: {', '.join(POLICIES)})")
    return names


def _check_out(out: Path) -> Path:
    out = out.expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SimulationError(f"--out {out} exists and is not an empty folder (choose a new one)")
    return out


def run_simulation(config: SimulationConfig, log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Run every policy over the same split; write ``report.json``, ``report.md``, ``precision.png``.

    Each policy runs in its own data folder under ``out/runs/<policy>``. Raises
    :class:`SimulationError` for a bad input before anything is written.
    """
    from paperdigest.simulate.loop import run_policy
    from paperdigest.simulate.report import day_metrics, summarise, write_report

    out = _check_out(config.out)
    parse_policies(",".join(config.policies))
    if not 0 <= config.dislike_rate <= 1:
        raise SimulationError(f"--dislike-rate must be in [0, 1], got {config.dislike_rate}")
    if config.digest_size < 1:
        raise SimulationError(f"--digest-size must be at least 1, got {config.digest_size}")
    papers, saves = load_dataset(config.items, config.interactions)
    data = split_dataset(papers, saves, days=config.days, batch_size=config.batch_size,
                         readers=config.readers, seed_likes=config.seed_likes,
                         all_history=config.all_history, seed=config.seed)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # The goal window is the second half of the run: after the loop had time to learn.
    window = range(config.days // 2 + 1, config.days + 1)
    runs: dict[str, Any] = {}
    for policy in config.policies:
        name = policy if config.feedback else f"{policy} (no feedback)"
        log(f"{name}: {len(data.readers)} readers, {config.days} days of {config.batch_size} papers")
        began = time.perf_counter()
        days = run_policy(out / "runs" / policy, data, policy, feedback=config.feedback,
                          digest_size=config.digest_size, dislike_rate=config.dislike_rate,
                          content=config.content, seed=config.seed, refit_every=config.refit_every,
                          log=log)
        runs[name] = {"days": [day_metrics(d, config.digest_size) for d in days],
                      "summary": summarise(days, config.digest_size, window),
                      "seconds": round(time.perf_counter() - began, 1)}
    config_out = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    report = {
        "config": {**config_out, "policies": list(config.policies)},
        "readers": len(data.readers), "history_papers": len(data.history),
        "relevant_per_reader_day": sum(len(t) for t in data.truth.values()) / len(data.readers) / config.days,
        "runs": runs, "seconds": round(time.perf_counter() - started, 1),
    }
    report["files"] = {k: str(v) for k, v in write_report(report, out).items()}
    return report
