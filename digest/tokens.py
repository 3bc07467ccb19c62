"""Signed tokens for the links in a digest (itsdangerous, HMAC-SHA256).

Each purpose has its own salt, so a feedback token can never be replayed as an unsubscribe token.
Payloads carry ids only — never an email address. Keys come from ``Store.secret_keys()`` (newest
first); every key verifies, the newest signs, so rotating the key keeps sent links working.
Feedback and click tokens expire (``feedback_max_age_days``); unsubscribe tokens never do, because
RFC 8058 expects an unsubscribe link in an old email to keep working.

Reader-page tokens (settings page, web archive, Atom feed) do not expire either — they sit in the
footer of every old email — but carry the reader's link *generation*: ``paperdigest users relink``
bumps it and every page link issued before stops working. Form tokens (the CSRF-safe half of a
settings form) expire within a day and carry the reader's settings revision, so a replayed POST is
refused once anything changed. Signup tokens carry the address being confirmed and expire in two days.

Reading is strict: one right has exactly one string (canonical unpadded base64url in every part,
see :func:`_canonical`), and every payload value is type-checked (a JSON ``true`` is not reader 1,
ids are positive 63-bit integers).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer
from paperdigest.core.errors import InvalidInput

__all__ = [
    "PAGE_PURPOSES",
    "ClickToken",
    "FeedbackToken",
    "FormToken",
    "PageToken",
    "SignupToken",
    "TokenCodec",
    "UnsubscribeToken",
]

_SALT_FEEDBACK = "paperdigest.feedback.v1"
_SALT_CLICK = "paperdigest.click.v1"
_SALT_UNSUB = "paperdigest.unsubscribe.v1"
_SALT_FORM = "paperdigest.form.v1"
_SALT_SIGNUP = "paperdigest.signup.v1"
# One salt per reader page, so an archive link never opens the settings page.
PAGE_PURPOSES = ("settings", "archive", "feed")
_FORM_MAX_AGE = 86_400
_SIGNUP_MAX_AGE = 2 * 86_400
_MAX_ID = 2**63 - 1  # what the database's BIGINT/INTEGER columns hold
_B64 = re.compile(r"[A-Za-z0-9_-]*")
_REACTIONS = {"l": "like", "d": "dislike"}
_CODES = {v: k for k, v in _REACTIONS.items()}


@dataclass(frozen=True)
class FeedbackToken:
    reader_id: int
    paper_id: str
    kind: str  # like | dislike
    digest_id: int | None


@dataclass(frozen=True)
class ClickToken:
    reader_id: int
    paper_id: str
    digest_id: int | None


@dataclass(frozen=True)
class UnsubscribeToken:
    reader_id: int


@dataclass(frozen=True)
class PageToken:
    """A reader's own page: ``purpose`` is one of :data:`PAGE_PURPOSES`."""

    purpose: str
    reader_id: int
    generation: int


@dataclass(frozen=True)
class FormToken:
    reader_id: int
    generation: int
    revision: int


@dataclass(frozen=True)
class SignupToken:
    email: str
    name: str
    keywords: tuple[str, ...]


class TokenCodec:
    """Makes and checks the three kinds of link tokens.

    Parameters
    ----------
    keys
        Secret keys, newest first (as :meth:`store.Store.secret_keys` returns them).
    max_age_days
        Lifetime of feedback and click tokens.
    """

    def __init__(self, keys: Sequence[str], max_age_days: int = 180) -> None:
        if not keys:
            raise InvalidInput("no secret key to sign links with")
        # itsdangerous signs with the *last* key of the list and verifies with any.
        ordered = list(reversed(list(keys)))
        signer = {"digest_method": hashlib.sha256}
        self._feedback = URLSafeTimedSerializer(ordered, salt=_SALT_FEEDBACK, signer_kwargs=signer)
        self._click = URLSafeTimedSerializer(ordered, salt=_SALT_CLICK, signer_kwargs=signer)
        self._unsub = URLSafeSerializer(ordered, salt=_SALT_UNSUB, signer_kwargs=signer)
        self.max_age = max_age_days * 86_400
        # A digest signs ~30 links. itsdangerous derives the HMAC key from (salt, newest key) and
        # JSON-encodes with a fresh encoder on every call; here its own signers derive each key
        # once, and a token is one HMAC-SHA256 (a copy of the keyed HMAC) over exactly the bytes
        # its signer would sign: same format and keys, so ``loads`` reads it as its own (tested).
        self._key_feedback = _mac(self._feedback.make_signer(_SALT_FEEDBACK).derive_key())
        self._key_click = _mac(self._click.make_signer(_SALT_CLICK).derive_key())
        self._key_unsub = _mac(self._unsub.make_signer(_SALT_UNSUB).derive_key())
        self._pages = {p: URLSafeSerializer(ordered, salt=f"paperdigest.page.{p}.v1", signer_kwargs=signer)
                       for p in PAGE_PURPOSES}
        # Every digest carries a settings and an archive link: signed on the fast path too.
        self._key_pages = {p: _mac(s.make_signer(f"paperdigest.page.{p}.v1").derive_key())
                           for p, s in self._pages.items()}
        self._form = URLSafeTimedSerializer(ordered, salt=_SALT_FORM, signer_kwargs=signer)
        self._signup = URLSafeTimedSerializer(ordered, salt=_SALT_SIGNUP, signer_kwargs=signer)
        self._stamp: tuple[int, bytes] = (-1, b"")  # (second, its encoding), swapped as one

    def feedback(self, reader_id: int, paper_id: str, kind: str, digest_id: int | None) -> str:
        if kind not in _CODES:
            raise InvalidInput(f"feedback tokens are for like or dislike, not {kind!r}")
        return _signed(self._key_feedback, _payload([_id(reader_id), paper_id, _CODES[kind], digest_id]),
                       self._timestamp())

    def click(self, reader_id: int, paper_id: str, digest_id: int | None) -> str:
        return _signed(self._key_click, _payload([_id(reader_id), paper_id, digest_id]), self._timestamp())

    def unsubscribe(self, reader_id: int) -> str:
        return _signed(self._key_unsub, _payload([_id(reader_id)]), None)

    def page(self, purpose: str, reader_id: int, generation: int) -> str:
        """The link token of a reader's settings page, web archive or feed."""
        if purpose not in self._pages:
            raise InvalidInput(f"no reader page {purpose!r} (known: {', '.join(PAGE_PURPOSES)})")
        return _signed(self._key_pages[purpose], _payload([_id(reader_id), _count(generation)]), None)

    def form(self, reader_id: int, generation: int, revision: int) -> str:
        return self._form.dumps([_id(reader_id), _count(generation), _count(revision)])

    def signup(self, email: str, name: str, keywords: Sequence[str]) -> str:
        return self._signup.dumps([email, name, list(keywords)])

    def _timestamp(self) -> bytes:
        # As TimestampSigner.sign: whole seconds, big-endian bytes without leading zeros, base64.
        now = int(time.time())
        second, stamp = self._stamp
        if now != second:
            stamp = _b64(now.to_bytes((now.bit_length() + 7) // 8 or 1, "big"))
            self._stamp = (now, stamp)
        return stamp

    def read_feedback(self, token: str) -> FeedbackToken:
        """Raises :class:`InvalidInput` for a tampered, truncated, expired or malformed token."""
        data = _load(self._feedback, token, self.max_age)
        if (len(data) != 4 or not _is_id(data[0]) or not _is_paper(data[1])
                or data[2] not in _REACTIONS or not _opt_id(data[3])):
            raise InvalidInput("malformed feedback link")
        return FeedbackToken(data[0], data[1], _REACTIONS[data[2]], data[3])

    def read_click(self, token: str) -> ClickToken:
        data = _load(self._click, token, self.max_age)
        if len(data) != 3 or not _is_id(data[0]) or not _is_paper(data[1]) or not _opt_id(data[2]):
            raise InvalidInput("malformed link")
        return ClickToken(data[0], data[1], data[2])

    def read_unsubscribe(self, token: str) -> UnsubscribeToken:
        data = _load(self._unsub, token, None)
        if len(data) != 1 or not _is_id(data[0]):
            raise InvalidInput("malformed unsubscribe link")
        return UnsubscribeToken(data[0])

    def read_page(self, purpose: str, token: str) -> PageToken:
        """A reader-page token of exactly this ``purpose``; the caller checks the generation."""
        if purpose not in self._pages:
            raise InvalidInput(f"no reader page {purpose!r}")
        data = _load(self._pages[purpose], token, None)
        if len(data) != 2 or not _is_id(data[0]) or not _is_count(data[1]):
            raise InvalidInput("malformed link")
        return PageToken(purpose, data[0], data[1])

    def read_form(self, token: str) -> FormToken:
        data = _load(self._form, token, _FORM_MAX_AGE)
        if len(data) != 3 or not _is_id(data[0]) or not _is_count(data[1]) or not _is_count(data[2]):
            raise InvalidInput("malformed form")
        return FormToken(data[0], data[1], data[2])

    def read_signup(self, token: str) -> SignupToken:
        data = _load(self._signup, token, _SIGNUP_MAX_AGE)
        if (len(data) != 3 or type(data[0]) is not str or type(data[1]) is not str
                or type(data[2]) is not list or not all(type(k) is str for k in data[2])):
            raise InvalidInput("malformed confirmation link")
        return SignupToken(data[0], data[1], tuple(data[2]))


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # itsdangerous' compact JSON


def _mac(key: bytes) -> hmac.HMAC:
    # Keyed once; each token copies it (the key pads are not hashed again).
    return hmac.new(key, digestmod=hashlib.sha256)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@functools.lru_cache(maxsize=4096)
def _json_text(text: str) -> str:
    # A paper id recurs in three links of a digest, and in every digest of the batch.
    return _JSON.encode(text)


def _json_value(value: Any) -> str:
    if type(value) is int:  # not a bool: JSON writes those as true/false
        return str(value)
    if value is None:
        return "null"
    if type(value) is str:
        return _json_text(value)
    return _JSON.encode(value)


def _payload(data: list[Any]) -> bytes:
    # What URLSafeSerializer.dump_payload writes (the same JSON text as _JSON.encode(data)),
    # minus its zlib attempt, which is never shorter for a few ids.
    return _b64(f"[{','.join(map(_json_value, data))}]".encode())


def _signed(key: hmac.HMAC, payload: bytes, stamp: bytes | None) -> str:
    value = payload if stamp is None else payload + b"." + stamp
    mac = key.copy()
    mac.update(value)
    return (value + b"." + _b64(mac.digest())).decode("ascii")


def _is_id(value: Any) -> bool:
    # type() rather than isinstance(): JSON true is a bool, and bool is an int subclass.
    return type(value) is int and 0 < value <= _MAX_ID


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= _MAX_ID


def _opt_id(value: Any) -> bool:
    return value is None or _is_id(value)


def _is_paper(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 64  # papers.id is VARCHAR(64)


def _id(value: int) -> int:
    if not _is_id(value):
        raise InvalidInput(f"not a valid id: {value!r}")
    return value


def _count(value: int) -> int:
    if not _is_count(value):
        raise InvalidInput(f"not a valid counter: {value!r}")
    return value


def _canonical(token: str) -> bool:
    """Each dot-separated part is unpadded base64url whose unused low bits are zero.

    base64 decoders ignore ``=`` padding and the spare bits of the last character, so without this
    check ``tok``, ``tok=`` and ``toK`` (same decoded bytes) would all verify.
    """
    if not token or len(token) > 4096:
        return False
    for part in token.split("."):
        if not _B64.fullmatch(part) or len(part) % 4 == 1:
            return False
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        if _b64(raw).decode("ascii") != part:
            return False
    return True


def _load(serializer: URLSafeSerializer | URLSafeTimedSerializer, token: str, max_age: int | None
          ) -> list[Any]:
    if not _canonical(token):
        raise InvalidInput("this link is invalid or tampered")
    try:
        if isinstance(serializer, URLSafeTimedSerializer):
            data = serializer.loads(token, max_age=max_age)
        else:
            data = serializer.loads(token)
    except BadData as exc:
        # SignatureExpired is a BadData too; say which, without echoing the token.
        reason = "expired" if type(exc).__name__ == "SignatureExpired" else "invalid or tampered"
        raise InvalidInput(f"this link is {reason}") from None
    if not isinstance(data, list):
        raise InvalidInput("malformed link")
    return data
