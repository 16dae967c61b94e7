"""Instruments the deployment tests watch through: a log of the sandbox's API writes, a
private Redis to kill and restart, free ports."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from connectors.sandbox import SandboxServer


@dataclass(frozen=True, slots=True)
class ApiWrite:
    """One API write the sandbox applied to one record: per property (stored before, sent)."""

    at: float  # time.time() when the sandbox applied it
    object_type: str
    record_id: str
    values: dict[str, tuple[Any, Any]]

    @property
    def by_segsync(self) -> bool:
        """segsync's writes always carry its ``updated_at``; a rep's never do."""
        return any(name.startswith("segsync_") for name in self.values)

    def unchanged(self) -> list[str]:
        """Properties sent with the value the record already held."""
        return [name for name, (before, sent) in self.values.items() if before == sent]


class WriteLog:
    """Every API write the in-process sandbox applies, with the values it replaced; and
    every other change (simulated users, calculated properties) in ``others``.

    The sandbox makes writing an unchanged value a silent no-op (no change counted, no
    event), so only a record of what was *sent* can show one; this wraps each table's
    ``update`` (called with the store lock held, so each list stays in change order).
    """

    def __init__(self, server: SandboxServer) -> None:
        self.writes: list[ApiWrite] = []
        self.others: list[ApiWrite] = []
        for table in server.state.store.tables.values():
            table.update = self._wrap(table)  # type: ignore[method-assign]

    def _wrap(self, table: Any) -> Callable[..., list[str]]:
        original = table.update

        def update(
            row: int, values: Any, now_ms: int, *, via_api: bool, index_delay: float = 0.0
        ) -> list[str]:
            before = {name: table.cols[name][row] for name in values}
            changed: list[str] = original(
                row, values, now_ms, via_api=via_api, index_delay=index_delay
            )
            names = values if via_api else changed
            if names:
                (self.writes if via_api else self.others).append(
                    ApiWrite(
                        time.time(),
                        table.object_type,
                        str(table.ids[row]),
                        {name: (before[name], values[name]) for name in names},
                    )
                )
            return changed

        return update

    def mark(self) -> int:
        return len(self.writes)

    def segsync_since(self, mark: int) -> list[ApiWrite]:
        return [w for w in self.writes[mark:] if w.by_segsync]


class PrivateRedis:
    """A redis-server of this test's own (no persistence), which it may stop and restart."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        log = (self.tmp / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=1)
        while True:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.RedisError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on {self.port} did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """kill -9: connections drop, everything it held is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
