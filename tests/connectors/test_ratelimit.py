"""The client-side limiter never lets more than N calls into any rolling window."""

from __future__ import annotations

import threading

import pytest

from connectors.ratelimit import RollingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_any_window(stamps: list[float], window: float) -> int:
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_burst_then_paced_never_exceeds_limit_in_any_rolling_window() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(100, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(1000):
        limiter.acquire()
        stamps.append(clock.now)
    assert max_in_any_window(stamps, 10.0) == 100
    # It uses the whole allowance: 1000 calls at 100 per 10 s take 90 s (first 100 at once).
    assert stamps[-1] == pytest.approx(90.0)


def test_lowering_the_limit_takes_effect_for_the_next_calls() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(10, 1.0, margin=0.0, clock=clock, sleep=clock.sleep)
    limiter.set_limit(2)
    stamps = []
    for _ in range(6):
        limiter.acquire()
        stamps.append(clock.now)
    assert max_in_any_window(stamps, 1.0) == 2


def test_threads_share_one_allowance() -> None:
    import time

    # Each call's grant time as the limiter saw it: a time taken after acquire() returns
    # lags by however long the thread then waits for the CPU (21 "in a window" on a
    # loaded machine, with the limiter right).
    seen: dict[int, float] = {}

    def clock() -> float:
        seen[threading.get_ident()] = now = time.monotonic()
        return now

    limiter = RollingWindowLimiter(20, 0.5, margin=0.0, clock=clock)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(15):
            limiter.acquire()
            with lock:
                stamps.append(seen[threading.get_ident()])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 60
    assert max_in_any_window(stamps, 0.5) <= 20
