"""The operator's login: one account in ``<home>/admin-login``, signed session cookies, rate limits.

- The password is hashed with Argon2id (argon2-cffi, its recommended parameters); the file holds
  ``user<TAB>hash`` with mode 0600 and is written atomically. One file, not a table: a lab has one
  operator, and ``admin create-login`` may replace the account without a schema change.
- The session is an itsdangerous-signed cookie (the feedback-link key, its own salt) carrying the
  user, a random CSRF token and the password hash's tail, so replacing the login ends old sessions.
  It is ``HttpOnly``, ``SameSite=Strict`` and ``Secure`` when the base URL is https.
- Failed logins are counted per client address in memory: after ``MAX_FAILURES`` within
  ``WINDOW_SECONDS`` that address gets 429 until the window has passed.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

from paperdigest.core.errors import ConfigError, InvalidInput
from paperdigest.core.files import atomic_write

__all__ = ["LOGIN_FILE", "MAX_FAILURES", "WINDOW_SECONDS", "LoginLimiter", "Session", "SessionCodec",
           "check_login", "create_login", "read_login"]

LOGIN_FILE = "admin-login"
MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
SESSION_HOURS = 12
_SALT = "paperdigest.admin-session"
MIN_PASSWORD = 10


def _hasher() -> object:
    from argon2 import PasswordHasher

    return PasswordHasher()


def create_login(path: Path, user: str, password: str) -> None:
    """Write (or replace) the operator login. Raises :class:`InvalidInput` for a weak password."""
    user = user.strip()
    if not user or any(c.isspace() for c in user) or len(user) > 64:
        raise InvalidInput(f"login name must be 1-64 characters without spaces, got {user!r}")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD} characters")
    digest = _hasher().hash(password)  # type: ignore[attr-defined]
    atomic_write(path, f"{user}\t{digest}\n", mode=0o600)


def read_login(path: Path) -> tuple[str, str] | None:
    """(user, hash) or None when no login was created; raises :class:`ConfigError` if unreadable."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the admin login {path}: {exc.strerror}") from None
    user, sep, digest = text.partition("\t")
    if not sep or not digest.startswith("$argon2"):
        raise ConfigError(f"admin login {path} is malformed: run 'paperdigest admin create-login'")
    return user, digest


def check_login(path: Path, user: str, password: str) -> bool:
    """True when ``user``/``password`` match the stored login (constant-time on the name)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    stored = read_login(path)
    if stored is None:
        return False
    name_ok = hmac.compare_digest(stored[0].encode(), user.strip().encode())
    try:
        # Verify even when the name is wrong, so timing does not reveal which part failed.
        password_ok = bool(_hasher().verify(stored[1], password))  # type: ignore[attr-defined]
    except (VerificationError, InvalidHashError):
        password_ok = False
    return name_ok and password_ok


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str


class SessionCodec:
    """Signs and reads the session cookie value; ``keys`` are the feedback-link keys, newest first."""

    def __init__(self, keys: list[str], max_age_hours: int = SESSION_HOURS) -> None:
        from itsdangerous import URLSafeTimedSerializer

        self._serializer = URLSafeTimedSerializer(list(reversed(keys)), salt=_SALT)
        self.max_age = max_age_hours * 3600

    def dumps(self, user: str, login_hash: str) -> tuple[str, Session]:
        session = Session(user, secrets.token_urlsafe(24))
        value = self._serializer.dumps([session.user, session.csrf, login_hash[-16:]])
        return str(value), session

    def loads(self, value: str, login: tuple[str, str] | None) -> Session | None:
        """The session, or None when the cookie is missing, forged, expired or from an older login."""
        from itsdangerous import BadData

        if not value or login is None:
            return None
        try:
            user, csrf, tail = self._serializer.loads(value, max_age=self.max_age)
        except (BadData, ValueError, TypeError):
            return None
        if user != login[0] or not hmac.compare_digest(str(tail), login[1][-16:]):
            return None
        return Session(str(user), str(csrf))


class LoginLimiter:
    """Failed attempts per client within a sliding window (memory only; a restart forgets them)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures[client]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked_for(self, client: str, now: float | None = None) -> float:
        """Seconds until ``client`` may try again (0 when it may try now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(0.0, self.window - (now - times[0]))

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(client, now).append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
