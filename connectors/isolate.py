"""Finding the bad rows of batches a CRM refused as a whole, within a call allowance.

HubSpot answers a batch update with one invalid input by a 400 that names a property
and a problem but never the input. Plain halving until every culprit stands alone costs
about ``2 * bad * log2(batch)`` calls: 14x the clean run's calls at 1% bad rows, far
more at 30%. Here the extra calls are capped (a share of the clean calls), spent where
they land the most rows, and guided by what the error does say: an ``INVALID_OPTION``
(or ``INVALID_DECIMAL``) names the property and the refused value, so the rows carrying
that value are rejected at no cost and the rest is sent again before any blind halving.
Rows the allowance did not reach are returned as ``DEFERRED``: never dropped, sent
again by the next retry or run.

A group known to contain a bad row (its batch was refused) is split in two and only the
first part is sent: if that lands, the second part is known bad without a call of its
own. A group of one known bad row is rejected with the CRM's reason at no cost.
"""

from __future__ import annotations

import heapq
import json
import math
import random
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
# HubSpot's validation messages start with the refused value: "smb2 was not one of the
# allowed options: [...]" (INVALID_OPTION), "NaN was not a valid number." (INVALID_DECIMAL).
VALUE_MARKER = " was not "


@dataclass
class IsolationStats:
    """What isolating a write's refused batches cost and achieved."""

    clean_calls: int = 0  # the batches a clean run sends
    extra_calls: int = 0  # calls spent isolating bad rows
    rejected: int = 0
    deferred: int = 0


@dataclass(order=True)
class _Group:
    priority: tuple[int, float]
    rows: list[FieldWrite] = field(compare=False)
    error: RejectedError | None = field(compare=False)  # None: not sent yet


def suspects(rows: Sequence[FieldWrite], error: RejectedError) -> list[FieldWrite]:
    """Rows carrying a value the error names as invalid for a property, if any.

    The CRM said that value is not valid for that property, so every row carrying it is
    refused for the same reason: these rows are rejected without a call of their own.
    """
    bad: set[tuple[str, str]] = set()
    for item in _details(error):
        message = str(item.get("message") or "")
        if item.get("name") and VALUE_MARKER in message:
            bad.add((str(item.get("name")), message.split(VALUE_MARKER, 1)[0]))
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


def bad_share(refused: int, sent: int, batch: int) -> float:
    """An estimate of the share of bad rows from how many batches of ``batch`` rows were
    refused: a batch lands only if all its rows are good, ``1 - (1 - p) ** batch``.

    The refused fraction is taken as ``refused / (sent + 1)``: every one of a few
    batches refused says little, and must not read as "every row is bad".
    """
    if sent <= 0 or refused <= 0:
        return 0.0
    return float(1.0 - (1.0 - refused / (sent + 1)) ** (1.0 / max(batch, 1)))


ALL_REFUSED_GUESS = 0.1
# Refused groups this small are sent a row at a time when the allowance covers it.
SINGLES_UP_TO = 4


def isolate(
    refused: Sequence[tuple[list[FieldWrite], RejectedError]],
    send: Send,
    explain: Explain,
    budget: int,
    stats: IsolationStats | None = None,
    *,
    share: float = ALL_REFUSED_GUESS,
    rng: random.Random | None = None,
) -> list[WriteResult]:
    """One result per row of the ``refused`` batches, spending at most ``budget`` calls.

    ``send`` raises :class:`RejectedError` when the CRM refuses a batch as a whole.
    ``share`` is the estimated share of bad rows (:func:`bad_share`): a refused group is
    cut into pieces of about ``1 / share`` rows, the size at which one call lands the
    most rows on average; below twice that it is halved. Pieces and halves are cut from
    a shuffled order (``rng``) so that a retry of the same rows tries other cuts, instead
    of failing on the same ones every time.
    """
    stats = stats if stats is not None else IsolationStats()
    rng = rng or random.Random()
    piece = max(2, round(1.0 / share)) if share > 0 else 2
    keep = max(1e-6, 1.0 - min(share, 0.999))
    heap: list[_Group] = []
    results: list[WriteResult] = []
    halted: list[str] = []

    def push(rows: list[FieldWrite], error: RejectedError | None) -> None:
        if not rows:
            return
        if error is None:
            # Unsent groups first, by the rows one call is expected to land.
            gain = len(rows) * keep ** len(rows)
            heapq.heappush(heap, _Group((0, -gain + rng.random() * 1e-9), rows, error))
        else:
            # Known-bad groups smallest first: narrowing one down settles its rows (and
            # frees its good half), where spreading calls over large groups settles none.
            heapq.heappush(heap, _Group((1, float(len(rows))), rows, error))

    landed_all: list[bool] = [True]

    def attempt(rows: list[FieldWrite]) -> RejectedError | None:
        """Send ``rows``; the whole-batch 400 if refused. ``landed_all[0]`` says whether
        every row landed (a lone row is refused by a per-row result, not a 400)."""
        stats.extra_calls += 1
        landed_all[0] = False
        try:
            answer = send(rows)
            results.extend(answer)
            landed_all[0] = all(r.ok for r in answer)
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
        push(batch, refusal)
    spent = 0
    while heap:
        group = heapq.heappop(heap)
        rows, error = group.rows, group.error
        if error is not None and len(rows) == 1:
            reason, code = explain(error)
            results.extend(same_result(rows, WriteStatus.REJECTED, reason, code))
            stats.rejected += 1
            continue
        named = suspects(rows, error) if error is not None else []
        if named and error is not None:
            reason, code = explain(error)
            results.extend(same_result(named, WriteStatus.REJECTED, reason, code))
            stats.rejected += len(named)
            ids = {id(w) for w in named}
            # The others may all be fine: one call may land them.
            push([w for w in rows if id(w) not in ids], None)
            continue
        if error is not None and len(rows) > 2 * piece:
            # Cutting costs nothing by itself: the pieces are sent as unsent groups.
            shuffled = list(rows)
            rng.shuffle(shuffled)
            for start in range(0, len(shuffled), piece):
                push(shuffled[start : start + piece], None)
            continue
        if spent >= budget or halted:
            results.extend(_deferred(rows, error))
            stats.deferred += len(rows)
            continue
        if (
            error is not None
            and len(rows) <= SINGLES_UP_TO
            and budget - spent >= len(rows) + sum(len(g.rows) for g in heap)
        ):
            # A small refused group, and calls enough left to send every remaining row
            # alone: about what halving costs, but each call settles its row for good,
            # where halving can stop half-way and defer the rows again.
            for at, row in enumerate(rows):
                if halted:  # a transient stop: what was not sent stays for the next retry
                    results.extend(_deferred(rows[at:], error))
                    stats.deferred += len(rows) - at
                    break
                spent += 1
                failed = attempt([row])
                if failed is not None:
                    reason, code = explain(failed)
                    results.extend(same_result([row], WriteStatus.REJECTED, reason, code))
                    stats.rejected += 1
            continue
        spent += 1
        if error is None:
            failed = attempt(rows)
            if failed is not None and not halted:
                push(rows, failed)
            continue
        # A different cut each time: a retry of the same rows must not fail on the same half.
        rows = list(rows)
        rng.shuffle(rows)
        middle = len(rows) // 2
        first, rest = rows[:middle], rows[middle:]
        failed = attempt(first)
        if halted:
            results.extend(_deferred(rest, error))
            stats.deferred += len(rest)
        elif failed is None and landed_all[0]:
            push(rest, error)  # the refusal lies in what was not sent
        elif failed is None:
            # Some of what was sent was refused row by row: the rest may be fine.
            push(rest, None)
        else:
            push(first, failed)
            push(rest, None)
    return results


def _deferred(rows: list[FieldWrite], error: RejectedError | None) -> list[WriteResult]:
    why = "not isolated within the allowance for refused batches; sent again by the next retry"
    if error is not None:
        why = f"{why} (the batch was refused: {str(error)[:200]})"
    return same_result(rows, WriteStatus.DEFERRED, why, DEFERRED_CODE)
