"""The one way the receiver turns a request down."""

from __future__ import annotations


class Refused(Exception):
    """A request the receiver will not store: answered with ``status`` and counted.

    ``counter`` is the family (``forged``, ``malformed``, ``too_large``, ...) and
    ``reason`` the detail: both are counted, so ``segsync events status`` shows how many
    requests were malformed and why. ``close`` asks for the connection to be closed after
    the answer: set when the request body was not read to the end.
    """

    def __init__(
        self,
        status: int,
        counter: str,
        message: str,
        reason: str | None = None,
        *,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.counter = counter
        self.reason = reason
        self.close = close

    def counts(self) -> dict[str, int]:
        """The counters this refusal bumps."""
        counts = {self.counter: 1}
        if self.reason:
            counts[f"{self.counter}.{self.reason}"] = 1
        return counts
