"""The receiver as `segsync webhooks serve` runs it (real uvicorn, real sockets, a subprocess):
memory under big posts, slow clients, body timeouts."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from tests.workers.receiver.support import MIB, ORG, SECRET, SF_TOKEN, event

# --- the real server: memory, slow clients, timeouts ----------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def start_server(directory: Path, nofile: int | None = None, **settings: str) -> Server:
    """`segsync webhooks serve` on a free port, once it answers /healthz."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    env.update(
        SEGSYNC_DATABASE_URL=f"sqlite:///{directory}/state.db",
        SEGSYNC_HUBSPOT_APP_SECRET=SECRET,
        SEGSYNC_SALESFORCE_ORG_ID=ORG,
        SEGSYNC_SALESFORCE_OUTBOUND_SECRET=SF_TOKEN,
        **{f"SEGSYNC_{k.upper()}": v for k, v in settings.items()},
    )

    def limit_descriptors() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    segsync = Path(sys.executable).parent / "segsync"
    process = subprocess.Popen(
        [str(segsync), "webhooks", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=directory,
        preexec_fn=limit_descriptors,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"listening on http://([\d.]+):(\d+)", line)
    if not found:
        process.kill()
        raise AssertionError(line + (process.stderr.read() if process.stderr else ""))
    server = Server(process, found.group(1), int(found.group(2)))
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    return server


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(nofile: int | None = None, **settings: str) -> Server:
        started.append(start_server(tmp_path, nofile, **settings))
        return started[-1]

    yield start
    for server in started:
        stop(server)


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A receiver with the default limits (4 MiB a body, 1 MiB in memory, 64 MiB on disk)."""
    server = start_server(tmp_path_factory.mktemp("receiver"))
    warm = json.dumps([event(1)]).encode()
    requests.post(f"{server.url}/webhooks/hubspot", data=warm, timeout=10)  # lazy imports
    yield server
    stop(server)


def big_post(server: Server, total: int, *, chunked: bool, signed: bool) -> int | None:
    """POST ``total`` bytes of body; the status the server answered (None: no answer)."""
    headers = [
        "POST /webhooks/hubspot HTTP/1.1",
        f"Host: {server.host}:{server.port}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}",
    ]
    if signed:  # fresh and well-formed, but not a valid signature: read, then refused
        headers += [
            f"X-HubSpot-Request-Timestamp: {int(time.time() * 1000)}",
            "X-HubSpot-Signature-v3: bm90IGEgc2lnbmF0dXJl",
        ]
    piece = b"[" + b" " * (64 * 1024 - 2) + b"]"
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        sent = 0
        try:
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
                sock.sendall(data)
                sent += len(piece)
            if chunked and sent >= total:
                sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server closed its side: its answer may still be there
            pass
        try:
            answer = sock.recv(4096)
        except OSError:
            return None
    found = re.match(rb"HTTP/1.1 (\d{3})", answer)
    return int(found.group(1)) if found else None


class PeakMemory:
    """The largest RSS of a process while in use (sampled every millisecond)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.baseline = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.001)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / MIB


@pytest.mark.parametrize(
    ("chunked", "signed", "answers", "bound_mb"),
    [
        (False, False, {413}, 4),  # Content-Length says 50 MB: refused before reading
        (True, False, {401}, 4),  # no signature: refused before reading
        # Looks signed: read until over the limit (4 MiB), beyond 1 MiB in all to disk.
        (True, True, {413}, 6),
    ],
    ids=["declared", "chunked-unsigned", "chunked-signed-looking"],
)
def test_eight_concurrent_50_mb_posts_are_refused_without_the_memory(
    default_server: Server, chunked: bool, signed: bool, answers: set[int], bound_mb: float
) -> None:
    server = default_server
    with PeakMemory(server.process.pid) as memory, ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda _: big_post(server, 50 * 1000 * 1000, chunked=chunked, signed=signed),
                range(8),
            )
        )
    print(f"RSS growth {memory.growth_mb:.1f} MB; answers {statuses}")
    assert set(statuses) <= answers, statuses
    assert memory.growth_mb < bound_mb
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_1100_slow_clients_do_not_stop_healthz(serve: Callable[..., Server]) -> None:
    # ulimit -n 1024, as in the report; the connection limit is fitted under it.
    server = serve(nofile=1024, webhook_header_timeout_seconds="2")
    slow: list[socket.socket] = []
    try:
        for _ in range(1100):
            sock = socket.create_connection((server.host, server.port), timeout=10)
            sock.sendall(b"POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        latencies = []
        for _ in range(4):
            for sock in slow[::50]:  # trickle: a header byte now and then
                with contextlib.suppress(OSError):
                    sock.send(b"X")
            started = time.monotonic()
            answer = requests.get(f"{server.url}/healthz", timeout=3)
            latencies.append(time.monotonic() - started)
            assert answer.status_code == 200
            time.sleep(0.25)
        print(f"/healthz latencies under 1,100 slow clients: {latencies}")
        assert max(latencies) < 2
        # The slow ones do not stay: past the header timeout they are closed (408).
        time.sleep(2.5)
        sock = slow[-1]
        sock.settimeout(2)
        assert sock.recv(100).startswith(b"HTTP/1.1 408")
    finally:
        for sock in slow:
            sock.close()


def test_a_body_that_stops_arriving_gets_408(serve: Callable[..., Server]) -> None:
    server = serve(webhook_body_timeout_seconds="1")
    head = (
        "POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
        f"X-HubSpot-Request-Timestamp: {int(time.time() * 1000)}\r\n"
        "X-HubSpot-Signature-v3: c2ln\r\n\r\n["
    )
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        answer = sock.recv(100)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 3
