"""Log set-up for the long-running scheduler: one line per job run, text or JSON, no addresses.

Every record passes a filter that masks email addresses (``alice@example.org`` -> ``a***@example.org``)
and ``user:password@`` parts of URLs, so a message built carelessly elsewhere still cannot leak them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from typing import Any, TextIO

__all__ = ["JsonFormatter", "RedactFilter", "configure_logging", "quiet_third_party", "redact"]

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


# Progress bars and chatter that libraries print straight to stderr (tqdm's "Loading weights" bar from
# transformers, the hub's download bars, the tokenizers fork notice). They break a JSON log pipeline
# and say nothing an operator needs; our own spinner covers a terminal.
_QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}


def quiet_third_party(*, debug: bool = False) -> None:
    """Silence third-party progress bars and route Python warnings into logging.

    Called by the CLI before any command runs (the libraries read these variables when first
    imported, which is later, inside the commands). Warnings become records of the ``py.warnings``
    logger, shown only with ``--debug``: in text or JSON, never as a stray line. An operator's own
    value of any of these variables wins.
    """
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    for module, call in (("transformers.utils.logging", "disable_progress_bar"),
                         ("huggingface_hub.utils", "disable_progress_bars")):
        loaded = sys.modules.get(module)  # already imported: the variables came too late for it
        if loaded is not None:
            getattr(loaded, call)()
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.DEBUG if debug else logging.ERROR)


def configure_logging(fmt: str = "text", *, debug: bool = False, stream: TextIO | None = None) -> None:
    """Send ``paperdigest``/``scheduler`` logs to ``stream`` (stderr) as text or JSON lines."""
    quiet_third_party(debug=debug)
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
