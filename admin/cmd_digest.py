"""``paperdigest digest ...``: preview, send, list, show, resend."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from paperdigest.admin.context import get_context
from paperdigest.admin.output import console, emit_json, emit_record, emit_table, spinner
from paperdigest.core.errors import InvalidInput

# Store and ingest are imported inside each command: SQLAlchemy and httpx cost more than the rest of
# start-up together, and `paperdigest --help` needs neither.
if TYPE_CHECKING:
    from paperdigest.store.models import Digest

# Written out, not joined from store.models at import: `--help` must not load SQLAlchemy. A test
# checks it lists exactly DIGEST_STATUSES.
_STATUS_HELP = "pending, claimed, sending, sent, failed, unknown, empty."

__all__ = ["register"]

digest_app = typer.Typer(help="Build, preview and send digests.", no_args_is_help=True)
_JSON = typer.Option(False, "--json", help="Print JSON.")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _row(d: Digest, emails: dict[int, str]) -> dict[str, Any]:
    return {"id": d.id, "reader": d.reader_id, "email": emails.get(d.reader_id, ""),
            "period": d.period, "format": d.format,
            "status": d.status, "attempts": d.attempts, "created_at": d.created_at,
            "sent_at": d.sent_at, "error": d.error, "note": d.note}


@digest_app.command("preview")
def preview(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Reader id or email."),
    fmt: str = typer.Option("text", "--format", help="text, html (the email's HTML part) or eml."),
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of stdout."),
) -> None:
    """Show the digest a reader would get now; nothing is recorded or sent."""
    if fmt not in ("text", "html", "eml"):
        raise InvalidInput(f"--format must be text, html or eml, got {fmt!r}")
    from paperdigest.digest import preview_digest

    app_ctx = get_context(ctx)
    with app_ctx.store() as store, spinner("Ranking papers for the preview"):
        shown = preview_digest(store, app_ctx.settings, user, now=_now())
    if not shown.items:
        console.print(f"Nothing to send to {shown.reader.email}: {shown.note}.", markup=False)
        return
    if fmt == "eml":
        data = shown.eml().as_bytes()
    else:
        data = (shown.text if fmt == "text" else shown.html).encode("utf-8")
    if out is None:
        typer.echo(data.decode("utf-8", "replace"), nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        console.print(f"Wrote {len(shown.items)} papers for {shown.reader.email} to {out}.",
                      markup=False)


@digest_app.command("send")
def send(
    ctx: typer.Context,
    users: list[str] | None = typer.Option(None, "--user", "-u",
                                           help="Only this reader (id or email); repeatable."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Rank and render, but write and send nothing."),
    as_json: bool = _JSON,
) -> None:
    """Send today's digest to every active reader (or the given ones), at most once per period."""
    from paperdigest.digest import send_digests
    from paperdigest.store.operator import emails_by_id
    from paperdigest.store.readers import find_reader

    app_ctx = get_context(ctx)
    with app_ctx.store() as store:
        ids = None
        if users:
            with store.transaction() as session:
                ids = [find_reader(session, u).id for u in users]
        with spinner("Ranking and sending digests"):
            report = send_digests(store, app_ctx.settings, now=_now(), readers=ids, dry_run=dry_run)
        with store.transaction() as session:
            emails = emails_by_id(session, {o.reader_id for o in report.outcomes})
    rows = [{"reader": o.reader_id, "email": emails.get(o.reader_id, ""),
             "period": o.period, "status": o.status, "digest": o.digest_id,
             "papers": o.papers, "detail": o.detail} for o in report.outcomes]
    if as_json:
        emit_json({"counts": report.counts(), "outcomes": rows})
        return
    if rows:
        emit_table(rows, ["email", "period", "status", "digest", "papers", "detail"], as_json=False,
                   title="Digests")
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report.counts().items())
    console.print(("Dry run: " if dry_run else "") + counts + ".", markup=False)
    if report.failed or report.unknown:
        raise typer.Exit(1)


@digest_app.command("list")
def list_cmd(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", "-u", help="Only this reader (id or email)."),
    status: str | None = typer.Option(None, "--status", help=_STATUS_HELP),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = _JSON,
) -> None:
    """List digests, newest first."""
    from paperdigest.store.digests import list_digests
    from paperdigest.store.models import DIGEST_STATUSES
    from paperdigest.store.operator import emails_by_id
    from paperdigest.store.readers import find_reader

    if status is not None and status not in DIGEST_STATUSES:
        raise InvalidInput(f"--status must be one of {', '.join(DIGEST_STATUSES)}, got {status!r}")
    with get_context(ctx).store() as store, store.transaction() as session:
        reader_id = find_reader(session, user).id if user else None
        digests = list_digests(session, reader_id=reader_id, status=status, limit=limit)
        emails = emails_by_id(session, {d.reader_id for d in digests})
        rows = [_row(d, emails) for d in digests]
    emit_table(rows, ["id", "email", "period", "status", "attempts", "sent_at", "error", "note"],
               as_json=as_json, title="Digests", empty="No digests yet." if status is None
               else f"No {status} digests.")


@digest_app.command("show")
def show(
    ctx: typer.Context,
    digest_id: int = typer.Argument(..., help="Digest id (see 'digest list')."),
    as_json: bool = _JSON,
) -> None:
    """Show one digest with its papers, scores and reasons."""
    from paperdigest.store.digests import get_digest
    from paperdigest.store.operator import emails_by_id

    with get_context(ctx).store() as store, store.transaction() as session:
        d = get_digest(session, digest_id)
        record = _row(d, emails_by_id(session, {d.reader_id}))
        record["message_id"] = d.message_id
        record["papers"] = [{"rank": i.rank, "paper": i.paper_id, "score": round(i.score, 4),
                             "title": i.paper.title, "reason": i.reason} for i in d.items]
    if as_json:
        emit_json(record)
        return
    papers = record.pop("papers")
    emit_record(record, as_json=False)
    for p in papers:
        console.print(f"{p['rank']:>3}. {_short(p['title'])}  [{p['paper']}, {p['score']}] {p['reason']}",
                      markup=False)


def _short(title: str) -> str:
    from paperdigest.admin.output import TITLE_CHARS
    from paperdigest.digest.render import shorten

    return shorten(title, TITLE_CHARS)


@digest_app.command("resend")
def resend(
    ctx: typer.Context,
    digest_id: int = typer.Argument(..., help="Id of a failed or unknown digest."),
) -> None:
    """Deliver a failed or unknown digest again (explicit: it may reach the reader twice)."""
    from paperdigest.digest import resend_digest

    app_ctx = get_context(ctx)
    with app_ctx.store() as store:
        outcome = resend_digest(store, app_ctx.settings, digest_id, now=_now())
    console.print(f"Digest {outcome.digest_id}: {outcome.status}"
                  + (f" ({outcome.detail})" if outcome.detail else "") + ".", markup=False)
    if outcome.status != "sent":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``digest`` to ``app`` (``serve`` lives in :mod:`admin.cmd_serve`)."""
    app.add_typer(digest_app, name="digest")
