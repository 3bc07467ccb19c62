"""SQLAlchemy 2 typed models: the one schema shared by SQLite and PostgreSQL.

Alembic migrations in ``store/migrations`` create exactly these tables; a test compares the two.
Times are stored as timezone-aware UTC (``DateTime(timezone=True)``); SQLite keeps them as text and
:class:`UTCDateTime` gives them back aware.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from paperdigest.core.schedule import CADENCES, READER_STATUSES
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "CADENCES",
    "DELIVERED_STATUSES",
    "DIGEST_STATUSES",
    "FORMATS",
    "INTERACTION_KINDS",
    "INTERACTION_SOURCES",
    "READER_STATUSES",
    "SETTLED_STATUSES",
    "Base",
    "Batch",
    "BatchPaper",
    "Digest",
    "DigestItem",
    "Interaction",
    "JobRun",
    "Paper",
    "Reader",
    "SourceState",
    "utcnow",
]

# email: the digest itself; html: a web page (short notice email or none); feed: the Atom feed.
FORMATS = ("email", "html", "feed")
INTERACTION_KINDS = ("like", "dislike", "click", "save", "unlike")
INTERACTION_SOURCES = ("cli", "email", "web", "import")
# pending -> claimed -> sending -> sent | failed | unknown (see store.digests); "empty" = nothing
# passed the recommender (nothing sent).
DIGEST_STATUSES = ("pending", "claimed", "sending", "sent", "failed", "unknown", "empty")
# The papers of a digest in one of these states may have reached the reader: never offered again, and
# the next digest's candidate window starts at its creation.
DELIVERED_STATUSES = ("sent", "sending", "unknown")
# A digest in one of these states closed its period for the due rules (scheduler.due): delivered, or
# nothing to deliver.
SETTLED_STATUSES = (*DELIVERED_STATUSES, "empty")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC time")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# Stable constraint names so Alembic migrations (and SQLite batch mode) can refer to them.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012


class Reader(Base):
    __tablename__ = "readers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    cadence: Mapped[str] = mapped_column(String(16), default="daily")
    weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 0 = Monday, weekly only
    send_hour: Mapped[int] = mapped_column(Integer, default=8)
    digest_size: Mapped[int] = mapped_column(Integer, default=10)
    format: Mapped[str] = mapped_column(String(8), default="email")
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # Bumped by `users relink`: every settings/archive/feed link issued before stops working.
    link_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped by every settings change from the web page, so a replayed form POST is refused.
    settings_rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paused_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # last paused day
    min_relevance: Mapped[float | None] = mapped_column(Float, nullable=True)  # 0..1, None = any
    # Web-page and feed readers: a short "your digest is up" email (True) or nothing (False).
    web_notice: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # When nothing clears the threshold: "note" (the best few, marked) or "skip"; None = the setting.
    nothing_strong: Mapped[str | None] = mapped_column(String(8), nullable=True)


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("source", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(300), default="")  # file name, URL or query
    date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    paper_count: Mapped[int] = mapped_column(Integer, default=0)

    links: Mapped[list[BatchPaper]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", order_by="BatchPaper.position"
    )


class Paper(Base):
    __tablename__ = "papers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title_key: Mapped[str] = mapped_column(String(64), unique=True)  # hash of normalized title
    arxiv_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(64), default="")
    published: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    upvotes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("batches.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class BatchPaper(Base):
    __tablename__ = "batch_papers"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)

    batch: Mapped[Batch] = relationship(back_populates="links")
    paper: Mapped[Paper] = relationship()


class Interaction(Base):
    """Append-only history of reader feedback. ``current`` marks the one live like/dislike."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index(
            "uq_interactions_current_reaction",
            "reader_id",
            "paper_id",
            unique=True,
            sqlite_where=text("current = 1"),
            postgresql_where=text("current"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("readers.id", ondelete="CASCADE"), index=True)
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="cli")
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("digests.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Digest(Base):
    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("reader_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("readers.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(64))  # "2026-11-25", "2026-W48", "batch:17"
    format: Mapped[str] = mapped_column(String(8), default="email")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Who claimed it (``host:pid``) and when: how a later run tells a dead run's claim from a live one.
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    items: Mapped[list[DigestItem]] = relationship(
        back_populates="digest", cascade="all, delete-orphan", order_by="DigestItem.rank"
    )


class DigestItem(Base):
    __tablename__ = "digest_items"
    __table_args__ = (UniqueConstraint("digest_id", "paper_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"), index=True)
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    # The abstract sentence closest to the reader's taste (embedding backend), "" when none.
    highlight: Mapped[str] = mapped_column(Text, default="", server_default="")

    digest: Mapped[Digest] = relationship(back_populates="items")
    paper: Mapped[Paper] = relationship()


class JobRun(Base):
    """One line per scheduler/CLI job run: what ran, how long, what it counted."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, ok, error
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class SourceState(Base):
    """Per-source polling state, so a failing source is retried and reported."""

    __tablename__ = "source_state"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # "hf", "arxiv:cs.LG", "watch"
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("batches.id", ondelete="SET NULL"), nullable=True
    )
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. last date fetched
