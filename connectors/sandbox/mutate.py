"""Simulated CRM activity: change random records the way users and HubSpot itself do.

Mutations are phrased in canonical seed fields (job title, last activity, engagement
counts, country, lifecycle stage, deal stage, …); a dialect says which native property
each field is and how its values are stored. They are not API writes: they bump the
modification time but do not count as API changes in the admin read-back.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from connectors.sandbox.seed.generate import DAY_MS, country_spellings, job_titles
from connectors.sandbox.seed.pools import TECH_TOOLS
from connectors.sandbox.store import Table

_TITLES = job_titles()
_COUNTRIES = country_spellings()
_TOOLS = [tool for pool in TECH_TOOLS.values() for tool in pool]


class MutationHooks(Protocol):
    """What a dialect tells the mutator."""

    def native(self, object_type: str, field: str) -> str | None:
        """Native property of a canonical field (None if the dialect has none)."""
        ...

    def encode(self, object_type: str, field: str, value: Any) -> Any:
        """Stored form of a canonical value."""
        ...

    def advance(self, object_type: str, field: str, table: Table, row: int) -> Any:
        """Stored value one step further along a staged field (lifecycle, deal stage), or None."""
        ...

    def after_change(
        self, object_type: str, table: Table, row: int, changed: list[str], now_ms: int
    ) -> None:
        """Keep calculated properties in step with a change."""
        ...

    def after_delete(self, object_type: str, table: Table, row: int, now_ms: int) -> None:
        """Keep dependent state in step with a deletion (the row is archived already)."""
        ...

    def writable(self, object_type: str, table: Table, row: int) -> bool:
        """Whether users can still edit a record (a converted lead cannot)."""
        ...

    def user_values(
        self, object_type: str, table: Table, row: int, properties: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Stored values of a user's edit given as API values (ValueError when refused)."""
        ...

    def shown(self, object_type: str, table: Table, row: int, name: str) -> Any:
        """One property's value as the API shows it (None when empty or unknown)."""
        ...


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def _plan(object_type: str, rng: random.Random) -> list[str]:
    """Which canonical fields to change on one record."""
    if object_type in ("contact", "lead"):
        pool = [
            "job_title",
            "last_activity_at",
            "email_opens",
            "page_views",
            "country",
            "lifecycle_stage",
            "email_clicks",
        ]
    elif object_type == "company":
        pool = ["employees", "annual_revenue", "tech_stack", "last_activity_at", "lifecycle_stage"]
    else:
        pool = ["stage", "amount", "close_date"]
    k = rng.randint(2, min(4, len(pool)))
    return rng.sample(pool, k)


def _new_value(field: str, current: Any, rng: random.Random, now_ms: int) -> Any:
    """A new canonical value for a field given its current stored value."""
    if field == "job_title":
        choice = _TITLES[rng.randrange(len(_TITLES))]
        return choice if choice != current else _TITLES[(_TITLES.index(choice) + 1) % len(_TITLES)]
    if field == "country":
        choice = _COUNTRIES[rng.randrange(len(_COUNTRIES))]
        return choice if choice != current else None
    if field in ("last_activity_at",):
        return now_ms
    if field == "email_opens":
        return int(_number(current)) + rng.randint(1, 5)
    if field == "email_clicks":
        return int(_number(current)) + 1
    if field == "page_views":
        return int(_number(current)) + rng.randint(1, 20)
    if field == "employees":
        return max(1, int(_number(current) * rng.uniform(0.95, 1.3)) + 1)
    if field in ("annual_revenue", "amount"):
        return round(max(100.0, _number(current) * rng.uniform(0.7, 1.5)), -2)
    if field == "tech_stack":
        tools = [t.strip() for t in str(current or "").replace(",", ";").split(";") if t.strip()]
        extra = _TOOLS[rng.randrange(len(_TOOLS))]
        return "; ".join(tools + ([extra] if extra not in tools else []))
    if field == "close_date":
        return int(_number(current) or now_ms) + int(rng.uniform(7, 60) * DAY_MS)
    raise KeyError(field)


def mutate(
    table: Table,
    hooks: MutationHooks,
    rows: Sequence[int],
    rng: random.Random,
    *,
    modified_ms: int,
    index_delay: float,
) -> list[int]:
    """Change every given row (at least one real field change each); returns the record ids."""
    object_type = table.object_type
    changed_ids = []
    for row in rows:
        values: dict[str, Any] = {}
        for field in _plan(object_type, rng):
            native = hooks.native(object_type, field)
            if native is None or native not in table.kinds:
                continue
            if field in ("lifecycle_stage", "stage"):
                stored = hooks.advance(object_type, field, table, row)
            else:
                new = _new_value(field, table.get(row, native), rng, modified_ms)
                stored = None if new is None else hooks.encode(object_type, field, new)
            if stored is not None and stored != table.get(row, native):
                values[native] = stored
        if not values:
            values = _fallback(object_type, hooks, table, row, modified_ms)
        changed = table.update(row, values, modified_ms, via_api=False, index_delay=index_delay)
        table.touch(row, modified_ms, index_delay=index_delay)
        hooks.after_change(object_type, table, row, changed, modified_ms)
        changed_ids.append(table.ids[row])
    return changed_ids


def _fallback(
    object_type: str, hooks: MutationHooks, table: Table, row: int, now_ms: int
) -> dict[str, Any]:
    """A change that always differs from the current value (keeps 'N records changed' exact)."""
    field = "close_date" if object_type == "deal" else "last_activity_at"
    native = hooks.native(object_type, field)
    if native is None:
        return {}
    current = table.get(row, native)
    value = now_ms if current != now_ms else now_ms + 1
    if object_type == "deal":
        value = int(_number(current) or now_ms) + DAY_MS
    return {native: hooks.encode(object_type, field, value)}


def pick_rows(
    table: Table, count: int, rng: random.Random, keep: Callable[[int], bool] | None = None
) -> list[int]:
    """``count`` distinct random live rows that ``keep`` accepts (fewer if there are fewer).

    Rows are drawn at random and the unsuitable ones skipped, so picking a few records
    of a million costs a few draws; when draws keep missing (most rows archived or not
    kept, or nearly all wanted) the live rows are listed and sampled instead.
    """
    n = len(table)
    if count * 4 <= n:
        picked: dict[int, None] = {}
        for _ in range(count * 8 + 64):
            row = rng.randrange(n)
            if row not in picked and not table.archived[row] and (keep is None or keep(row)):
                picked[row] = None
                if len(picked) == count:
                    return list(picked)
    live = [r for r in range(n) if not table.archived[r] and (keep is None or keep(r))]
    return rng.sample(live, min(count, len(live)))
