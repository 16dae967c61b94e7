"""Progress of long work — reads, writes, schema changes — on a terminal (tqdm).

The work reports steps to whatever reporter the command set for it (``advance``); the
default reports nothing, so Celery tasks, tests, JSON output and piped runs print
nothing extra. A command a person waits for at a terminal turns it on with
:func:`on_terminal`.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Reporter(Protocol):
    """Where steps go."""

    def advance(self, label: str, n: int, total: int | None, unit: str) -> None: ...

    def close(self) -> None: ...


class _Bars:
    """One tqdm bar per label, on stderr; a new label ends the previous bar."""

    def __init__(self) -> None:
        self._label: str | None = None
        self._bar: Any = None

    def advance(self, label: str, n: int, total: int | None, unit: str) -> None:
        from tqdm import tqdm

        if label != self._label:
            self.close()
            self._label = label
            self._bar = tqdm(
                total=total,
                desc=label,
                unit=f" {unit}",
                unit_scale=False,  # exact counts
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
                mininterval=0.5,
            )
        self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._label = None, None


_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "segsync_progress", default=None
)


def advance(label: str, n: int, total: int | None = None, unit: str = "records") -> None:
    """``n`` more steps of the work called ``label`` (of ``total``, when known)."""
    reporter = _reporter.get()
    if reporter is not None:
        reporter.advance(label, n, total, unit)


@contextmanager
def on_terminal(enabled: bool = True) -> Iterator[None]:
    """Show progress bars in this block when stderr is a terminal and ``enabled``."""
    if not (enabled and sys.stderr.isatty()):
        yield
        return
    bars = _Bars()
    token = _reporter.set(bars)
    try:
        yield
    finally:
        bars.close()
        _reporter.reset(token)
