"""HubSpot credentials: a static bearer token, or OAuth 2 with a refresh token.

Both hand the connector an access token on demand. The OAuth provider refreshes the
access token shortly before it expires and reports a revoked refresh token as an
:class:`AuthError` at once — retrying a refresh HubSpot has refused cannot succeed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import requests
from hubspot import HubSpot
from pydantic import SecretStr
from urllib3.exceptions import HTTPError as Urllib3Error

from connectors.base import AuthError, TransientError
from connectors.hubspot.errors import HubSpotError
from connectors.hubspot.sdk_session import use_session


class TokenProvider(Protocol):
    """Supplies the bearer token for the next request."""

    def access_token(self) -> str:
        """A token valid for at least the next request."""
        ...

    def invalidate(self) -> bool:
        """Forget the current token after a 401; True when a fresh one can be obtained."""
        ...


class StaticToken:
    """A private-app token or service key: nothing to refresh."""

    def __init__(self, token: SecretStr) -> None:
        if not token.get_secret_value().strip():
            raise AuthError("the HubSpot token is empty: set SEGSYNC_HUBSPOT_TOKEN")
        self._token = token

    def access_token(self) -> str:
        return self._token.get_secret_value()

    def invalidate(self) -> bool:
        return False


class OAuthRefreshToken:
    """OAuth 2 refresh-token flow (``POST /oauth/v1/token``), refreshed ahead of expiry."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        timeout: tuple[float, float] = (5.0, 30.0),
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        missing = [
            name
            for name, value in (
                ("SEGSYNC_HUBSPOT_CLIENT_ID", client_id),
                ("SEGSYNC_HUBSPOT_CLIENT_SECRET", client_secret.get_secret_value()),
                ("SEGSYNC_HUBSPOT_REFRESH_TOKEN", refresh_token.get_secret_value()),
            )
            if not value
        ]
        if missing:
            raise AuthError(f"HubSpot OAuth needs {', '.join(missing)}")
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._timeout = timeout
        self._margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: SecretStr | None = None
        self._refresh_at = 0.0
        client = HubSpot(host=base_url.rstrip("/"))
        self._tokens_api = use_session(client.oauth.tokens_api, session or requests.Session())

    def access_token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._refresh()
            assert self._token is not None
            return self._token.get_secret_value()

    def invalidate(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def _refresh(self) -> None:
        try:
            answer = self._tokens_api.create(
                grant_type="refresh_token",
                client_id=self._client_id,
                client_secret=self._client_secret.get_secret_value(),
                refresh_token=self._refresh_token.get_secret_value(),
                _request_timeout=self._timeout,
            )
        except (requests.RequestException, Urllib3Error) as exc:
            raise TransientError(
                f"cannot reach HubSpot's OAuth endpoint: {type(exc).__name__}"
            ) from None
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status is None:
                raise
            raise _refresh_error(status, getattr(exc, "body", None)) from None
        self._token = SecretStr(answer.access_token)
        lifetime = float(answer.expires_in or 0)
        # Refresh ahead of expiry, but never so early that a short-lived token is
        # refreshed before every call.
        self._refresh_at = self._clock() + lifetime - min(self._margin, lifetime / 10)
        if answer.refresh_token:
            # HubSpot may rotate the refresh token; keep using the newest one.
            self._refresh_token = SecretStr(answer.refresh_token)


def _refresh_error(status: int, body: object) -> Exception:
    error = HubSpotError.parse(status, body)
    detail = f"{error.category}: {error.message}" if error.category else error.message
    if status == 0 or status >= 500 or status == 429:
        return TransientError(f"HubSpot's OAuth endpoint failed ({status}); will retry")
    return AuthError(
        f"HubSpot refused to refresh the access token ({status} {detail}). The refresh token "
        "was revoked or is wrong, or the client id/secret do not match: re-authorize the app "
        "and update SEGSYNC_HUBSPOT_REFRESH_TOKEN."
    )
