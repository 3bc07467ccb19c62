"""``paperdigest digest preview``: what a reader would get now, rendered, with nothing written."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage

from paperdigest.core import Settings
from paperdigest.digest.compose import ItemInfo, ReaderInfo, build_message, build_view
from paperdigest.digest.rank import PreparedReader, rank_readers
from paperdigest.digest.render import DigestView, render_email_html, render_page, render_text
from paperdigest.digest.send import FIRST_DIGEST_DAYS, default_period, reader_info
from paperdigest.digest.tokens import TokenCodec
from paperdigest.ranking.model_store import Ranker, load_model
from paperdigest.store import Store
from paperdigest.store.digests import last_delivered_at, seen_paper_ids
from paperdigest.store.readers import find_reader

__all__ = ["Preview", "preview_digest"]


@dataclass(frozen=True)
class Preview:
    reader: ReaderInfo
    period: str
    items: list[ItemInfo]
    note: str  # why there is nothing to send, when ``items`` is empty
    view: DigestView
    settings: Settings
    now: dt.datetime

    @property
    def text(self) -> str:
        return render_text(self.view)

    @property
    def html(self) -> str:
        """The HTML email part (CSS inlined)."""
        return render_email_html(self.view)

    @property
    def page(self) -> str:
        """The archive page of the HTML digest format."""
        return render_page(self.view)

    def eml(self) -> EmailMessage:
        """The full email; raises :class:`store.InvalidInput` if the reader has no valid address."""
        return build_message(self.view, self.reader, message_id="<preview@paperdigest.invalid>",
                             settings=self.settings, now=self.now)


def preview_digest(store: Store, settings: Settings, reader: str | int, *, now: dt.datetime,
                   ranker: Ranker | None = None) -> Preview:
    """Rank and render the next digest of ``reader`` (id or email) without recording anything.

    Links in a preview carry no digest id; they still work against the feedback app.
    """
    with store.transaction() as session:
        row = find_reader(session, reader)
        info, period = reader_info(row), default_period(row, now)
        since = last_delivered_at(session, row.id) or now - dt.timedelta(days=FIRST_DIGEST_DAYS)
        seen = seen_paper_ids(session, row.id)
    prepared = PreparedReader(info, period, None, since, seen)
    [(_, items, note)] = rank_readers(store, settings, [prepared], now=now, dry_run=True,
                                      ranker_factory=lambda: ranker or load_model(store, settings))
    codec = TokenCodec(store.secret_keys(), settings.feedback_max_age_days)
    view = build_view(info, None, period, items, settings, codec)
    return Preview(info, period, items, note, view, settings, now)
