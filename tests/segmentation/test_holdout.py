"""Holdouts: stable salted hash flags and a guaranteed share per segment."""

from __future__ import annotations

import polars as pl
import pytest

from segmentation.holdout import HOLDOUT_COLUMN, assign_holdouts, holdout_flags


def _ids(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_flags_stable_and_independent_of_order_and_other_rows() -> None:
    frame = pl.DataFrame({"id": _ids(5_000)})
    flags = frame.with_columns(holdout_flags("id", share=0.1, salt="s1"))
    again = frame.with_columns(holdout_flags(pl.col("id"), share=0.1, salt="s1"))
    assert flags.equals(again)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=7).with_columns(
        holdout_flags("id", share=0.1, salt="s1")
    )
    joined = flags.join(shuffled, on="id", suffix="_r")
    assert (joined[HOLDOUT_COLUMN] == joined[f"{HOLDOUT_COLUMN}_r"]).all()
    # A subset of the rows keeps exactly its flags: no dependence on the other rows.
    subset = frame.head(300).with_columns(holdout_flags("id", share=0.1, salt="s1"))
    assert subset.equals(flags.head(300))


def test_flags_pinned_values() -> None:
    # Pinned against a plain-Python FNV-1a + splitmix64, so a library upgrade that
    # changed the vectorised hash would fail here, not in the CRM.
    mask = 2**64 - 1

    def reference(record_id: str) -> float:
        h = 0xCBF29CE484222325
        for byte in b"salt\x00" + record_id.encode():
            h = ((h ^ byte) * 0x100000001B3) & mask
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & mask
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & mask
        h ^= h >> 31
        return (h >> 11) / 2**53

    ids = ["a", "b", "c", "42", "ünïcode-id", "x" * 40]
    expected = [reference(i) < 0.5 for i in ids]
    assert 0 < sum(expected) < len(ids)
    out = pl.DataFrame({"id": ids}).select(holdout_flags("id", share=0.5, salt="salt"))
    assert out[HOLDOUT_COLUMN].to_list() == expected


def test_integer_and_null_ids() -> None:
    out = pl.DataFrame({"id": [1, 2, None]}).select(holdout_flags("id", share=1.0, salt="x"))
    assert out[HOLDOUT_COLUMN].to_list() == [True, True, False]


def test_flags_share_per_segment_within_one_percent() -> None:
    n = 100_000
    frame = pl.DataFrame({"id": _ids(n, "a") + _ids(n, "b"), "segment_rfm": ["A"] * n + ["B"] * n})
    shares = (
        frame.with_columns(holdout_flags("id", share=0.1, salt="run"))
        .group_by("segment_rfm")
        .agg(pl.col(HOLDOUT_COLUMN).mean())
    )
    for share in shares[HOLDOUT_COLUMN]:
        assert abs(share - 0.1) < 0.01


def test_different_salt_different_assignment() -> None:
    frame = pl.DataFrame({"id": _ids(10_000)})
    one = frame.select(holdout_flags("id", share=0.2, salt="one"))[HOLDOUT_COLUMN]
    two = frame.select(holdout_flags("id", share=0.2, salt="two"))[HOLDOUT_COLUMN]
    agree = (one & two).sum()
    # Independent draws overlap on ~share^2 = 4% of rows, far from the 20% of identical ones.
    assert 300 < agree < 500


def test_assign_guarantees_share_per_segment() -> None:
    frame = pl.DataFrame(
        {
            "id": _ids(1_037),
            "segment_rfm": ["Champions"] * 37 + ["Lost"] * 1_000,
        }
    )
    out = assign_holdouts(frame, ["segment_rfm"], 0.1, "s")
    counts = dict(out.group_by("segment_rfm").agg(pl.col(HOLDOUT_COLUMN).sum()).iter_rows())
    assert counts == {"Champions": 4, "Lost": 100}
    # Row order does not matter, and a re-run picks the same records.
    shuffled = assign_holdouts(frame.reverse(), ["segment_rfm"], 0.1, "s")
    assert out.sort("id").equals(shuffled.sort("id"))
    other = assign_holdouts(frame, ["segment_rfm"], 0.1, "t")
    assert not out[HOLDOUT_COLUMN].equals(other[HOLDOUT_COLUMN])


def test_assign_stratifies_on_combinations() -> None:
    frame = pl.DataFrame({"id": _ids(400), "a": ["x", "y"] * 200, "b": ["p"] * 200 + ["q"] * 200})
    out = assign_holdouts(frame, ["a", "b"], 0.25, "s")
    sums = out.group_by("a", "b").agg(pl.col(HOLDOUT_COLUMN).sum())[HOLDOUT_COLUMN]
    assert sums.to_list() == [25, 25, 25, 25]


def test_bad_share_rejected() -> None:
    with pytest.raises(ValueError):
        holdout_flags("id", share=1.5, salt="s")
    with pytest.raises(ValueError):
        assign_holdouts(pl.DataFrame({"id": ["a"]}), [], 0.1, "s")


def test_the_flag_written_to_the_crm_never_moves_when_other_records_change_segment() -> None:
    # Ranking within segments moved records in and out of the control group when other
    # records joined or left their segment (2 of the b2c demo's incremental writes).
    from segmentation.engine import SegmentResult
    from segmentation.playbook import parse_playbook
    from segmentation.report import add_holdouts

    book = parse_playbook(
        "version: 1\nname: h\nmodels:\n  lifecycle:\n    rules:\n"
        "      - {name: lead, when: {field: email, exists: true}}\n    fallback: subscriber\n"
        "holdout: {share: 0.1, salt: h}\n"
    )
    ids = _ids(2_000)
    before = pl.DataFrame(
        {"id": ids, "segment_lifecycle": ["lead"] * 1_000 + ["subscriber"] * 1_000}
    )
    # 300 leads become subscribers: both segments' sizes change.
    after = before.with_columns(
        pl.when(pl.int_range(pl.len()) < 300)
        .then(pl.lit("subscriber"))
        .otherwise(pl.col("segment_lifecycle"))
        .alias("segment_lifecycle")
    )
    flags = [
        add_holdouts(SegmentResult(frame, None), book).contacts[HOLDOUT_COLUMN]
        for frame in (before, after)
    ]
    assert flags[0].equals(flags[1])
    assert 150 <= int(flags[0].sum()) <= 250  # about 10%
