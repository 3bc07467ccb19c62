"""``paperdigest users ...``: manage readers and record their likes from the command line."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from paperdigest.admin.context import get_context
from paperdigest.admin.output import console, emit_json, emit_record, emit_table
from paperdigest.core.errors import InvalidInput
from paperdigest.core.schedule import check_status

# Store and ingest are imported inside each command: SQLAlchemy and httpx cost more than the rest of
# start-up together, and `paperdigest --help` needs neither.
if TYPE_CHECKING:
    from types import SimpleNamespace

    from paperdigest.store.models import Reader

__all__ = ["register"]

users = typer.Typer(help="Readers (subscribers) and their likes.", no_args_is_help=True)
_JSON = typer.Option(False, "--json", help="Print JSON.")
_NOTHING_STRONG_HELP = ("When no paper clears the reader's threshold: note (the best 3, marked), skip (no"
                        " digest that day) or default (PAPERDIGEST_NOTHING_STRONG).")


def _record(reader: Reader | SimpleNamespace) -> dict[str, Any]:
    from paperdigest.core.schedule import WEEKDAYS

    return {
        "id": reader.id, "email": reader.email, "name": reader.name, "status": reader.status,
        "cadence": reader.cadence,
        "weekday": WEEKDAYS[reader.weekday] if reader.weekday is not None else None,
        "send_hour": reader.send_hour, "timezone": reader.timezone,
        "digest_size": reader.digest_size, "format": reader.format,
        "keywords": list(reader.keywords or []),
        "paused_until": reader.paused_until, "min_relevance": reader.min_relevance,
        "web_notice": reader.web_notice, "nothing_strong": reader.nothing_strong,
        "created_at": reader.created_at, "updated_at": reader.updated_at,
    }


@users.command("add")
def users_add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Email address (unique)."),
    name: str = typer.Option("", "--name", help="Display name."),
    timezone: str = typer.Option("UTC", "--timezone", "--tz", help="IANA time zone."),
    cadence: str = typer.Option("daily", "--cadence", help="each_batch, daily or weekly."),
    weekday: str | None = typer.Option(None, "--weekday", help="mon..sun (weekly cadence)."),
    send_hour: int = typer.Option(8, "--send-hour", help="Local hour 0-23 to send at."),
    digest_size: int | None = typer.Option(None, "--size", help="Papers per digest."),
    fmt: str = typer.Option("email", "--format", help="email, html (web page) or feed (Atom)."),
    nothing_strong: str | None = typer.Option(None, "--nothing-strong", help=_NOTHING_STRONG_HELP),
    keywords: list[str] | None = typer.Option(
        None, "--keyword", "-k", help="Interest keyword (repeat, or comma separated)."
    ),
    as_json: bool = _JSON,
) -> None:
    """Add a reader."""
    from paperdigest.store.readers import ReaderFields, add_reader

    app_ctx = get_context(ctx)
    fields = ReaderFields(
        email=email, name=name, timezone=timezone, cadence=cadence, weekday=weekday,
        send_hour=send_hour,
        digest_size=app_ctx.settings.digest_size if digest_size is None else digest_size,
        format=fmt, keywords=keywords or [],
        nothing_strong=None if (nothing_strong or "default").strip().lower() == "default" else nothing_strong,
    )
    with app_ctx.store() as store, store.transaction() as session:
        reader = add_reader(session, fields)
        record = _record(reader)
    if as_json:
        emit_json(record)
    else:
        console.print(f"Added reader {record['id']} <{record['email']}>.", markup=False)


@users.command("list")
def users_list(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="active, paused or unsubscribed."),
    as_json: bool = _JSON,
) -> None:
    """List readers."""
    from paperdigest.store.quick import list_reader_rows

    app_ctx = get_context(ctx)
    if status is not None:
        status = check_status(status)
    quick = list_reader_rows(app_ctx.settings, status)
    if quick is not None:
        rows = [_record(r) for r in quick]
    else:
        from paperdigest.store.readers import list_readers

        with app_ctx.store() as store, store.read() as session:
            rows = [_record(r) for r in list_readers(session, status)]
    emit_table(rows, ["id", "email", "name", "status", "cadence", "weekday", "send_hour", "timezone",
                      "digest_size", "format", "keywords"], as_json=as_json, title="Readers",
               empty="No readers yet: add one with `paperdigest users add EMAIL`."
               if status is None else f"No {status} readers.")


@users.command("show")
def users_show(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Reader id or email."),
    as_json: bool = _JSON,
) -> None:
    """Show one reader with their current likes and dislikes."""
    from paperdigest.store.feedback import current_reactions
    from paperdigest.store.papers import find_paper
    from paperdigest.store.readers import find_reader

    with get_context(ctx).store() as store, store.transaction() as session:
        reader = find_reader(session, user)
        record = _record(reader)
        reactions = current_reactions(session, reader.id)
        titles = {p: find_paper(session, p).title for p in reactions} if not as_json else {}
    # Scripts get paper ids (stable); people get the titles, cut with an ellipsis.
    for kind in ("like", "dislike"):
        ids = sorted(p for p, k in reactions.items() if k == kind)
        record[f"{kind}s"] = ids if as_json else [_short(titles[p]) for p in ids] or "none"
    emit_record(record, as_json=as_json)


def _short(title: str) -> str:
    from paperdigest.admin.output import TITLE_CHARS
    from paperdigest.digest.render import shorten

    return shorten(title, TITLE_CHARS)


@users.command("edit")
def users_edit(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Reader id or email."),
    email: str | None = typer.Option(None, "--email"),
    name: str | None = typer.Option(None, "--name"),
    timezone: str | None = typer.Option(None, "--timezone", "--tz"),
    cadence: str | None = typer.Option(None, "--cadence"),
    weekday: str | None = typer.Option(None, "--weekday"),
    send_hour: int | None = typer.Option(None, "--send-hour"),
    digest_size: int | None = typer.Option(None, "--size"),
    fmt: str | None = typer.Option(None, "--format"),
    keywords: list[str] | None = typer.Option(None, "--keyword", "-k",
                                              help="Replace the interest keywords."),
    status: str | None = typer.Option(None, "--status", help="active, paused or unsubscribed."),
    nothing_strong: str | None = typer.Option(None, "--nothing-strong", help=_NOTHING_STRONG_HELP),
    as_json: bool = _JSON,
) -> None:
    """Change a reader's settings (only the options given)."""
    from paperdigest.store.readers import ReaderFields, find_reader, update_reader

    fields = ReaderFields(email=email, name=name, timezone=timezone, cadence=cadence,
                          weekday=weekday, send_hour=send_hour, digest_size=digest_size,
                          format=fmt, keywords=keywords, status=status)
    if nothing_strong is not None:
        if nothing_strong.strip().lower() == "default":
            fields.clear = ("nothing_strong",)
        else:
            fields.nothing_strong = nothing_strong
    with get_context(ctx).store() as store, store.transaction() as session:
        reader = update_reader(session, find_reader(session, user), fields)
        record = _record(reader)
    if as_json:
        emit_json(record)
    else:
        console.print(f"Updated reader {record['id']} <{record['email']}>.", markup=False)


@users.command("remove")
def users_remove(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Reader id or email."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a reader with their feedback and digest history."""
    from paperdigest.store.readers import find_reader, remove_reader

    with get_context(ctx).store() as store, store.transaction() as session:
        reader = find_reader(session, user)
        if not yes and not typer.confirm(f"Delete reader {reader.id} <{reader.email}>?"):
            raise typer.Exit(1)
        email = reader.email
        remove_reader(session, reader)
    console.print(f"Removed reader <{email}>.", markup=False)


@users.command("relink")
def users_relink(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Reader id or email."),
    show: bool = typer.Option(False, "--show", help="Print the new settings, archive and feed links."),
) -> None:
    """Revoke a reader's leaked settings/archive/feed links; the next email carries new ones."""
    from paperdigest.digest.compose import reader_info, reader_page_url
    from paperdigest.digest.tokens import TokenCodec
    from paperdigest.store.readers import find_reader, relink_reader

    app_ctx = get_context(ctx)
    with app_ctx.store() as store, store.transaction() as session:
        reader = find_reader(session, user)
        generation = relink_reader(session, reader)
        info, email = reader_info(reader), reader.email
        codec = TokenCodec(store.secret_keys(), app_ctx.settings.feedback_max_age_days)
        links = {p: reader_page_url(app_ctx.settings, codec, p, info)
                 for p in ("settings", "archive", "feed")}
    console.print(f"Revoked the page links of reader {info.id} <{email}> (link generation {generation}).",
                  markup=False)
    if show:
        for purpose, url in links.items():
            console.print(f"{purpose}: {url}", markup=False)


@users.command("import")
def users_import(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV with an 'email' column and optional name, "
                                "timezone, cadence, weekday, send_hour, digest_size, format, "
                                "keywords (separated by ';'), likes (paper ids, arXiv ids, DOIs "
                                "or exact titles of stored papers, separated by ';')."),
    update: bool = typer.Option(False, "--update", help="Update readers that exist already."),
) -> None:
    """Import readers (and, with a likes column, their likes) from a CSV file, all or nothing."""
    from paperdigest.ingest.library import parse_reference, split_references
    from paperdigest.store.library import like_stored_papers
    from paperdigest.store.readers import add_reader, fields_from_row, find_reader, update_reader

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start})") from None
    reader_csv = csv.DictReader(io.StringIO(text))
    if not reader_csv.fieldnames or "email" not in [f.strip().lower() for f in reader_csv.fieldnames]:
        raise InvalidInput(f"{path}: no 'email' column in the header")
    added = updated = liked = 0
    app_ctx = get_context(ctx)
    with app_ctx.store() as store, store.transaction() as session:
        for line_no, row in enumerate(reader_csv, start=2):
            try:
                fields = fields_from_row(row)
                if fields.digest_size is None:
                    fields.digest_size = app_ctx.settings.digest_size
                try:
                    existing = find_reader(session, fields.email or "")
                except LookupError:
                    existing = None
                if existing is None:
                    reader = add_reader(session, fields)
                    added += 1
                elif update:
                    reader = update_reader(session, existing, fields)
                    updated += 1
                else:
                    raise InvalidInput(f"reader {existing.email} exists already (use --update)")
                refs = split_references(fields.extra.get("likes", ""))
                liked += like_stored_papers(session, reader.id, [parse_reference(r) for r in refs])
            except InvalidInput as exc:
                raise InvalidInput(f"{path}, line {line_no}: {exc}") from None
    likes = f" with {liked} new likes" if liked else ""
    console.print(f"Imported {added} new and {updated} updated readers{likes} from {path}.", markup=False)


def _react(ctx: typer.Context, user: str, paper: str, kind: str) -> None:
    from paperdigest.store.feedback import record_feedback
    from paperdigest.store.papers import find_paper
    from paperdigest.store.readers import find_reader

    with get_context(ctx).store() as store, store.transaction() as session:
        reader = find_reader(session, user)
        found = find_paper(session, paper)
        result = record_feedback(session, reader.id, found.id, kind, "cli")
        title = found.title
    verb = {"like": "likes", "dislike": "dislikes", "unlike": "no longer reacts to"}[kind]
    if not result.changed:
        console.print(f"No change: {reader.email} already {verb} {title[:80]!r}.", markup=False)
    else:
        console.print(f"Recorded: {reader.email} {verb} {title[:80]!r}.", markup=False)


def _reaction_command(kind: str, doc: str) -> None:
    def command(
        ctx: typer.Context,
        user: str = typer.Argument(..., help="Reader id or email."),
        paper: str = typer.Argument(..., help="Paper id, arXiv id or an unambiguous title search."),
    ) -> None:
        _react(ctx, user, paper, kind)

    command.__doc__ = doc
    users.command(kind)(command)


_reaction_command("like", "Record that a reader likes a paper.")
_reaction_command("dislike", "Record that a reader dislikes a paper.")
_reaction_command("unlike", "Withdraw a reader's like or dislike of a paper (history is kept).")


def register(app: typer.Typer) -> None:
    app.add_typer(users, name="users")
