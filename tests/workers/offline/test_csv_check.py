"""workers.csv_check counts fields as Python's csv module does, across chunk boundaries."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest

import workers.csv_check as csv_check
from workers.csv_check import CsvShapeError, check_csv

VALUES = ["", "a", "bc", "déf", '"x,y"', '"q""q"', '"l1\nl2"', '""', '"a\r\nb"']


def random_csv(rng: random.Random) -> tuple[str, int]:
    columns = rng.randint(1, 4)
    lines = [",".join(f"h{i}" for i in range(columns))]
    for _ in range(rng.randint(0, 6)):
        width = columns if rng.random() < 0.8 else rng.randint(1, 6)
        lines.append(",".join(rng.choice(VALUES) for _ in range(width)))
    ending = rng.choice(["\n", "\r\n"])
    return ending.join(lines) + (ending if rng.random() < 0.7 else ""), columns


def test_field_counts_agree_with_the_csv_module_on_random_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of 7 bytes put record, quote and UTF-8 boundaries across chunks everywhere.
    monkeypatch.setattr(csv_check, "CHUNK_BYTES", 7)
    monkeypatch.setattr(csv_check, "MAX_HEADER_BYTES", 64)
    rng = random.Random(11)
    path = tmp_path / "random.csv"
    refused = 0
    for _ in range(2000):
        text, columns = random_csv(rng)
        path.write_bytes(text.encode("utf-8"))
        rows = list(csv.reader(io.StringIO(text, newline="")))
        ragged = [i for i, row in enumerate(rows[1:], 1) if row and len(row) != columns]
        if ragged:
            refused += 1
            with pytest.raises(CsvShapeError) as caught:
                check_csv(path)
            first = ragged[0]
            assert f"row {first} has {len(rows[first])} field" in str(caught.value), text
        else:
            shape = check_csv(path)
            assert (shape.columns, shape.rows) == (columns, len(rows) - 1), text
    assert 200 < refused < 1800  # both branches were exercised


def test_a_utf8_character_split_across_chunks_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_check, "CHUNK_BYTES", 1)
    path = tmp_path / "c.csv"
    path.write_text("name,city\nZoë,Zürich\n", encoding="utf-8")
    assert check_csv(path).rows == 1


def test_the_first_bad_byte_is_located_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_check, "CHUNK_BYTES", 3)
    path = tmp_path / "c.csv"
    # Valid two-byte characters before it, a latin-1 "é" (0xe9) at line 3, byte 8.
    path.write_bytes(b"name,city\nZo\xc3\xab,Z\xc3\xbcrich\nJos\xc3\xa9,S\xe9o\n")
    with pytest.raises(CsvShapeError, match=r"^c\.csv:3:8: not UTF-8 \(byte 0xe9\)"):
        check_csv(path)


def test_header_only_and_no_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,email", encoding="utf-8")
    assert (check_csv(path).columns, check_csv(path).rows) == (2, 0)
    path.write_text("id,email\n1,a@b.io", encoding="utf-8")
    assert check_csv(path).rows == 1
    path.write_text("id,email\n1,a@b.io,extra", encoding="utf-8")
    with pytest.raises(CsvShapeError, match="row 1 has 3 fields"):
        check_csv(path)
