"""Who may use the console: a password from settings, server-side sessions, CSRF tokens.

A session is a random token in an HttpOnly, SameSite=Strict cookie (Secure over
HTTPS); what it stands for lives only in this process. Logging in always starts a new
session (a token planted before login is never promoted: no session fixation). Every
form that changes something carries the session's CSRF token; the login form carries
one bound to a pre-login cookie. Failed logins from one address are throttled.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

SESSION_COOKIE = "segsync_session"
LOGIN_COOKIE = "segsync_login"
IDLE_SECONDS = 8 * 3600
FAILURES_ALLOWED = 5
FAILURE_WINDOW_SECONDS = 300.0


@dataclass
class Session:
    """A logged-in browser."""

    token: str
    csrf: str
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The sessions of one console process (thread-safe)."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def start(self) -> Session:
        """A new session with fresh tokens."""
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            self._sessions[session.token] = session
        return session

    def find(self, token: str | None) -> Session | None:
        """The live session of ``token``; idle ones expire."""
        if not token:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if now - session.seen > self._idle:
                del self._sessions[token]
                return None
            session.seen = now
            return session

    def end(self, token: str | None) -> None:
        """Log out."""
        with self._lock:
            self._sessions.pop(token or "", None)

    def throttled(self, address: str) -> bool:
        """Whether ``address`` failed to log in too often lately."""
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(address)
            while failures and now - failures[0] > FAILURE_WINDOW_SECONDS:
                failures.popleft()
            return failures is not None and len(failures) >= FAILURES_ALLOWED

    def failed(self, address: str) -> None:
        """Count a failed login from ``address``."""
        with self._lock:
            self._failures.setdefault(address, deque(maxlen=FAILURES_ALLOWED)).append(
                time.monotonic()
            )


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison (passwords, CSRF tokens)."""
    return hmac.compare_digest((given or "").encode(), expected.encode())
