"""Float aggregates that come out bit for bit the same however the rows are split.

polars sums a group's floats in an order that depends on how its threads split the
rows, so the same orders summed twice, or a customer's orders summed in a subset of
the base and in the whole base, can differ in the last bit. Segment values compare
these sums with bounds and thresholds (RFM monetary against stored bounds, revenue
against a rule), so a last-bit difference can move a record to another segment, and a
partial re-segmentation would not match the full run. Adding a group's values up one
by one in sorted order fixes the order by the values themselves. (A plain
``sort().sum()`` does not: the optimizer drops a sort before an order-free sum.)
"""

from __future__ import annotations

import polars as pl


def stable_sum(values: pl.Expr) -> pl.Expr:
    """The group's sum, added up in sorted order; nulls are skipped and a group without
    values sums to 0, like ``sum``."""
    return values.drop_nulls().sort().cum_sum().last().fill_null(0)


def stable_mean(values: pl.Expr) -> pl.Expr:
    """The group's mean from :func:`stable_sum`; null without values, like ``mean``."""
    count = values.count()
    return pl.when(count > 0).then(stable_sum(values) / count)
