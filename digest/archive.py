"""The HTML digest format: one standalone page per digest and an index of past ones per reader.

Pages go to ``<archive_dir>/reader-<id>/<period>.html`` (no email address in any path), written
atomically; the index lists the pages present in that folder, newest first.
"""

from __future__ import annotations

import re
from pathlib import Path

from paperdigest.core import Settings
from paperdigest.digest.compose import ReaderInfo
from paperdigest.digest.delivery import write_atomic
from paperdigest.digest.render import DigestView, IndexEntry, render_index, render_page

__all__ = ["archive_folder", "write_archive_page"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_META = re.compile(r'<meta name="paperdigest" content="(\d+)\|([^"]*)">')
_DATE = re.compile(r'<meta name="paperdigest-date" content="([^"]*)">')


def archive_folder(settings: Settings, reader_id: int) -> Path:
    return settings.archive_dir / f"reader-{reader_id}"


def write_archive_page(settings: Settings, reader: ReaderInfo, period: str, view: DigestView) -> Path:
    """Write the digest page and refresh the reader's index; returns the page path."""
    folder = archive_folder(settings, reader.id)
    name = (_SAFE.sub("-", period).strip("-.") or "digest") + ".html"
    html = render_page(view)
    top = view.items[0].short_title if view.items else ""
    # A tiny machine-readable marker lets the index be rebuilt from the pages alone.
    marker = (f'<meta name="paperdigest" content="{len(view.items)}|{_attr(top)}">\n'
              f'<meta name="paperdigest-date" content="{_attr(view.date_label)}">')
    html = html.replace("<head>", "<head>\n" + marker, 1)
    page = folder / name
    write_atomic(page, html.encode("utf-8"))
    write_atomic(folder / "index.html", render_index(_entries(folder)).encode("utf-8"))
    return page


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _unattr(text: str) -> str:
    return (text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
            .replace("&amp;", "&"))


def _entries(folder: Path) -> list[IndexEntry]:
    entries: list[IndexEntry] = []
    for page in sorted(folder.glob("*.html"), reverse=True):
        if page.name == "index.html":
            continue
        head = page.read_text(encoding="utf-8")[:2000]
        match = _META.search(head)
        count, top = (int(match.group(1)), _unattr(match.group(2))) if match else (0, "")
        date = _DATE.search(head)
        entries.append(IndexEntry(period=page.stem, href=page.name, count=count, top_title=top,
                                  label=_unattr(date.group(1)) if date else ""))
    return entries
