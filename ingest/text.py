"""Byte-level checks and text cleaning shared by every parser.

Raw bytes become text only after the defects the issue lists are ruled out, each reported in one line
that names the input: empty, over the size limit, binary (NUL bytes), invalid UTF-8 (with line and
column). Titles and abstracts are then cleaned to plain text: HTML tags are removed (the content of
``<script>``/``<style>`` elements too), entities decoded, control characters dropped and whitespace
collapsed. The store therefore only ever holds plain text; every renderer escapes it again.
"""

from __future__ import annotations

import html
import re

from paperdigest.ingest.errors import IngestError

__all__ = ["MAX_INPUT_BYTES", "LineCounter", "check_size", "clean_text", "decode", "describe_size", "line_of"]

# The largest real daily batch is well under 1 MB and a 10,000-paper file about 16 MB; anything much
# bigger is a mistake (a dump, a video) that would only fill memory.
MAX_INPUT_BYTES = 32 * 1024 * 1024

_SCRIPT_RE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# A tag starts with a letter (or "/" + letter) right after "<", so "x < y" and "a <= b" survive.
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def describe_size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def check_size(size: int, label: str) -> None:
    if size > MAX_INPUT_BYTES:
        raise IngestError(
            f"{label}: {describe_size(size)} is more than the {MAX_INPUT_BYTES // 2**20} MiB limit"
            " for one batch"
        )


def line_of(text: str, offset: int) -> int:
    """1-based line number of character ``offset`` in ``text``."""
    return text.count("\n", 0, offset) + 1


class LineCounter:
    """Line numbers of increasing offsets in one text, counting each newline once.

    :func:`line_of` counts from the start of the text on every call, so asking it for the line of
    every record of a large batch is quadratic; parsers walk forward through their input, so this
    counts only the stretch since the previous offset (an earlier offset recounts from the start).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._offset = 0
        self._line = 1

    def line(self, offset: int) -> int:
        """1-based line number of character ``offset``."""
        if offset < self._offset:
            self._offset, self._line = 0, 1
        self._line += self.text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line


def decode(data: bytes, label: str) -> str:
    """Check raw input and decode it as UTF-8 (a BOM is allowed); raise :class:`IngestError` otherwise."""
    check_size(len(data), label)
    if not data.strip():
        raise IngestError(f"{label}: file is empty")
    nul = data.find(b"\x00", 0, 65536)
    if nul >= 0:
        raise IngestError(f"{label}: looks like a binary file (NUL byte at offset {nul}), not a text batch")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise IngestError(
            f"{label}, line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_text(value: object) -> str:
    """Plain text from a field that may carry HTML, entities, control characters or odd spacing."""
    if value is None:
        return ""
    text = str(value)
    if "<" in text:
        text = _SCRIPT_RE.sub(" ", text)
        text = _TAG_RE.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = _CONTROL_RE.sub("", text)
    return " ".join(text.split())
