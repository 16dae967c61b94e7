"""The dialect-neutral state one sandbox server shares between its request threads."""

from __future__ import annotations

import time
from dataclasses import dataclass

from connectors.sandbox.config import SandboxConfig
from connectors.sandbox.faults import FaultInjector
from connectors.sandbox.quotas import RateLimiter
from connectors.sandbox.search import SearchEngine
from connectors.sandbox.stats import Stats
from connectors.sandbox.store import Store
from connectors.sandbox.tokens import TokenRegistry


@dataclass(slots=True)
class SandboxState:
    """Records, quotas, credentials, faults and counters of one server."""

    config: SandboxConfig
    store: Store
    stats: Stats
    limiter: RateLimiter
    faults: FaultInjector
    tokens: TokenRegistry
    search: SearchEngine

    @classmethod
    def create(cls, config: SandboxConfig) -> SandboxState:
        """Fresh state for a config (tables are added by the dialect when it loads the seed)."""
        return cls(
            config=config,
            store=Store(),
            stats=Stats(),
            limiter=RateLimiter(
                config.rate_limit,
                config.daily_limit,
                config.search_rate_per_second,
                # Salesforce: no per-10-second window, a rolling-24 h org allocation.
                window=config.dialect == "hubspot",
                rolling_day=config.dialect == "salesforce",
            ),
            faults=FaultInjector(config.faults, config.seed),
            tokens=TokenRegistry(
                config.tokens,
                config.oauth_client_id,
                config.oauth_client_secret,
                config.oauth_refresh_token,
                config.access_token_ttl,
            ),
            search=SearchEngine(),
        )

    @staticmethod
    def now_ms() -> int:
        """Wall-clock now in epoch ms (modification times of API writes)."""
        return int(time.time() * 1000)
