"""segsync's settings: environment variables prefixed ``SEGSYNC_``, or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.hubspot.options import HubSpotConfig
from connectors.retrying import RetryPolicy
from connectors.salesforce.connector import SalesforceConfig
from connectors.salesforce.session import SalesforceAuth

HUBSPOT_API = "https://api.hubapi.com"
MIB = 1024 * 1024
ScheduleKind = Literal["incremental", "full", "reconcile", "clv_refit"]
# Characters that stand in a URL's query unescaped: the secret is pasted into one.
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


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
    hubspot_isolate_calls_ratio: float = Field(
        default=1.0,
        ge=0,
        le=20,
        description="Extra batch calls allowed for isolating rejected rows, as a share of a "
        "write's clean batch calls; rows left unisolated are dead-lettered as deferred.",
    )
    hubspot_app_secret: SecretStr | None = Field(
        default=None, description="The HubSpot app's client secret: verifies webhook signatures."
    )

    salesforce_instance_url: str | None = Field(
        default=None, description="https://<my-domain>.my.salesforce.com, or the sandbox's URL."
    )
    salesforce_domain: str = Field(default="login", description="login, test or <my-domain>.my")
    salesforce_session_id: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_consumer_key: str | None = None
    salesforce_consumer_secret: SecretStr | None = None
    salesforce_private_key: SecretStr | None = Field(
        default=None, description="PEM private key for the JWT bearer flow."
    )
    salesforce_private_key_file: str | None = None
    salesforce_api_version: str = "59.0"
    salesforce_daily_budget_share: float = Field(default=0.5, gt=0, le=1)
    salesforce_requests_per_10s: int = Field(
        default=250,
        ge=1,
        description="Pace shared by all workers (Salesforce counts per day, not per 10 s; "
        "this keeps a burst of workers from spending the day's budget at once).",
    )
    salesforce_bulk_threshold: int = Field(
        default=2000, ge=1, description="Writes above this many records use Bulk API 2.0."
    )
    salesforce_lag_seconds: float = Field(default=5.0, ge=0)
    salesforce_campaign_member_status: str | None = Field(
        default=None,
        max_length=40,
        description="Status of the members segsync adds to its campaigns (default: the "
        "campaign's default status, Sent on a new campaign).",
    )
    salesforce_org_id: str | None = Field(
        default=None, description="Organization id outbound messages must carry (15 or 18 chars)."
    )
    salesforce_outbound_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret outbound messages carry in the endpoint URL (?token=...).",
    )
    salesforce_outbound_allow_ips: str = Field(
        default="", description="Addresses or CIDRs outbound messages may come from (empty: any)."
    )

    webhook_max_body_bytes: int = Field(
        default=4 * MIB, ge=1024, le=256 * MIB, description="Largest request body accepted."
    )
    webhook_max_buffered_bytes: int = Field(
        default=1 * MIB,
        ge=1024,
        le=4096 * MIB,
        description="Bytes of request bodies held in memory together (more go to disk).",
    )
    webhook_max_spooled_bytes: int = Field(
        default=64 * MIB,
        ge=1024,
        le=64 * 1024 * MIB,
        description="Bytes of request bodies held on disk together (503 beyond).",
    )
    webhook_max_connections: int = Field(
        default=1000,
        ge=16,
        le=1_000_000,
        description="Open connections (lowered to fit the file-descriptor limit).",
    )
    webhook_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    webhook_body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    webhook_forwarded_allow_ips: str = Field(
        default="",
        description="Proxies whose X-Forwarded-Proto/-Host/-For are believed (empty: none).",
    )

    data_dir: str = Field(
        default=".segsync",
        description="Where segsync keeps files: the default SQLite state store, beat's "
        "schedule, worker metrics. Must be writable.",
    )
    database_url: str = Field(
        default="", description="State store (SQLAlchemy URL); default: SQLite in data_dir."
    )
    metrics_port: int = Field(
        default=9808, ge=0, le=65535, description="A worker's Prometheus /metrics (0: none)."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address /metrics binds to.")
    redis_url: str | None = Field(default=None, description="Celery broker and shared limiter.")

    playbook: str = Field(
        default="b2b_saas", description="Shipped playbook name (b2b_saas, b2c_retail) or a path."
    )
    sync_interval_minutes: int = Field(default=15, ge=1, description="Incremental sync period.")
    full_sync_hour: int = Field(
        default=2, ge=0, le=23, description="Nightly re-segmentation from the mirror (UTC hour)."
    )
    reconcile_weekday: int = Field(
        default=0,
        ge=0,
        le=6,
        description="Weekly reconciliation, a full read of the CRM (0 = Sunday, cron style).",
    )
    clv_refit_weekday: int = Field(
        default=0, ge=0, le=6, description="Weekly CLV refit day (0 = Sunday, cron style)."
    )
    deadletter_retry_minutes: int = Field(default=60, ge=1)
    deadletter_isolate_calls_per_row: float = Field(
        default=0.5,
        ge=0,
        le=5,
        description="A dead-letter retry's allowance for isolating rejected rows, in batch "
        "calls per letter retried (its rows are known to sit in refused batches; once "
        "isolated, permanent rejections cost no call until their record changes).",
    )
    schedules: dict[Literal["hubspot", "salesforce"], dict[ScheduleKind, str]] = Field(
        default={},
        description="Per CRM, cron expressions (UTC) for incremental, full, reconcile and "
        'clv_refit runs (JSON, e.g. {"hubspot": {"incremental": "*/10 8-18 * * 1-5"}}); a '
        "kind without one follows the simple settings.",
    )
    crms: list[Literal["hubspot", "salesforce"]] = Field(
        default=["hubspot"], description="CRMs the beat schedule syncs (JSON list in env)."
    )
    task_visibility_seconds: int = Field(
        default=1800,
        ge=5,
        description="A task a dead worker held is redelivered after this long (Redis broker); "
        "keep it above the longest task (a full pull of a large CRM).",
    )
    events_poll_seconds: int = Field(
        default=120, ge=5, description="Fallback incremental poll catching missed events."
    )
    events_batch_size: int = Field(default=1000, ge=1, description="Events claimed per round.")
    events_keep_done_hours: float = Field(
        default=72,
        ge=1,
        le=24 * 366,
        description="A processed event leaves the inbox after this long (it holds the value "
        "it carried). HubSpot redelivers for at most 24 h; a redelivery after the purge is "
        "processed again, which writes nothing new.",
    )
    events_lease_seconds: float = Field(
        default=300,
        ge=0.5,
        le=86400,
        description="A claimed event's lease, renewed while its round runs; a processor that "
        "died leaves it to any other once it expires.",
    )
    events_retry_seconds: float = Field(
        default=5, gt=0, le=3600, description="First wait after a failed round; doubles."
    )
    events_retry_max_seconds: float = Field(
        default=300, gt=0, le=86400, description="Longest wait between attempts (events, CRM)."
    )
    events_dead_after_seconds: float = Field(
        default=86400,
        gt=0,
        description="An event failing this long is parked as dead (`segsync events retry`); "
        "HubSpot's own retry window is 24 h.",
    )
    events_split_rounds: int = Field(
        default=16,
        ge=0,
        le=1000,
        description="Extra rounds a failed round may spend halving its events to isolate "
        "the ones that fail.",
    )
    write_chunk_size: int = Field(
        default=500, ge=1, description="Records per write task (one task spans several calls)."
    )
    run_stale_seconds: int = Field(
        default=1800,
        ge=10,
        le=7 * 86_400,
        description="A running run whose heartbeat is older than this is reaped as failed "
        "(by the next run or `segsync runs`); a run on this host is reaped as soon as its "
        "process is gone.",
    )
    run_finish_retry_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long a run keeps retrying to record its end while the state store "
        "refuses connections.",
    )

    console_password: SecretStr | None = Field(
        default=None,
        description="Password of `segsync console` (at least 12 characters); unset: no console.",
    )
    # Alerts (workers/alerts/): one notification per change of a condition's status.
    alert_slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming webhook URL (it is the credential)."
    )
    alert_webhook_url: str | None = Field(
        default=None, description="Generic JSON webhook: alerts are POSTed here, signed."
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret of the generic webhook: X-Segsync-Signature carries "
        "t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>.",
    )
    alert_smtp_host: str | None = Field(default=None, description="SMTP server for email alerts.")
    alert_smtp_port: int = Field(default=587, ge=1, le=65535)
    alert_smtp_starttls: bool = Field(default=True, description="Upgrade with STARTTLS first.")
    alert_smtp_ca_file: str | None = Field(
        default=None,
        description="CA bundle the SMTP server's certificate is checked against "
        "(default: the system's).",
    )
    alert_smtp_username: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_email_from: str = Field(default="segsync@localhost", max_length=254)
    alert_email_to: list[str] = Field(
        default=[], description="Recipients of email alerts (JSON list in env)."
    )
    alert_rejected_above: int = Field(
        default=0, ge=0, description="Alert when a run's rejected rows exceed this."
    )
    alert_dead_letters_above: int = Field(
        default=100, ge=0, description="Alert when a CRM's open dead letters exceed this."
    )
    alert_inbox_lag_seconds: float = Field(
        default=600, gt=0, description="Alert when the oldest unprocessed event is older."
    )
    alert_check_seconds: int = Field(
        default=60, ge=5, description="How often the workers check dead letters and the inbox."
    )

    http_connect_timeout: float = Field(default=5.0, gt=0)
    http_read_timeout: float = Field(default=30.0, gt=0)
    http_max_attempts: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_path / 'state.db'}"
        return self

    @property
    def data_path(self) -> Path:
        """``data_dir`` as a path."""
        return Path(self.data_dir)

    @model_validator(mode="after")
    def _retry_bounds(self) -> Settings:
        if self.events_retry_max_seconds < self.events_retry_seconds:
            raise ValueError(
                "SEGSYNC_EVENTS_RETRY_MAX_SECONDS must not be below SEGSYNC_EVENTS_RETRY_SECONDS"
            )
        return self

    @field_validator("schedules")
    @classmethod
    def _cron(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        if value:  # celery is imported only when there is something to parse
            from workers.schedules import check_schedules

            check_schedules(value)
        return value

    @field_validator("console_password")
    @classmethod
    def _console_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 12:
            raise ValueError("must be at least 12 characters (it guards CRM data)")
        return value

    @field_validator("alert_webhook_url")
    @classmethod
    def _alert_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _alert_channels_whole(self) -> Settings:
        if self.alert_webhook_url and self.alert_webhook_secret is None:
            raise ValueError(
                "SEGSYNC_ALERT_WEBHOOK_URL needs SEGSYNC_ALERT_WEBHOOK_SECRET (alerts are signed)"
            )
        if self.alert_smtp_host and not self.alert_email_to:
            raise ValueError("SEGSYNC_ALERT_SMTP_HOST needs SEGSYNC_ALERT_EMAIL_TO (a JSON list)")
        return self

    @field_validator("hubspot_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("salesforce_outbound_secret")
    @classmethod
    def _url_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < 16 or not set(secret) <= _URL_SAFE:
            raise ValueError(
                "must be at least 16 characters of A-Z a-z 0-9 - . _ ~ (it goes into a URL); "
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe())'"
            )
        return value

    @field_validator("salesforce_outbound_allow_ips", "webhook_forwarded_allow_ips")
    @classmethod
    def _address_list(cls, value: str) -> str:
        from workers.receiver.addresses import AddressSet

        AddressSet.parse(value)
        return value

    @model_validator(mode="after")
    def _buffer_fits_a_body(self) -> Settings:
        if self.webhook_max_spooled_bytes < self.webhook_max_body_bytes:
            raise ValueError(
                "SEGSYNC_WEBHOOK_MAX_SPOOLED_BYTES must be at least "
                "SEGSYNC_WEBHOOK_MAX_BODY_BYTES (one whole body)"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # Checked here so a typo is named at start-up, not as a SQLAlchemy traceback later;
        # the URL itself is never repeated (it may hold a password).
        if not value:
            return value  # the default, filled in from data_dir
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        from workers.state import normalize_url

        try:
            url = normalize_url(value)
        except ArgumentError:
            raise ValueError(
                "not a database URL; use sqlite:///path/state.db or "
                "postgresql://user:password@host:5432/dbname"
            ) from None
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r}; use sqlite or postgresql")
        try:
            url.get_dialect().import_dbapi()
        except (NoSuchModuleError, ImportError):
            raise ValueError(
                f"unknown driver {url.drivername!r}; use sqlite:// or postgresql:// "
                "(psycopg 3 is the PostgreSQL driver segsync ships with)"
            ) from None
        return value

    def salesforce(self) -> SalesforceConfig:
        """The Salesforce connector's configuration."""
        return SalesforceConfig(
            auth=SalesforceAuth(
                instance_url=self.salesforce_instance_url,
                domain=self.salesforce_domain,
                session_id=self.salesforce_session_id,
                username=self.salesforce_username,
                password=self.salesforce_password,
                security_token=self.salesforce_security_token,
                consumer_key=self.salesforce_consumer_key,
                consumer_secret=self.salesforce_consumer_secret,
                private_key=self.salesforce_private_key,
                private_key_file=self.salesforce_private_key_file,
            ),
            api_version=self.salesforce_api_version,
            daily_budget_share=self.salesforce_daily_budget_share,
            bulk_threshold=self.salesforce_bulk_threshold,
            connect_timeout=self.http_connect_timeout,
            lag_seconds=self.salesforce_lag_seconds,
            retry=RetryPolicy(max_attempts=self.http_max_attempts),
        )

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
            isolate_calls_ratio=self.hubspot_isolate_calls_ratio,
            retry=RetryPolicy(max_attempts=self.http_max_attempts),
        )
