"""Injected faults: a seeded draw per API request, and a fixed set of records that refuse writes."""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from typing import Literal

from .config import FaultConfig

FaultKind = Literal["429", "5xx", "drop_before", "drop_after", "slow"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault; ``status`` is set for 5xx faults (502, 503 or 504)."""

    kind: FaultKind
    status: int = 0


class FaultInjector:
    """Decides, per request, whether and how to misbehave; thread-safe and reproducible."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}:faults")
        self.config = config

    def set_config(self, config: FaultConfig) -> None:
        """Swap the fault shares at run time (the random stream continues)."""
        with self._lock:
            self.config = config

    def draw(self) -> Fault | None:
        """The fault for the next API request, or None."""
        with self._lock:
            cfg = self.config
            if cfg.per_request_total <= 0:
                return None
            u = self._rng.random()
            if u < cfg.rate_429:
                return Fault("429")
            u -= cfg.rate_429
            if u < cfg.error_5xx:
                return Fault("5xx", (502, 503, 504)[self._rng.randrange(3)])
            u -= cfg.error_5xx
            if u < cfg.drop:
                # Half the drops happen after the request was applied: the client cannot
                # tell whether its write landed and must be idempotent.
                return Fault("drop_before" if self._rng.random() < 0.5 else "drop_after")
            u -= cfg.drop
            if u < cfg.slow:
                return Fault("slow")
            return None

    def rejects(self, object_type: str, record_id: int | str) -> bool:
        """Whether writes to this record are refused (deterministic in seed and id)."""
        share = self.config.reject
        if share <= 0:
            return False
        digest = hashlib.blake2b(
            f"{self._seed}:{object_type}:{record_id}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2**64 < share
