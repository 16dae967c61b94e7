"""RFM scores, the tie policy, and the named R x F segments."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from segmentation.rfm import DEFAULT_SEGMENTS, rfm, rfm_scores, rfm_table

TODAY = date(2026, 6, 30)


def orders(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    """(customer, days ago, amount) rows."""
    return pl.DataFrame(
        {
            "customer": [r[0] for r in rows],
            "day": [TODAY - timedelta(days=r[1]) for r in rows],
            "amount": [r[2] for r in rows],
        }
    )


def test_table_counts_purchase_days_within_the_window() -> None:
    table = rfm_table(
        orders([("a", 1, 10), ("a", 1, 5), ("a", 30, 20), ("a", 400, 99), ("b", 10, 7)]),
        "customer",
        "day",
        "amount",
        now=TODAY,
        window_days=365,
    )
    a = table.filter(pl.col("customer") == "a").row(0, named=True)
    assert (a["recency_days"], a["frequency"], a["monetary"]) == (1, 2, 35.0)


def test_half_the_customers_buying_once_still_get_one_shared_low_score() -> None:
    rows = [(f"once{i}", i % 300, 10.0) for i in range(500)]
    rows += [(f"many{i}", d, 10.0) for i in range(500) for d in range(i % 250, i % 250 + i % 7 + 2)]
    table = rfm_scores(rfm_table(orders(rows), "customer", "day", "amount", now=TODAY))
    once = table.filter(pl.col("customer").str.starts_with("once"))
    assert once["f_score"].unique().to_list() == [1]
    many = table.filter(pl.col("customer").str.starts_with("many"))
    assert many["f_score"].min() > 1 and many["f_score"].max() == 5
    assert set(table["r_score"].unique().to_list()) == {1, 2, 3, 4, 5}


def test_recency_is_reversed_and_segments_are_named() -> None:
    rows = [(f"c{i}", i, 10.0 * (i % 5 + 1)) for i in range(100)]
    rows += [(f"c{i}", i + 1, 1.0) for i in range(0, 100, 3)]
    out = rfm(orders(rows), "customer", "day", "amount", now=TODAY)
    newest = out.filter(pl.col("customer") == "c0").row(0, named=True)
    oldest = out.filter(pl.col("customer") == "c99").row(0, named=True)
    assert newest["r_score"] == 5 and oldest["r_score"] == 1
    assert newest["segment_rfm"] == "champions"  # most recent and bought twice
    assert "R5" in newest["reason_rfm"]
    assert set(out["segment_rfm"].to_list()) <= {s.name for s in DEFAULT_SEGMENTS}


def test_the_default_map_names_every_cell_of_the_grid_exactly_once() -> None:
    for r in range(1, 6):
        for f in range(1, 6):
            hits = [
                s.name
                for s in DEFAULT_SEGMENTS
                if s.recency[0] <= r <= s.recency[1] and s.frequency[0] <= f <= s.frequency[1]
            ]
            assert len(hits) == 1, (r, f, hits)
