"""Holdout groups: a deterministic, salted share of each segment left out of CRM actions.

A record's holdout draw is a 64-bit FNV-1a hash of ``salt + "\\x00" + id`` (UTF-8),
finished with the splitmix64 mixer and read as a number in [0, 1). Both are fixed
integer arithmetic, so a draw is the same on every machine and every polars/numpy
version — unlike polars' ``hash``, which is documented as unstable across versions: a
record that flips in and out of the holdout pollutes the lift measurement it exists for.
The hash runs over byte *positions* of all ids at once (numpy), not a Python call per id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

HOLDOUT_COLUMN = "segment_holdout"
_DRAW = "__holdout_draw"
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def _fnv1a(state: np.ndarray, data: bytes) -> np.ndarray:
    for byte in data:
        state = (state ^ np.uint64(byte)) * _FNV_PRIME
    return state


def _draws(ids: pl.Series, salt: str) -> pl.Series:
    """Uniform [0, 1) draw per id; null ids get null."""
    text = ids.cast(pl.String)
    uniq = text.drop_nulls().unique()
    encoded = np.char.encode(np.asarray(uniq.to_list(), dtype=str), "utf-8")
    width = max(encoded.dtype.itemsize, 1)
    matrix = np.frombuffer(encoded.tobytes(), dtype=np.uint8).reshape(len(encoded), width)
    lengths = np.char.str_len(encoded)
    with np.errstate(over="ignore"):  # the hash wraps modulo 2**64 by design
        seed = _fnv1a(np.array([_FNV_OFFSET], dtype=np.uint64), salt.encode() + b"\x00")[0]
        state = np.full(len(encoded), seed, dtype=np.uint64)
        for j in range(width if len(encoded) else 0):
            mixed = (state ^ matrix[:, j].astype(np.uint64)) * _FNV_PRIME
            state = np.where(j < lengths, mixed, state)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    values = (z >> np.uint64(11)).astype(np.float64) / float(2**53)
    table = pl.DataFrame({"k": uniq, "d": values})
    return (
        text.to_frame("k")
        .join(table, on="k", how="left", maintain_order="left")
        .get_column("d")
        .alias(ids.name)
    )


def holdout_draw(ids: pl.Expr | str, *, salt: str) -> pl.Expr:
    """The record's stable uniform [0, 1) draw, from a salted hash of its id."""
    expr = pl.col(ids) if isinstance(ids, str) else ids
    return expr.map_batches(lambda s: _draws(s, salt), return_dtype=pl.Float64)


def holdout_flags(ids: pl.Expr | str, *, share: float, salt: str) -> pl.Expr:
    """True for about ``share`` of records, decided by the record id alone.

    Independent of row order and of the other rows (so a record keeps its flag as the
    base grows), hence ≈share per segment rather than exactly. This is what segsync
    writes to the CRM; :func:`assign_holdouts` guarantees the share per segment but its
    flags move with the other records. Null ids are never held out.
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
    segments. A record's flag still depends on the others (a record joining its
    stratum can push it out), so this suits one-off analyses, not values written to a
    CRM. Null ids are never held out.
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
