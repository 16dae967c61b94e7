"""segsync's settings: environment variables prefixed ``SEGSYNC_``, or a ``.env`` file."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.hubspot import HubSpotConfig
from connectors.retrying import RetryPolicy

HUBSPOT_API = "https://api.hubapi.com"


class Settings(BaseSettings):
    """Every setting segsync reads; secrets are SecretStr and never printed."""

    model_config = SettingsConfigDict(
        env_prefix="SEGSYNC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    hubspot_token: SecretStr | None = Field(
        default=None, description="Private-app token or service key (Bearer)."
    )
    hubspot_base_url: str = Field(
        default=HUBSPOT_API, description="HubSpot API root; point it at the sandbox to demo."
    )
    hubspot_client_id: str | None = None
    hubspot_client_secret: SecretStr | None = None
    hubspot_refresh_token: SecretStr | None = None
    hubspot_requests_per_10s: int = Field(
        default=100, ge=1, description="Burst limit of the HubSpot app (100 Free/Starter)."
    )
    hubspot_search_requests_per_second: int = Field(default=4, ge=1)
    hubspot_daily_budget_share: float = Field(
        default=0.5, gt=0, le=1, description="Largest share of the daily API limit segsync uses."
    )
    hubspot_search_lag_seconds: float = Field(default=15.0, ge=0)

    database_url: str = Field(
        default="sqlite:///.segsync/state.db", description="State store (SQLAlchemy URL)."
    )
    redis_url: str | None = Field(default=None, description="Celery broker and shared limiter.")

    http_connect_timeout: float = Field(default=5.0, gt=0)
    http_read_timeout: float = Field(default=30.0, gt=0)
    http_max_attempts: int = Field(default=8, ge=1)

    @field_validator("hubspot_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def hubspot(self) -> HubSpotConfig:
        """The HubSpot connector's configuration."""
        return HubSpotConfig(
            base_url=self.hubspot_base_url,
            token=self.hubspot_token,
            client_id=self.hubspot_client_id,
            client_secret=self.hubspot_client_secret,
            refresh_token=self.hubspot_refresh_token,
            requests_per_10s=self.hubspot_requests_per_10s,
            search_requests_per_second=self.hubspot_search_requests_per_second,
            daily_budget_share=self.hubspot_daily_budget_share,
            connect_timeout=self.http_connect_timeout,
            read_timeout=self.http_read_timeout,
            search_lag_seconds=self.hubspot_search_lag_seconds,
            retry=RetryPolicy(max_attempts=self.http_max_attempts),
        )
