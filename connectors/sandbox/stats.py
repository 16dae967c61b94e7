"""Counters behind ``GET /_sandbox/stats``."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any


class Stats:
    """Thread-safe request, rate-limit, fault and write counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.started_at = (
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        self.requests: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.records_written = 0
        self.statuses: Counter[int] = Counter()

    def reset(self) -> None:
        """Start counting afresh."""
        with self._lock:
            self._reset()

    def request(self, template: str) -> None:
        """Count a received request under its path template."""
        with self._lock:
            self.requests[template] += 1

    def status(self, code: int) -> None:
        """Count a response status."""
        with self._lock:
            self.statuses[code] += 1

    def limited(self, policy: str) -> None:
        """Count a real rate-limit refusal."""
        with self._lock:
            self.rate_limited[policy] += 1

    def fault(self, kind: str) -> None:
        """Count an injected fault: 429, 5xx, drop_before, drop_after, slow or reject."""
        with self._lock:
            self.faults[kind] += 1

    def written(self, records: int) -> None:
        """Count records actually changed by API writes."""
        if records:
            with self._lock:
                self.records_written += records

    def snapshot(self) -> dict[str, Any]:
        """The stats document."""
        with self._lock:
            injected = sum(n for kind, n in self.faults.items() if kind != "reject")
            return {
                "requests": dict(self.requests),
                "requests_total": sum(self.requests.values()),
                "rate_limited": sum(self.rate_limited.values()),
                "rate_limited_by_policy": dict(self.rate_limited),
                "faults_injected": injected,
                "faults": dict(self.faults),
                "records_written": self.records_written,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "started_at": self.started_at,
            }
