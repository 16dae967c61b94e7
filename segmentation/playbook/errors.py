"""Playbook errors: every problem carries the file, line and column it is about."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlaybookIssue:
    """One problem in a playbook, at a 1-based ``line``/``column`` of ``path``.

    ``line`` and ``column`` are None only for playbooks built in code rather than
    parsed from text, where there is no position to point at.
    """

    path: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class PlaybookError(ValueError):
    """A playbook that cannot run; ``errors`` lists every problem found, in file order.

    ``path``, ``line``, ``column`` and ``message`` are those of the first problem so
    that the common single-error case reads naturally; ``str(error)`` lists them all,
    one ``file:line:col: message`` per line.
    """

    def __init__(self, errors: Sequence[PlaybookIssue]) -> None:
        if not errors:
            raise ValueError("PlaybookError needs at least one issue")
        self.errors: list[PlaybookIssue] = sorted(
            errors, key=lambda e: (e.path, e.line or 0, e.column or 0)
        )
        first = self.errors[0]
        self.path = first.path
        self.line = first.line
        self.column = first.column
        self.message = first.message
        super().__init__("\n".join(str(e) for e in self.errors))

    @classmethod
    def single(
        cls, message: str, *, path: str, line: int | None = None, column: int | None = None
    ) -> PlaybookError:
        """An error with one issue."""
        return cls([PlaybookIssue(path, line, column, message)])


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt ``word``, phrased as a hint, or None."""
    pool = sorted(set(candidates))
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not matches:
        # Case slips ("Employees") fall below difflib's ratio on short words.
        lowered = {c.lower(): c for c in pool}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    return f"did you mean '{matches[0]}'?" if matches else None
