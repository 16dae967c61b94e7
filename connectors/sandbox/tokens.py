"""Bearer tokens: static (private-app style) ones and OAuth access tokens from a refresh token.

Rate-limit keys never contain a token: static tokens are labelled ``token-1``, ``token-2``
…; OAuth tokens are counted per client (an app's quota does not reset when it refreshes).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key quotas are counted under, and whether it is an OAuth token."""

    rate_key: str
    oauth: bool


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """Why a bearer token was refused: ``missing``, ``invalid`` or ``expired``."""

    reason: str
    expired_at: float = 0.0


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token handed out by the token endpoint."""

    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class OAuthFailure:
    """Why a token request was refused: ``client``, ``secret``, ``refresh_token`` or ``grant``."""

    reason: str


class TokenRegistry:
    """Validates bearer tokens and issues/revokes OAuth tokens."""

    def __init__(
        self,
        static_tokens: Sequence[str],
        client_id: str,
        client_secret: str,
        refresh_token: str,
        ttl: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._static = {token: f"token-{i + 1}" for i, token in enumerate(static_tokens)}
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_tokens = {refresh_token}
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._issued: dict[str, float] = {}  # access token -> expiry (epoch s)
        self._revoked: set[str] = set()  # tokens an admin revoked (until restored)

    def authenticate(self, header: str | None) -> Principal | AuthFailure:
        """Check an ``Authorization`` header value."""
        if not header:
            return AuthFailure("missing")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return AuthFailure("invalid")
        with self._lock:
            if token in self._revoked:
                return AuthFailure("invalid")
        label = self._static.get(token)
        if label is not None:
            return Principal(label, oauth=False)
        with self._lock:
            expiry = self._issued.get(token)
        if expiry is None:
            return AuthFailure("invalid")
        if self._clock() >= expiry:
            return AuthFailure("expired", expiry)
        return Principal(f"oauth:{self.client_id}", oauth=True)

    def refresh(
        self, client_id: str | None, client_secret: str | None, refresh_token: str | None
    ) -> IssuedToken | OAuthFailure:
        """The refresh-token grant."""
        if client_id != self.client_id:
            return OAuthFailure("client")
        if client_secret != self._client_secret:
            return OAuthFailure("secret")
        with self._lock:
            if refresh_token not in self._refresh_tokens:
                return OAuthFailure("refresh_token")
            token = "sandbox-oauth-" + secrets.token_urlsafe(24)
            self._issued[token] = self._clock() + self.ttl
        return IssuedToken(token, str(refresh_token), self.ttl)

    def issue(self, prefix: str = "sandbox-oauth-") -> str:
        """A new access token (grants without a refresh token: JWT, client credentials, …)."""
        with self._lock:
            token = prefix + secrets.token_urlsafe(24)
            self._issued[token] = self._clock() + self.ttl
        return token

    def revoke_refresh_token(self, refresh_token: str) -> bool:
        """Revoke a refresh token (the app was uninstalled); False if it was unknown."""
        with self._lock:
            if refresh_token in self._refresh_tokens:
                self._refresh_tokens.discard(refresh_token)
                return True
            return False

    def knows_refresh_token(self, refresh_token: str) -> bool:
        """Whether a refresh token is currently valid."""
        with self._lock:
            return refresh_token in self._refresh_tokens

    def expires_in(self, access_token: str) -> int | None:
        """Seconds an issued access token has left (negative once expired); None if unknown."""
        with self._lock:
            expiry = self._issued.get(access_token)
        return None if expiry is None else int(expiry - self._clock())

    def revoke(self, token: str) -> None:
        """Refuse ``token`` (a private app's token rotated or revoked) until :meth:`restore`."""
        with self._lock:
            self._revoked.add(token)

    def restore(self, token: str) -> bool:
        """Accept a revoked token again; False if it was not revoked."""
        with self._lock:
            if token not in self._revoked:
                return False
            self._revoked.discard(token)
            return True

    def expire_all(self) -> int:
        """Make every issued access token expire now (demo and test helper)."""
        now = self._clock()
        with self._lock:
            for token in self._issued:
                self._issued[token] = min(self._issued[token], now)
            return len(self._issued)
