"""Configuration of the sandbox CRM: data size, limits, credentials and injected faults."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

Dialect = Literal["hubspot", "salesforce"]
SeedMode = Literal["b2b", "b2c"]
LifecycleBackward = Literal["reject", "ignore"]

# Spec keys as users write them -> FaultConfig attribute names.
_FAULT_KEYS = {
    "429": "rate_429",
    "5xx": "error_5xx",
    "drop": "drop",
    "slow": "slow",
    "reject": "reject",
    "slow_seconds": "slow_seconds",
}


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Share of API requests that get each injected fault.

    ``rate_429``, ``error_5xx``, ``drop`` and ``slow`` are drawn per request (their sum
    is at most 1). ``reject`` is different: it is the share of *records* whose writes
    are refused, chosen deterministically from the seed and the record id.
    """

    rate_429: float = 0.0
    error_5xx: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    reject: float = 0.0
    slow_seconds: float = 3.0

    def __post_init__(self) -> None:
        for name in ("rate_429", "error_5xx", "drop", "slow", "reject"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault share {name}={value} must be between 0 and 1")
        if self.per_request_total > 1.0 + 1e-9:
            raise ValueError("fault shares 429+5xx+drop+slow add up to more than 1")
        if self.slow_seconds < 0:
            raise ValueError("slow_seconds must not be negative")

    @property
    def per_request_total(self) -> float:
        """Share of requests that get some per-request fault."""
        return self.rate_429 + self.error_5xx + self.drop + self.slow

    @classmethod
    def parse(cls, spec: str | float | Mapping[str, Any] | None) -> FaultConfig:
        """Build from ``"0.1"`` (spread evenly over 429, 5xx and drop) or a spec string.

        A spec string looks like ``"429=0.04,5xx=0.03,drop=0.03,slow=0.01,reject=0.01,
        slow_seconds=3"``; a mapping with the same keys (or attribute names) is accepted too.
        """
        if spec is None:
            return cls()
        if isinstance(spec, int | float):
            return cls._even(float(spec))
        if isinstance(spec, Mapping):
            return cls._from_pairs(spec.items())
        text = spec.strip()
        if not text:
            return cls()
        if "=" not in text:
            try:
                return cls._even(float(text))
            except ValueError:
                raise ValueError(
                    f"fault spec {spec!r} is neither a fraction nor k=v pairs"
                ) from None
        pairs = []
        for part in text.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec part {part!r} is not key=value")
            pairs.append((key.strip(), value.strip()))
        return cls._from_pairs(pairs)

    @classmethod
    def _even(cls, fraction: float) -> FaultConfig:
        share = fraction / 3.0
        return cls(rate_429=share, error_5xx=share, drop=share)

    @classmethod
    def _from_pairs(cls, pairs: Any) -> FaultConfig:
        attrs = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for key, raw in pairs:
            name = _FAULT_KEYS.get(str(key), str(key))
            if name not in attrs:
                known = ", ".join(_FAULT_KEYS)
                raise ValueError(f"unknown fault kind {key!r}; known: {known}")
            try:
                values[name] = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"fault {key!r} needs a number, got {raw!r}") from None
        return cls(**values)

    def to_spec(self) -> str:
        """The spec string that parses back to this config."""
        return ",".join(f"{key}={getattr(self, attr):g}" for key, attr in _FAULT_KEYS.items())

    def to_dict(self) -> dict[str, float]:
        """JSON-friendly form keyed like the spec string."""
        return {key: getattr(self, attr) for key, attr in _FAULT_KEYS.items()}


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything a sandbox server needs; defaults mirror a HubSpot Free/Starter account.

    The ``salesforce`` dialect uses ``daily_limit`` as the org's rolling-24 h API
    allocation and ignores ``rate_limit`` and ``search_rate_per_second`` (Salesforce has
    no per-10-second limit). ``oauth_client_id``/``oauth_client_secret`` are the
    connected app's consumer key and secret; ``username``/``password``/``security_token``
    are the integration user's. ``jwt_public_key`` (PEM public key or X.509 certificate)
    enables the JWT bearer flow; ``jwt_preapproved=False`` answers it with "user hasn't
    approved this consumer". ``customize_application=False`` takes the Customize
    Application / Modify Metadata permissions away from the integration user.
    ``instance_url`` is what logins hand out (default: the URL the request came in on).
    Bulk API 2.0 ingest jobs wait ``bulk_latency_seconds`` after UploadComplete, then
    process ``bulk_rows_per_second`` rows per second.
    With ``webhook_url`` set, every change is sent there as a change event (HubSpot
    webhooks signed with ``webhook_secret``, or Salesforce outbound messages naming
    ``org_id``); the ``webhook_*`` shares and delays inject delivery faults (see
    :class:`~WebhookSettings`).
    """

    dialect: Dialect = "hubspot"
    seed: int = 42
    contacts: int = 1000
    companies: int = 200
    deals: int = 300
    leads: int | None = None  # Salesforce: people who are only leads (None: contacts // 4)
    mode: SeedMode = "b2b"
    rate_limit: int = 100  # requests per rolling 10 s, per token
    daily_limit: int = 250_000
    search_rate_per_second: int = 5
    faults: FaultConfig = field(default_factory=FaultConfig)
    host: str = "127.0.0.1"
    port: int = 0
    tokens: tuple[str, ...] = ("sandbox-token",)
    oauth_client_id: str = "sandbox-client"
    oauth_client_secret: str = "sandbox-secret"
    oauth_refresh_token: str = "sandbox-refresh"
    access_token_ttl: int = 1800
    search_index_delay: float = 0.0
    lifecycle_backward: LifecycleBackward = "reject"
    # HubSpot lists the portal may hold (its Marketing Hub tier's limit), and scopes the
    # app was not granted (e.g. ("crm.lists.write",)): calls that need them get 403.
    list_limit: int = 1500
    missing_scopes: tuple[str, ...] = ()
    anchor: datetime | None = None
    username: str = "integration@segsync-sandbox.example"
    password: str = "sandbox-password"
    security_token: str = "sandboxSecurityToken"
    jwt_public_key: str | None = None
    jwt_preapproved: bool = True
    customize_application: bool = True
    instance_url: str | None = None
    bulk_latency_seconds: float = 1.0
    bulk_rows_per_second: float = 5000.0
    # Change events (see ``events``): sent to webhook_url when set, as HubSpot webhooks or
    # Salesforce outbound messages; org_id overrides the Salesforce org's own id in them.
    webhook_url: str | None = None
    webhook_secret: str = "sandbox-app-secret"
    org_id: str | None = None
    webhook_duplicate: float = 0.0
    webhook_reorder: float = 0.0
    webhook_forged: float = 0.0
    webhook_delay_seconds: float = 0.0
    webhook_max_attempts: int = 10
    webhook_retry_seconds: float = 1.0
    webhook_retry_max_seconds: float = 60.0
    webhook_timeout_seconds: float = 5.0
    webhook_linger_seconds: float = 0.05
    webhook_batch_size: int = 100
    webhook_concurrency: int = 4

    @property
    def seeded_leads(self) -> int:
        """How many lead-only people to seed (HubSpot has no Lead object: none)."""
        if self.dialect != "salesforce":
            return 0
        return self.leads if self.leads is not None else self.contacts // 4

    def __post_init__(self) -> None:
        if self.dialect not in ("hubspot", "salesforce"):
            raise ValueError(f"unknown sandbox dialect {self.dialect!r}")
        if self.mode not in ("b2b", "b2c"):
            raise ValueError(f"mode must be 'b2b' or 'b2c', not {self.mode!r}")
        if self.lifecycle_backward not in ("reject", "ignore"):
            raise ValueError("lifecycle_backward must be 'reject' or 'ignore'")
        for name in ("contacts", "companies", "deals"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.leads is not None and self.leads < 0:
            raise ValueError("leads must not be negative")
        for name in ("rate_limit", "daily_limit", "search_rate_per_second", "access_token_ttl"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.search_index_delay < 0:
            raise ValueError("search_index_delay must not be negative")
        if self.bulk_latency_seconds < 0 or self.bulk_rows_per_second <= 0:
            raise ValueError("bulk_latency_seconds must be >= 0 and bulk_rows_per_second > 0")
        if not isinstance(self.tokens, tuple):
            object.__setattr__(self, "tokens", tuple(self.tokens))
        if self.org_id is not None and len(self.org_id) != 18:
            raise ValueError("org_id must be an 18-character Salesforce id")
        if self.webhook_concurrency < 1:
            raise ValueError("webhook_concurrency must be at least 1")
        WebhookSettings.from_config(self)  # raises on bad webhook_* values


MAX_EVENT_BATCH = 100  # HubSpot and Salesforce both put at most 100 events in one request
_SHARES = ("duplicate", "reorder", "forged")
_SECONDS = (
    "delay_seconds",
    "retry_seconds",
    "retry_max_seconds",
    "timeout_seconds",
    "linger_seconds",
)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where change events go, how they are signed, and how delivery misbehaves.

    ``duplicate``: share of events sent twice (the copy in the same or a later batch).
    ``reorder``: share of events moved (earlier in their batch, or into a later batch).
    ``forged``: share of batches that are also sent as a forged copy (never retried).
    ``delay_seconds``: each request waits a random 0..delay_seconds before it is sent.
    Retries wait ``retry_seconds`` doubling per attempt up to ``retry_max_seconds`` (with
    jitter); a request counts as failed after ``timeout_seconds`` without an answer.
    """

    url: str | None = None
    secret: str = "sandbox-app-secret"
    duplicate: float = 0.0
    reorder: float = 0.0
    forged: float = 0.0
    delay_seconds: float = 0.0
    max_attempts: int = 10
    retry_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    timeout_seconds: float = 5.0
    linger_seconds: float = 0.05
    batch_size: int = MAX_EVENT_BATCH

    def __post_init__(self) -> None:
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s)://…, not {self.url!r}")
        for name in _SHARES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"webhook {name} must be between 0 and 1")
        for name in _SECONDS:
            if getattr(self, name) < 0:
                raise ValueError(f"webhook {name} must not be negative")
        if self.timeout_seconds <= 0:
            raise ValueError("webhook timeout_seconds must be positive")
        if not 1 <= self.max_attempts <= 100:
            raise ValueError("webhook max_attempts must be between 1 and 100")
        if not 1 <= self.batch_size <= MAX_EVENT_BATCH:
            raise ValueError(f"webhook batch_size must be between 1 and {MAX_EVENT_BATCH}")

    @classmethod
    def from_config(cls, config: SandboxConfig) -> WebhookSettings:
        """The settings a sandbox starts with."""
        return cls(
            url=config.webhook_url,
            secret=config.webhook_secret,
            duplicate=config.webhook_duplicate,
            reorder=config.webhook_reorder,
            forged=config.webhook_forged,
            delay_seconds=config.webhook_delay_seconds,
            max_attempts=config.webhook_max_attempts,
            retry_seconds=config.webhook_retry_seconds,
            retry_max_seconds=config.webhook_retry_max_seconds,
            timeout_seconds=config.webhook_timeout_seconds,
            linger_seconds=config.webhook_linger_seconds,
            batch_size=config.webhook_batch_size,
        )

    def updated(self, changes: Mapping[str, Any]) -> WebhookSettings:
        """A copy with some settings changed (ValueError on unknown keys or bad values)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for key, raw in changes.items():
            if key not in known:
                raise ValueError(f"unknown webhook setting {key!r}; known: {', '.join(known)}")
            if key == "url":
                if raw is not None and not isinstance(raw, str):
                    raise ValueError("url must be a string or null")
                values[key] = raw or None
            elif key == "secret":
                if not isinstance(raw, str) or not raw:
                    raise ValueError("secret must be a non-empty string")
                values[key] = raw
            elif key in ("max_attempts", "batch_size"):
                if not isinstance(raw, int) or isinstance(raw, bool):
                    raise ValueError(f"{key} must be an integer")
                values[key] = raw
            else:
                if not isinstance(raw, int | float) or isinstance(raw, bool):
                    raise ValueError(f"{key} must be a number")
                values[key] = float(raw)
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; the secret itself is never shown."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del out["secret"]
        out["secret_set"] = bool(self.secret)
        return out
