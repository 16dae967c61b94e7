"""Injected faults: a seeded draw per API request, and a fixed set of records that refuse writes."""

from __future__ import annotations

import hashlib
import random
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

from connectors.sandbox.config import FaultConfig

FaultKind = Literal["429", "5xx", "drop_before", "drop_after", "slow", "daily_limit"]
SCRIPTED_KINDS: tuple[str, ...] = get_args(FaultKind)


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
        # endpoint prefix -> faults the next requests to it get, in order (before any draw)
        self._scripted: dict[str, deque[Fault | None]] = {}

    def set_config(self, config: FaultConfig) -> None:
        """Swap the fault shares at run time (the random stream continues)."""
        with self._lock:
            self.config = config

    def script(self, endpoint: str, kinds: Sequence[str]) -> None:
        """The next ``len(kinds)`` requests to endpoints named ``endpoint`` (or
        ``endpoint.*``) get these faults in order; ``ok`` lets one request through.

        Tests use it to fault one API deterministically (e.g. ``soap.metadata``) while
        the rest of the server behaves.
        """
        faults: list[Fault | None] = []
        for kind in kinds:
            if kind == "ok":
                faults.append(None)
            elif kind in SCRIPTED_KINDS:
                fault_kind = cast(FaultKind, kind)
                faults.append(Fault(fault_kind, 503) if kind == "5xx" else Fault(fault_kind))
            else:
                known = ", ".join([*SCRIPTED_KINDS, "ok"])
                raise ValueError(f"unknown scripted fault {kind!r}; known: {known}")
        with self._lock:
            self._scripted[endpoint] = deque(faults)

    def scripted(self) -> dict[str, list[str]]:
        """What is still scripted, per endpoint."""
        with self._lock:
            return {
                name: [f.kind if f is not None else "ok" for f in queue]
                for name, queue in self._scripted.items()
                if queue
            }

    def draw(self, endpoint: str = "") -> Fault | None:
        """The fault for the next API request, or None."""
        with self._lock:
            for prefix, queue in self._scripted.items():
                if queue and (endpoint == prefix or endpoint.startswith(prefix + ".")):
                    return queue.popleft()
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
