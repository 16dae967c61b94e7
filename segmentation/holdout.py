"""Holdout groups: a deterministic, salted share of each segment left out of CRM actions.

A record's holdout draw is ``sha256(salt + "\\x00" + id)`` read as a number in [0, 1).
SHA-256 is used instead of polars' ``hash`` because the latter is documented as unstable
across polars versions (and seeds), and a holdout must not move when the library is
upgraded or the job runs on another machine: a record that flips in and out of the
holdout pollutes the lift measurement it exists for. Only the distinct ids go through
``hashlib`` (one C call each), and the result is joined back, so the cost is per unique
id, not per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import polars as pl

HOLDOUT_COLUMN = "segment_holdout"
_DRAW = "__holdout_draw"
_TWO_64 = float(2**64)


def _draws(ids: pl.Series, salt: str) -> pl.Series:
    """Uniform [0, 1) draw per id from SHA-256; null ids get null."""
    text = ids.cast(pl.String)
    uniq = text.drop_nulls().unique()
    prefix = salt.encode() + b"\x00"
    # The first 8 bytes of the digest, big-endian, as an unsigned integer: the same on
    # every platform and every polars/numpy version.
    values = np.fromiter(
        (
            int.from_bytes(hashlib.sha256(prefix + v.encode()).digest()[:8], "big")
            for v in uniq.to_list()
        ),
        dtype=np.float64,
        count=uniq.len(),
    )
    table = pl.DataFrame({"k": uniq, "d": values / _TWO_64})
    return (
        text.to_frame("k")
        .join(table, on="k", how="left", maintain_order="left")
        .get_column("d")
        .alias(ids.name)
    )


def holdout_draw(ids: pl.Expr | str, *, salt: str) -> pl.Expr:
    """The record's stable uniform [0, 1) draw, from a salted SHA-256 of its id."""
    expr = pl.col(ids) if isinstance(ids, str) else ids
    return expr.map_batches(lambda s: _draws(s, salt), return_dtype=pl.Float64)


def holdout_flags(ids: pl.Expr | str, *, share: float, salt: str) -> pl.Expr:
    """True for about ``share`` of records, decided by the record id alone.

    Independent of row order and of the other rows (so a record keeps its flag as the
    base grows), hence ≈share per segment rather than exactly; use
    :func:`assign_holdouts` for a guaranteed share per segment. Null ids are never held out.
    """
    _check_share(share)
    return (holdout_draw(ids, salt=salt) < share).fill_null(False).alias(HOLDOUT_COLUMN)


def assign_holdouts(
    df: pl.DataFrame,
    segment_cols: Sequence[str],
    share: float,
    salt: str,
    *,
    id_col: str = "id",
) -> pl.DataFrame:
    """Add ``segment_holdout``: exactly ``round(share * n)`` records of each segment.

    Strata are the combinations of ``segment_cols`` (one column for a single model).
    Within a stratum, records are ranked by their salted hash and the lowest ranks are
    held out; ranking (not thresholding) is what guarantees the share even for small
    segments, and the hash order keeps the choice stable across runs for unchanged
    segments. Null ids are never held out.
    """
    _check_share(share)
    cols = list(segment_cols)
    if not cols:
        raise ValueError("assign_holdouts needs at least one segment column")
    draw = holdout_draw(id_col, salt=salt)
    ranked = df.with_columns(draw.alias(_DRAW))
    # "min" ranks give duplicate ids (equal draws) the same rank, so they share a flag
    # and the result never depends on row order.
    rank = pl.col(_DRAW).rank(method="min").over(cols)
    size = pl.len().over(cols)
    flag = (rank <= (size * share).round(0)).fill_null(False)
    return ranked.with_columns(flag.alias(HOLDOUT_COLUMN)).drop(_DRAW)


def _check_share(share: float) -> None:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"holdout share must be within [0, 1], got {share}")
