"""The HubSpot connector's options, and the credentials that follow from them."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from pydantic import SecretStr

from connectors.base import AuthError
from connectors.hubspot.auth import OAuthRefreshToken, StaticToken, TokenProvider
from connectors.retrying import RetryPolicy


@dataclass(frozen=True)
class HubSpotConfig:
    """Everything the connector needs; built from settings by the workers."""

    base_url: str = "https://api.hubapi.com"
    token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    requests_per_10s: int = 100
    search_requests_per_second: int = 4
    daily_budget_share: float = 0.5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    # Search results trail writes by a short, unspecified time; an incremental read
    # never claims completeness closer to "now" than this.
    search_lag_seconds: float = 15.0
    # Extra calls allowed for isolating the bad rows of refused batches, as a share of
    # the batches a write sends (connectors/isolate.py).
    isolate_calls_ratio: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def token_provider(self, session: requests.Session | None = None) -> TokenProvider:
        """The credentials this config describes, or a clear AuthError if none are complete."""
        if self.refresh_token is not None and self.refresh_token.get_secret_value():
            return OAuthRefreshToken(
                base_url=self.base_url,
                client_id=self.client_id or "",
                client_secret=self.client_secret or SecretStr(""),
                refresh_token=self.refresh_token,
                timeout=(self.connect_timeout, self.read_timeout),
                session=session,
            )
        if self.token is None or not self.token.get_secret_value():
            raise AuthError(
                "no HubSpot credentials: set SEGSYNC_HUBSPOT_TOKEN (private app token or service "
                "key), or SEGSYNC_HUBSPOT_CLIENT_ID, SEGSYNC_HUBSPOT_CLIENT_SECRET and "
                "SEGSYNC_HUBSPOT_REFRESH_TOKEN for OAuth"
            )
        return StaticToken(self.token)
