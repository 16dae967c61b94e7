"""Peak memory of processes: the kernel's high-water mark per process, and a sampler of
whole process trees for benchmarks that run segsync as several processes."""

from __future__ import annotations

import threading
from contextlib import suppress
from pathlib import Path

import psutil


def vm_hwm_mb(pid: int) -> float:
    """The process's peak RSS in MB (VmHWM), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler:
    """Peak RSS of the segsync processes: per process (VmHWM) and all together (sampled).

    Processes are found afresh at every sample: the workers and their pool processes,
    and whatever CLI command is running with its children. The sandbox is never one.
    """

    def __init__(self, roots: list[psutil.Process], interval: float = 0.25) -> None:
        self.roots = roots
        self.interval = interval
        self.peak_total_mb = 0.0
        self.peak_by_pid: dict[int, tuple[str, float]] = {}
        # Since the last reset(), by current RSS: a worker's VmHWM keeps its full sync.
        self.since_reset_mb: dict[int, float] = {}
        self.since_reset_total_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for root in list(self.roots):
            with suppress(psutil.Error):
                found[root.pid] = root
                for child in root.children(recursive=True):
                    found[child.pid] = child
        return list(found.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0.0
            for proc in self.processes():
                with suppress(psutil.Error):
                    rss = proc.memory_info().rss / 2**20
                    total += rss
                    hwm = vm_hwm_mb(proc.pid) or rss
                    name = " ".join(proc.cmdline()[3:6]) or proc.name()
                    _, before = self.peak_by_pid.get(proc.pid, (name, 0.0))
                    self.peak_by_pid[proc.pid] = (name, max(before, hwm))
                    self.since_reset_mb[proc.pid] = max(self.since_reset_mb.get(proc.pid, 0), rss)
            self.peak_total_mb = max(self.peak_total_mb, total)
            self.since_reset_total_mb = max(self.since_reset_total_mb, total)
            self._stop.wait(self.interval)

    def reset(self) -> None:
        """Start the since-reset peaks afresh (a phase of its own)."""
        self.since_reset_mb = {}
        self.since_reset_total_mb = 0.0

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
