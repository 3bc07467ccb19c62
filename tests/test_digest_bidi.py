"""Issue #14: bidi control characters in titles must not reach a rendered email, page or subject."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from _digest_helpers import parse
from paperdigest.core import Settings, load_settings
from paperdigest.digest.compose import ItemInfo, PaperInfo, ReaderInfo, build_message, build_view
from paperdigest.digest.render import render_email_html, render_page, render_text, shorten
from paperdigest.digest.tokens import TokenCodec
from paperdigest.web.common import page

CONTROLS = "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_ANY = re.compile(f"[{CONTROLS}]")
TITLE = "Safe \u202egnp.exe\u202c title \u2067isolated\u2069 \u202aend"


@pytest.fixture
def cfg(home: Path) -> Settings:
    return load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_BASE_URL": "https://d.example.org"})


def test_rendered_titles_carry_no_bidi_controls(cfg: Settings) -> None:
    item = ItemInfo(PaperInfo("2501.00001", TITLE, f"Abstract {TITLE}.", (f"Ada {CONTROLS}",),
                              "https://x.org/1"), 0.5, "similar")
    view = build_view(ReaderInfo(id=7, email="ann@example.org", name="Ann"), 1, "2026-11-25", [item],
                      cfg, TokenCodec(["k"]))
    message = build_message(view, ReaderInfo(id=7, email="ann@example.org", name="Ann"),
                            message_id="<m@x>", settings=cfg, now=dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    msg = parse(message.as_bytes())
    outputs = {"email": render_email_html(view), "page": render_page(view), "text": render_text(view),
               "subject": str(msg["Subject"]), "web": bytes(page("x", shorten(TITLE, 80)).body).decode()}
    for name, output in outputs.items():
        assert not _ANY.search(output), name
    assert "Safe gnp.exe title isolated end" in outputs["page"]  # the visible text is kept
