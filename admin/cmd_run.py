"""``paperdigest run|status|stats|demo``: the unattended scheduler, its report, and the offline demo."""

from __future__ import annotations

import datetime as dt
import faulthandler
import signal
from pathlib import Path
from typing import Any

import typer
from paperdigest.admin.context import get_context
from paperdigest.admin.output import console, emit_json, emit_record, emit_table

__all__ = ["register"]

_JSON = typer.Option(False, "--json", help="Print JSON.")


def run(
    ctx: typer.Context,
    log_format: str | None = typer.Option(
        None, "--log-format", help="text or json (PAPERDIGEST_LOG_FORMAT)."
    ),
    once: bool = typer.Option(False, "--once", help="Run poll, refit, tick once and exit (for cron)."),
) -> None:
    """Run the scheduler: poll sources, refit the model, send due digests; stops on SIGTERM/SIGINT."""
    from paperdigest.core.errors import ConfigError
    from paperdigest.scheduler.clock import FAKE_NOW_ENV, clock_from_env
    from paperdigest.scheduler.lock import SchedulerLock
    from paperdigest.scheduler.logs import configure_logging
    from paperdigest.scheduler.runner import run_forever
    from paperdigest.scheduler.service import SchedulerService

    app_ctx = get_context(ctx)
    settings = app_ctx.settings
    fmt = log_format or settings.log_format
    if fmt not in ("text", "json"):
        raise ConfigError(f"--log-format: must be 'text' or 'json', got {fmt!r}")
    configure_logging(fmt, debug=app_ctx.debug)
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how an operator sees where a
    # long-running scheduler is stuck without stopping it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # PAPERDIGEST_FAKE_NOW is a testing aid honoured only here (see scheduler.clock); it is read
    # through Settings like every other variable.
    clock = clock_from_env({FAKE_NOW_ENV: settings.fake_now or ""})
    with app_ctx.store() as store:
        service = SchedulerService(store, settings, clock=clock, enqueue=_enqueuer(store, settings))
        if once:
            with SchedulerLock(store):
                service.recover()
                results = {"poll": service.poll(), "refit": service.refit(), "tick": service.tick()}
            failed = [name for name, result in results.items() if result.get("status") == "error"]
            if failed:
                raise typer.Exit(1)
            return
        run_forever(service, settings)


def _enqueuer(store: Any, settings: Any) -> Any:
    """With PAPERDIGEST_QUEUE_URL: the tick enqueues chunks for `paperdigest worker` (None: in-process)."""
    if settings.queue_url is None:
        return None
    from paperdigest.workers.broker import check_broker, declare_actor, make_broker
    from paperdigest.workers.client import TickQueue

    broker = make_broker(settings)
    check_broker(broker, settings)  # unreachable at start-up: one line, exit 2

    def not_here(_payload: dict[str, Any]) -> None:  # the clock only enqueues; workers run chunks
        raise RuntimeError("digest chunks run in `paperdigest worker`")

    actor = declare_actor(broker, settings, not_here)
    return TickQueue(store, settings, actor.send, chunk=settings.queue_chunk).enqueue


def worker(
    ctx: typer.Context,
    processes: int = typer.Option(1, "--processes", "-p", help="Worker processes (1-64), one core each."),
    log_format: str | None = typer.Option(None, "--log-format",
                                          help="text or json (PAPERDIGEST_LOG_FORMAT)."),
) -> None:
    """Consume digest chunks from PAPERDIGEST_QUEUE_URL (enqueued by `run`); stops on SIGTERM/SIGINT."""
    from paperdigest.core.errors import ConfigError, InvalidInput
    from paperdigest.scheduler.logs import configure_logging
    from paperdigest.workers.process import run_workers

    app_ctx = get_context(ctx)
    settings = app_ctx.settings
    if not 1 <= processes <= 64:
        raise InvalidInput(f"--processes must be between 1 and 64, got {processes}")
    if settings.queue_url is None:
        raise ConfigError("PAPERDIGEST_QUEUE_URL is not set: `paperdigest worker` needs a redis:// or "
                          "amqp:// queue (without one, `run` sends digests itself)")
    fmt = log_format or settings.log_format
    if fmt not in ("text", "json"):
        raise ConfigError(f"--log-format: must be 'text' or 'json', got {fmt!r}")
    configure_logging(fmt, debug=app_ctx.debug)
    with app_ctx.store():
        pass  # the schema is checked here, once, with the usual message
    code = run_workers(settings, processes, log_format=fmt, debug=app_ctx.debug)
    if code:
        raise typer.Exit(code)


def _lock_holder(store: Any) -> str:
    from paperdigest.scheduler.lock import AlreadyRunning, SchedulerLock

    try:
        with SchedulerLock(store):
            return "no"
    except AlreadyRunning as exc:
        return f"yes ({exc})"


def status(ctx: typer.Context, as_json: bool = _JSON) -> None:
    """Show whether the scheduler runs, digests per state, next run times, last batch per source."""
    from paperdigest.scheduler.service import SchedulerService
    from paperdigest.store.jobs import (
        digest_counts,
        last_batches_by_source,
        last_job_runs,
        list_source_states,
    )
    from paperdigest.store.models import utcnow

    app_ctx = get_context(ctx)
    settings = app_ctx.settings
    every = {"poll": dt.timedelta(minutes=settings.poll_minutes),
             "tick": dt.timedelta(minutes=settings.tick_minutes),
             "refit": dt.timedelta(hours=settings.refit_hours)}
    with app_ctx.store() as store:
        running = _lock_holder(store)
        with store.read() as session:
            runs = {r.job: r for r in last_job_runs(session)}
            digests = digest_counts(session)
            batches = last_batches_by_source(session)
            states = {s.name: s for s in list_source_states(session)}
        due_now = len(SchedulerService(store, settings, fetchers={}).due(utcnow()))
    jobs = []
    for name, interval in every.items():
        last = runs.get(name)
        jobs.append({
            "job": name, "every": str(interval), "last_start": last.started_at if last else None,
            "last_status": last.status if last else None,
            "next_run": (last.started_at + interval) if last else "at start-up",
            "counts": dict(last.counts or {}) if last else {},
        })
    sources = []
    for name in sorted(set(states) | {b["source"] for b in batches}):
        state = states.get(name)
        batch = next((b for b in batches if b["source"] == name), None)
        sources.append({
            "source": name, "last_batch": batch["batch_id"] if batch else None,
            "fetched_at": batch["fetched_at"] if batch else None,
            "papers": batch["papers"] if batch else None,
            "last_success": state.last_success_at if state else None,
            "failures": state.failures if state else 0, "last_error": state.last_error if state else None,
        })
    tick = runs.get("tick")
    record = {"running": running, "due_now": due_now, "digests": digests, "jobs": jobs, "sources": sources,
              "last_digest_run": ({"started_at": tick.started_at, "status": tick.status,
                                   **dict(tick.counts or {})} if tick else None)}
    if as_json:
        emit_json(record)
        return
    emit_record({"scheduler running": running, "readers due now": due_now}, as_json=False)
    # claimed = taken by a run, not yet handed to the server (sent by the next run if that one died);
    # sending = in flight; unknown = in flight when its run died (see `digest resend`).
    emit_table([digests], list(digests), as_json=False, title="Digests by state")
    emit_table(jobs, ["job", "every", "last_start", "last_status", "next_run"], as_json=False, title="Jobs")
    emit_table(sources, ["source", "last_batch", "fetched_at", "papers", "last_success", "failures",
                         "last_error"], as_json=False, title="Sources")
    if tick is not None:
        counts = " ".join(f"{k}={v}" for k, v in (tick.counts or {}).items())
        console.print(f"Last digest run: {tick.started_at:%Y-%m-%d %H:%M} UTC, {tick.status}: {counts}",
                      markup=False)
    else:
        console.print("Last digest run: never", markup=False)


def stats(
    ctx: typer.Context,
    days: int = typer.Option(14, "--days", help="How many days back (UTC days, 1-3650)."),
    as_json: bool = _JSON,
) -> None:
    """Per day: digests sent/failed/unknown, clicks, likes, dislikes, unsubscribes; like rate by position."""
    from paperdigest.core.errors import InvalidInput
    from paperdigest.store.jobs import daily_stats, like_rate_by_position
    from paperdigest.store.models import utcnow

    if not 1 <= days <= 3650:
        raise InvalidInput(f"--days must be between 1 and 3650, got {days}")
    now = utcnow()
    since = dt.datetime.combine(now.date() - dt.timedelta(days=days - 1), dt.time(), tzinfo=dt.UTC)
    with get_context(ctx).store() as store, store.transaction() as session:
        per_day = daily_stats(session, since, now)
        by_position = like_rate_by_position(session, since)
    if as_json:
        emit_json({"since": since, "days": per_day, "like_rate_by_position": by_position})
        return
    # Quiet days clutter a terminal; JSON keeps every day for scripts.
    active = [row for row in per_day if any(v for k, v in row.items() if k != "day")]
    emit_table(active, ["day", "sent", "failed", "unknown", "empty", "clicks", "likes", "dislikes",
                        "unsubscribes"], as_json=False,
               title=f"Last {days} days (UTC), days with activity",
               empty=f"No digests sent and no reactions in the last {days} days.")
    emit_table(by_position, ["position", "shown", "liked", "like_rate"], as_json=False,
               title="Like rate by position",
               empty="No like rate by position yet: no digest was sent in this window.")


def demo(
    ctx: typer.Context,
    directory: Path = typer.Option(Path("paperdigest-demo"), "--dir", help="New folder for the demo."),
) -> None:
    """Run the whole loop offline in a new folder: ingest samples, readers, digests, feedback, digests."""
    from paperdigest.scheduler.demo import run_demo

    run_demo(directory, debug=get_context(ctx).debug, echo=lambda line: console.print(line, markup=False))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("worker")(worker)
    app.command("status")(status)
    app.command("stats")(stats)
    app.command("demo")(demo)
