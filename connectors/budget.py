"""segsync's share of a CRM's daily API allowance, shared by every connector."""

from __future__ import annotations

import threading

from connectors.base import BudgetExhaustedError


class DailyBudget:
    """Stops segsync before it spends more than its share of the account's daily calls."""

    def __init__(self, share: float) -> None:
        if not 0 < share <= 1:
            raise ValueError("daily budget share must be in (0, 1]")
        self.share = share
        self.daily_max: int | None = None
        self.daily_remaining: int | None = None
        self.calls = 0
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise BudgetExhaustedError when the next call would go past segsync's share."""
        with self._lock:
            if self.daily_max is None:
                return
            allowed = int(self.daily_max * self.share)
            reserve = self.daily_max - allowed
            spent_own = self.calls >= allowed
            spent_account = self.daily_remaining is not None and self.daily_remaining <= reserve
            if spent_own or spent_account:
                raise BudgetExhaustedError(
                    f"segsync stops here: its share ({self.share:.0%}) of the CRM's daily API "
                    f"limit ({self.daily_max} calls) is spent "
                    f"({self.daily_remaining} left for the account, {reserve} kept for other "
                    "integrations); the run resumes after the daily reset",
                    policy="DAILY_BUDGET_SHARE",
                )

    def count_call(self) -> None:
        with self._lock:
            self.calls += 1

    def observe(self, daily_max: int | None, daily_remaining: int | None) -> None:
        with self._lock:
            if daily_max is not None:
                self.daily_max = daily_max
            if daily_remaining is not None:
                self.daily_remaining = daily_remaining
