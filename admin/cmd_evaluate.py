"""``paperdigest evaluate``: offline ranking quality of the recommender on a new-batch split."""

from __future__ import annotations

from pathlib import Path

import typer
from paperdigest.admin.context import get_context

__all__ = ["register"]


def evaluate(
    ctx: typer.Context,
    items: Path = typer.Option(..., "--items", help="CSV item_id,title[,abstract]."),
    interactions: Path = typer.Option(..., "--interactions", help="CSV user_id,item_id (saves)."),
    test_items: Path = typer.Option(..., "--test-items", help="One test item id per line."),
    warm_users: Path | None = typer.Option(
        None, "--warm-users", help="Readers whose test-item saves are revealed (not evaluated)."
    ),
    top: int = typer.Option(100, "--top", help="Items written per reader."),
    rankings_out: Path = typer.Option(..., "--rankings-out", help="CSV user_id,item_id,rank,score."),
    report: Path | None = typer.Option(None, "--report", help="JSON report with all methods."),
    baselines: str | None = typer.Option(
        None, "--baselines", help="Comma-separated baselines to run (default: all); 'none' for none."
    ),
    sample_readers: int = typer.Option(
        600, "--sample-readers", help="Fixed reader sample shared by every method (0 = all)."
    ),
    content: str = typer.Option("auto", "--content", help="auto, embedding or tfidf."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the model and the sample."),
) -> None:
    """Rank a new batch of papers for every reader and report recall/nDCG vs the baselines."""
    # Imported here: the recommender pulls scikit-learn and pandas, which `--help` must not pay for.
    from paperdigest.recommender.evaluation import format_table, run_evaluation

    names = None
    if baselines is not None:
        names = [] if baselines.strip() == "none" else [b.strip() for b in baselines.split(",") if b.strip()]
    result = run_evaluation(
        items,
        interactions,
        test_items,
        rankings_out,
        warm_users=warm_users,
        top=top,
        report_path=report,
        baselines=names,
        sample_readers=sample_readers,
        content=content,
        random_state=seed,
        log=lambda msg: typer.echo(msg, err=True),
        cache_dir=get_context(ctx).settings.cache_dir,
    )
    typer.echo(
        f"{result['mode']} split: {result['test_items']} test items, "
        f"{result['readers_ranked']} readers ranked, {result['readers_evaluated']} evaluated "
        f"(table: {result['sample_readers']}-reader sample shared by all methods)"
    )
    typer.echo(format_table(result))


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command to ``app``."""
    app.command("evaluate")(evaluate)
