"""Finding the bad rows of batches a CRM refused as a whole, within a call allowance.

HubSpot answers a batch update with one invalid input by a 400 that names a property
and a problem but never the input. Plain halving until every culprit stands alone costs
about ``2 * bad * log2(batch)`` calls: 14x the clean run's calls at 1% bad rows, far
more at 30%. Here the extra calls are capped (a share of the clean calls), spent where
they land the most rows, and guided by what the error does say: an ``INVALID_OPTION``
names the property and the value, so the rows carrying that value are tried apart from
the rest before any blind halving. Rows the allowance did not reach are returned as
``DEFERRED``: never dropped, sent again by the next retry or run.

A group known to contain a bad row (its batch was refused) is split in two and only the
first part is sent: if that lands, the second part is known bad without a call of its
own. A group of one known bad row is rejected with the CRM's reason at no cost.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from connectors.base import (
    BudgetExhaustedError,
    FieldWrite,
    RateLimitedError,
    RejectedError,
    TransientError,
    WriteResult,
    WriteStatus,
)
from connectors.writes import same_result

Send = Callable[[list[FieldWrite]], list[WriteResult]]
# (reason, code) for records the CRM refused, taken from its error.
Explain = Callable[[RejectedError], tuple[str, str]]

DEFERRED_CODE = "DEFERRED"
OPTION_MARKER = " was not one of the allowed options"


@dataclass
class IsolationStats:
    """What isolating a write's refused batches cost and achieved."""

    clean_calls: int = 0  # the batches a clean run sends
    extra_calls: int = 0  # calls spent isolating bad rows
    rejected: int = 0
    deferred: int = 0


@dataclass(order=True)
class _Group:
    priority: tuple[int, int]
    rows: list[FieldWrite] = field(compare=False)
    error: RejectedError | None = field(compare=False)  # None: not sent yet


def suspects(rows: Sequence[FieldWrite], error: RejectedError) -> list[FieldWrite]:
    """Rows carrying a value the error names (HubSpot's ``INVALID_OPTION``), if any."""
    bad: set[tuple[str, str]] = set()
    for item in _details(error):
        message = str(item.get("message") or "")
        if item.get("error") == "INVALID_OPTION" and OPTION_MARKER in message:
            bad.add((str(item.get("name")), message.split(OPTION_MARKER, 1)[0]))
    if not bad:
        return []
    return [w for w in rows if any(w.fields.get(name) == value for name, value in bad)]


def _details(error: RejectedError) -> list[dict[str, object]]:
    text = str(error)
    marker = "Property values were not valid: "
    if marker not in text:
        return []
    try:
        details = json.loads(text.split(marker, 1)[1])
    except ValueError:
        return []
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def allowance(clean_calls: int, ratio: float) -> int:
    """Extra calls allowed for isolation: ``ratio`` times the clean calls, rounded down."""
    return math.floor(clean_calls * ratio + 1e-9)


def isolate(
    refused: Sequence[tuple[list[FieldWrite], RejectedError]],
    send: Send,
    explain: Explain,
    budget: int,
    stats: IsolationStats | None = None,
) -> list[WriteResult]:
    """One result per row of the ``refused`` batches, spending at most ``budget`` calls.

    ``send`` raises :class:`RejectedError` when the CRM refuses a batch as a whole.
    """
    stats = stats if stats is not None else IsolationStats()
    heap: list[_Group] = []
    results: list[WriteResult] = []

    halted: list[str] = []

    def attempt(rows: list[FieldWrite]) -> RejectedError | None:
        stats.extra_calls += 1
        try:
            results.extend(send(rows))
        except RejectedError as exc:
            if exc.status == 400:
                return exc
            # Refused for another reason (a conflict): every row of it, with that reason.
            reason, code = explain(exc)
            results.extend(same_result(rows, WriteStatus.REJECTED, reason, code))
            stats.rejected += len(rows)
        except (TransientError, RateLimitedError) as exc:
            # As write_in_chunks does: stop spending, keep every row retryable.
            code = "BUDGET" if isinstance(exc, BudgetExhaustedError) else "TRANSIENT"
            results.extend(same_result(rows, WriteStatus.RETRYABLE, str(exc), code))
            halted.append(str(exc))
        return None

    for batch, refusal in refused:
        _push(heap, batch, refusal)
    spent = 0
    while heap:
        group = heapq.heappop(heap)
        rows, error = group.rows, group.error
        if error is not None and len(rows) == 1:
            reason, code = explain(error)
            results.extend(same_result(rows, WriteStatus.REJECTED, reason, code))
            stats.rejected += 1
            continue
        if spent >= budget or halted:
            results.extend(_deferred(rows, error))
            stats.deferred += len(rows)
            continue
        spent += 1
        if error is None:
            failed = attempt(rows)
            if halted:
                continue
            if failed is not None:
                _push(heap, rows, failed)
            continue
        named = suspects(rows, error)
        if 0 < len(named) < len(rows):
            first = [w for w in rows if w not in named]
            rest = named
        else:
            middle = len(rows) // 2
            first, rest = rows[:middle], rows[middle:]
        failed = attempt(first)
        if halted:
            results.extend(_deferred(rest, error))
            stats.deferred += len(rest)
        elif failed is None:
            _push(heap, rest, error)  # the refusal lies in what was not sent
        else:
            _push(heap, first, failed)
            _push(heap, rest, None)
    return results


def _push(heap: list[_Group], rows: list[FieldWrite], error: RejectedError | None) -> None:
    if rows:
        # Unsent groups first (one call may land all of them), then the largest bad ones.
        heapq.heappush(heap, _Group((0 if error is None else 1, -len(rows)), rows, error))


def _deferred(rows: list[FieldWrite], error: RejectedError | None) -> list[WriteResult]:
    why = "not isolated within the allowance for refused batches; sent again by the next retry"
    if error is not None:
        why = f"{why} (the batch was refused: {str(error)[:200]})"
    return same_result(rows, WriteStatus.DEFERRED, why, DEFERRED_CODE)
