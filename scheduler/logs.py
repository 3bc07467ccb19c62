"""Log set-up for the long-running scheduler: one line per job run, text or JSON, no addresses.

Every record passes a filter that masks email addresses (``alice@example.org`` -> ``a***@example.org``)
and ``user:password@`` parts of URLs, so a message built carelessly elsewhere still cannot leak them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any, TextIO

__all__ = ["JsonFormatter", "RedactFilter", "configure_logging", "redact"]

_EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+-])[\w.+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_URL_AUTH_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
# Attributes every LogRecord has; anything else was passed with ``extra=`` and goes into JSON output.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """Mask email addresses and URL credentials in ``text``."""
    text = _URL_AUTH_RE.sub(r"\1***:***@", text)
    return _EMAIL_RE.sub(r"\1***@\2", text)


class RedactFilter(logging.Filter):
    """Rewrites each record's message (and string extras) through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(fmt: str = "text", *, debug: bool = False, stream: TextIO | None = None) -> None:
    """Send ``paperdigest``/``scheduler`` logs to ``stream`` (stderr) as text or JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # Our job lines at INFO; libraries (APScheduler's "Running job ...", Alembic) only from WARNING.
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("paperdigest").setLevel(logging.DEBUG if debug else logging.INFO)
