"""``paperdigest simulate``: a community of real dataset readers served day by day by the real product."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def simulate(
    items: Path = typer.Option(..., "--items", help="CSV item_id,title[,abstract]."),
    interactions: Path = typer.Option(..., "--interactions", help="CSV user_id,item_id (saves)."),
    days: int = typer.Option(10, "--days", help="Daily batches to simulate."),
    readers: int = typer.Option(500, "--readers", help="Simulated readers (real readers of the dataset)."),
    seed_likes: int = typer.Option(5, "--seed-likes", help="History likes each reader starts with."),
    all_history: bool = typer.Option(False, "--all-history", help="Start with every history save instead."),
    policies: str = typer.Option("hybrid,content,embedding,popular,random", "--policies",
                                 help="Comma-separated: hybrid, content, embedding, popular, random."),
    no_feedback: bool = typer.Option(False, "--no-feedback", help="Readers read but never press a button."),
    batch_size: int = typer.Option(500, "--batch-size", help="Papers per daily batch."),
    digest_size: int = typer.Option(10, "--digest-size", help="Papers per digest (k)."),
    dislike_rate: float = typer.Option(0.1, "--dislike-rate",
                                       help="Chance of 'Less like this' on a paper the reader did not save."),
    content: str = typer.Option("auto", "--content", help="Content backend: auto, embedding or tfidf."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the split, readers and clicks."),
    refit_every: int = typer.Option(1, "--refit-every", min=0,
                                    help="Full hybrid refit every N days, as production's nightly refit "
                                         "(0: fit once, fold feedback in)."),
    out: Path = typer.Option(Path("simulation"), "--out", help="New or empty folder for the report."),
) -> None:
    """Simulate days of digests and feedback for each policy; report precision, recall and the lift."""
    from paperdigest.simulate import SimulationConfig, parse_policies, run_simulation

    config = SimulationConfig(items=items, interactions=interactions, out=out, days=days, readers=readers,
                              seed_likes=seed_likes, all_history=all_history,
                              policies=parse_policies(policies), feedback=not no_feedback,
                              batch_size=batch_size, digest_size=digest_size, dislike_rate=dislike_rate,
                              content=content, seed=seed, refit_every=refit_every)
    report = run_simulation(config, log=lambda msg: typer.echo(msg, err=True))
    from paperdigest.simulate.report import markdown_table

    typer.echo(markdown_table(report), nl=False)
    typer.echo(f"{report['readers']} readers, {report['seconds']:.0f} s; report in {report['files']['json']},"
               f" chart {report['files']['chart']}")


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""
    app.command("simulate")(simulate)
