"""Log lines of the web app never carry a whole link token (``serve --debug`` logs every request).

A token in a log is a working link for whoever reads the log; its first 6 characters are enough to
tell requests apart and useless as a key.
"""

from __future__ import annotations

import logging
import re

__all__ = ["TokenFilter", "install_token_filter", "mask_tokens"]

# /f/ /u/ /c/ /s/ /a/ /feed/ /subscribe/confirm/ followed by a token (base64url and dots).
_TOKEN_PATH = re.compile(r"(/(?:f|u|c|s|a|feed|subscribe/confirm)/)([A-Za-z0-9_=-]{6})[A-Za-z0-9_.=%-]*")


def mask_tokens(text: str) -> str:
    """``/f/eyJhbGciOi...`` -> ``/f/eyJhbG…``"""
    return _TOKEN_PATH.sub(r"\1\2…", text)


class TokenFilter(logging.Filter):
    """Rewrites a record's message and arguments with :func:`mask_tokens`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: mask_tokens(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_token_filter(*names: str) -> None:
    """Add the filter to the named loggers and to their handlers (records from children pass
    through handlers, not through a parent logger's own filters)."""
    for name in names or ("uvicorn", "uvicorn.access", "uvicorn.error", "paperdigest"):
        logger = logging.getLogger(name)
        logger.addFilter(TokenFilter())
        for handler in logger.handlers:
            handler.addFilter(TokenFilter())
    for handler in logging.getLogger().handlers:
        handler.addFilter(TokenFilter())
