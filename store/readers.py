"""Readers (subscribers): validation, create, read, update, remove, CSV import."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paperdigest.core.errors import AlreadyExists, InvalidInput, NotFound
from paperdigest.core.schedule import WEEKDAYS, check_nothing_strong, check_schedule
from paperdigest.store.models import FORMATS, READER_STATUSES, Interaction, Paper, Reader, utcnow
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

__all__ = [
    "KEYWORDS_MAX",
    "WEEKDAYS",
    "Reaction",
    "ReaderFields",
    "add_reader",
    "bump_settings_rev",
    "fields_from_row",
    "find_reader",
    "list_readers",
    "local_today",
    "mask_email",
    "pause_reader",
    "reactions_with_titles",
    "readers_by_id",
    "relink_reader",
    "remove_reader",
    "reset_personalisation",
    "resume_reader",
    "update_reader",
    "validate_email",
    "wake_paused_readers",
]

KEYWORDS_MAX = 2000  # characters of a keyword list as typed; longer is refused, not cut
# Deliberately simple: one @, a dotted domain, no spaces or angle brackets. Deliverability is the
# SMTP server's call; this catches typos and header injection.
_EMAIL_RE = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def validate_email(value: str) -> str:
    """Return the address trimmed, domain lower-cased; raise :class:`InvalidInput` if invalid."""
    email = (value or "").strip()
    if not email:
        raise InvalidInput("email address is empty")
    if len(email) > 320 or not _EMAIL_RE.match(email):
        raise InvalidInput(f"invalid email address {email!r}")
    local, domain = email.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def mask_email(email: str) -> str:
    """``alice@example.org`` -> ``a***@example.org``: what logs may show."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


@dataclass
class ReaderFields:
    """Editable reader fields; ``None`` means 'leave as is' for updates."""

    email: str | None = None
    name: str | None = None
    timezone: str | None = None
    cadence: str | None = None
    weekday: str | int | None = None
    send_hour: int | None = None
    digest_size: int | None = None
    format: str | None = None
    keywords: list[str] | None = None
    status: str | None = None
    min_relevance: float | None = None
    web_notice: bool | None = None
    nothing_strong: str | None = None  # "note" or "skip"; clear it to follow the setting
    # Nullable fields to set to NULL (``None`` above means "leave as is").
    clear: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def validated(self) -> dict[str, Any]:
        """Checked, normalized values of the fields that are set."""
        out: dict[str, Any] = {}
        if self.email is not None:
            out["email"] = validate_email(self.email)
        if self.name is not None:
            out["name"] = self.name.strip()[:200]
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise InvalidInput(f"unknown time zone {self.timezone!r} (use an IANA name such"
                                   " as Europe/Berlin)") from None
            out["timezone"] = self.timezone
        # Size, hour and cadence: the one shared check, so every command refuses the same values.
        out.update(check_schedule(digest_size=self.digest_size, send_hour=self.send_hour,
                                  cadence=self.cadence))
        if self.weekday is not None:
            out["weekday"] = _weekday(self.weekday)
        if self.format is not None:
            fmt = self.format.strip().lower()
            if fmt not in FORMATS:
                raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
            out["format"] = fmt
        if self.keywords is not None:
            out["keywords"] = _keywords(self.keywords)
        if self.status is not None:
            if self.status not in READER_STATUSES:
                raise InvalidInput(f"status must be one of {', '.join(READER_STATUSES)}")
            out["status"] = self.status
        if self.min_relevance is not None:
            value = float(self.min_relevance)
            if not 0.0 <= value <= 1.0:  # also refuses NaN
                raise InvalidInput(f"minimum relevance must be between 0 and 1, got {self.min_relevance}")
            out["min_relevance"] = value
        if self.web_notice is not None:
            out["web_notice"] = bool(self.web_notice)
        if self.nothing_strong is not None:
            out["nothing_strong"] = check_nothing_strong(self.nothing_strong)
        for name in self.clear:
            if name not in {"min_relevance", "nothing_strong", "paused_until", "weekday"}:
                raise InvalidInput(f"{name} cannot be cleared")
            out[name] = None
        return out


def _weekday(value: str | int) -> int:
    if isinstance(value, int) or str(value).strip().isdigit():
        day = int(value)
        if 0 <= day <= 6:
            return day
    else:
        text = str(value).strip().lower()[:3]
        if text in WEEKDAYS:
            return WEEKDAYS.index(text)
    raise InvalidInput(f"weekday must be mon..sun or 0-6, got {value!r}")


def _keywords(values: Iterable[str]) -> list[str]:
    values = [str(v) for v in values]
    if sum(len(v) for v in values) > KEYWORDS_MAX:
        raise InvalidInput(f"the keyword list is longer than {KEYWORDS_MAX} characters")
    out: list[str] = []
    for value in values:
        for part in str(value).split(","):
            word = " ".join(part.split())[:100]
            if word and word.lower() not in {k.lower() for k in out}:
                out.append(word)
    return out[:50]


def add_reader(session: Session, fields: ReaderFields) -> Reader:
    """Create a reader; raises :class:`AlreadyExists` if the email is taken."""
    values = fields.validated()
    if "email" not in values:
        raise InvalidInput("a reader needs an email address")
    if values.get("cadence") == "weekly" and values.get("weekday") is None:
        values["weekday"] = 0
    if session.scalar(select(Reader.id).where(func.lower(Reader.email) == values["email"].lower())):
        raise AlreadyExists(f"a reader with email {values['email']} exists already")
    reader = Reader(**values)
    session.add(reader)
    session.flush()
    return reader


def find_reader(session: Session, ref: str | int) -> Reader:
    """A reader by numeric id or email (case-insensitive)."""
    text = str(ref).strip()
    reader = None
    if text.isdigit():
        reader = session.get(Reader, int(text))
    if reader is None and "@" in text:
        reader = session.scalar(select(Reader).where(func.lower(Reader.email) == text.lower()))
    if reader is None:
        raise NotFound(f"no reader {text!r}")
    return reader


def list_readers(session: Session, status: str | None = None) -> list[Reader]:
    stmt = select(Reader).order_by(Reader.id)
    if status:
        stmt = stmt.where(Reader.status == status)
    return list(session.scalars(stmt))


def readers_by_id(session: Session, ids: Sequence[int]) -> list[Reader]:
    """The readers with these ids (at most a few hundred: one ``IN``); unknown ids are absent."""
    return list(session.scalars(select(Reader).where(Reader.id.in_(list(ids))).order_by(Reader.id)))


def update_reader(session: Session, reader: Reader, fields: ReaderFields) -> Reader:
    values = fields.validated()
    new_email = values.get("email")
    if new_email and new_email.lower() != reader.email.lower():
        taken = session.scalar(select(Reader.id).where(func.lower(Reader.email) == new_email.lower()))
        if taken:
            raise AlreadyExists(f"a reader with email {new_email} exists already")
    if values.get("cadence") == "weekly" and values.get("weekday", reader.weekday) is None:
        values["weekday"] = 0
    if values.get("status") == "unsubscribed" and reader.status != "unsubscribed":
        reader.unsubscribed_at = utcnow()
    for key, value in values.items():
        setattr(reader, key, value)
    reader.updated_at = utcnow()
    session.flush()
    return reader


def remove_reader(session: Session, reader: Reader) -> None:
    """Delete a reader with their interactions and digests (cascade)."""
    session.delete(reader)
    session.flush()


def fields_from_row(row: Mapping[str, str]) -> ReaderFields:
    """ReaderFields from a CSV row (import). Unknown columns are kept in ``extra``."""
    known = {"email", "name", "timezone", "cadence", "weekday", "send_hour", "digest_size",
             "format", "keywords", "status"}
    get = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}

    def opt(key: str) -> str | None:
        return get.get(key) or None

    def opt_int(key: str) -> int | None:
        value = get.get(key)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"{key} must be a whole number, got {value!r}") from None

    return ReaderFields(
        email=get.get("email", ""),
        name=opt("name"),
        timezone=opt("timezone"),
        cadence=opt("cadence"),
        weekday=opt("weekday"),
        send_hour=opt_int("send_hour"),
        digest_size=opt_int("digest_size"),
        format=opt("format"),
        keywords=[k for k in get.get("keywords", "").replace(";", ",").split(",") if k.strip()],
        extra={k: v for k, v in get.items() if k not in known},
    )


@dataclass(frozen=True)
class Reaction:
    """A reader's current like or dislike, with what the settings page shows of the paper."""

    paper_id: str
    title: str
    kind: str
    when: dt.datetime


def reactions_with_titles(session: Session, reader_id: int, limit: int = 200) -> list[Reaction]:
    """Current likes and dislikes of a reader, newest first."""
    rows = session.execute(
        select(Interaction.paper_id, Paper.title, Interaction.kind, Interaction.created_at)
        .join(Paper, Paper.id == Interaction.paper_id)
        .where(Interaction.reader_id == reader_id, Interaction.current.is_(True))
        .order_by(Interaction.created_at.desc(), Interaction.id.desc()).limit(limit)
    )
    return [Reaction(pid, title, kind, when) for pid, title, kind, when in rows]


def relink_reader(session: Session, reader: Reader) -> int:
    """Revoke every settings/archive/feed link of ``reader``; returns the new link generation."""
    reader.link_generation = (reader.link_generation or 0) + 1
    reader.updated_at = utcnow()
    session.flush()
    return reader.link_generation


def local_today(reader: Reader, now: dt.datetime) -> dt.date:
    try:
        zone = ZoneInfo(reader.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def pause_reader(session: Session, reader: Reader, until: dt.date | None, now: dt.datetime) -> None:
    """Pause deliveries through ``until`` (the reader's local date, inclusive; None = until resumed)."""
    if reader.status == "unsubscribed":
        raise InvalidInput("an unsubscribed reader cannot be paused; resubscribe first")
    if until is not None and until < local_today(reader, now):
        raise InvalidInput(f"the pause would end in the past ({until.isoformat()})")
    if until is not None and until > local_today(reader, now) + dt.timedelta(days=366):
        raise InvalidInput("a pause can last at most a year")
    reader.status, reader.paused_until, reader.updated_at = "paused", until, utcnow()
    session.flush()


def resume_reader(session: Session, reader: Reader) -> None:
    """Active again from the next due digest (also resubscribes an unsubscribed reader)."""
    reader.status, reader.paused_until, reader.updated_at = "active", None, utcnow()
    reader.unsubscribed_at = None
    session.flush()


def wake_paused_readers(session: Session, now: dt.datetime) -> int:
    """Readers whose dated pause is over (their local today is after it) become active again.

    Called before readers are chosen for sending, so "pause until Friday" means no digest through
    Friday and the usual one on Saturday. Returns how many woke up.
    """
    rows = session.scalars(select(Reader).where(Reader.status == "paused",
                                                Reader.paused_until.is_not(None)))
    woke = 0
    for reader in rows:
        if reader.paused_until is not None and local_today(reader, now) > reader.paused_until:
            resume_reader(session, reader)
            woke += 1
    return woke


def reset_personalisation(session: Session, reader_id: int) -> int:
    """Forget what the recommender learnt from one reader: withdraw every like and dislike
    (as ``unlike`` rows, so the history still says what happened) and delete their clicks.
    Returns how many reactions were withdrawn."""
    from paperdigest.store.feedback import record_feedback  # it imports pandas: only when used

    papers = list(session.scalars(select(Interaction.paper_id).where(
        Interaction.reader_id == reader_id, Interaction.current.is_(True))))
    for paper_id in papers:
        record_feedback(session, reader_id, paper_id, "unlike", "web")
    session.execute(delete(Interaction).where(Interaction.reader_id == reader_id,
                                              Interaction.kind == "click"))
    session.flush()
    return len(papers)


def bump_settings_rev(session: Session, reader_id: int, expected: int) -> bool:
    """Move the reader's settings revision from ``expected`` to the next one, atomically.

    False when it is no longer ``expected``: the form was used already (a replay, or a second
    tab). A conditional UPDATE, so of two simultaneous posts of one form exactly one wins.
    """
    done = session.execute(update(Reader).where(Reader.id == reader_id, Reader.settings_rev == expected)
                           .values(settings_rev=expected + 1, updated_at=utcnow()))
    session.flush()
    return bool(getattr(done, "rowcount", 0) == 1)
