"""``segsync segment`` refuses input it cannot use in one line naming the file and row.

Each case exits 2 (usage: an invalid input file or an unwritable output) with no
traceback, and writes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from workers.cli.main import main
from workers.csv_check import MAX_COLUMNS, MAX_HEADER_BYTES, MAX_ROW_BYTES

GOOD = "id,email,job_title,country\nc1,ann@acme.com,CEO,USA\nc2,bob@gmail.com,CTO,DE\n"


def segment(tmp_path: Path, contacts: bytes | str, output: Path | None = None) -> Result:
    path = tmp_path / "contacts.csv"
    if isinstance(contacts, str):
        contacts = contacts.encode("utf-8")
    path.write_bytes(contacts)
    target = output or tmp_path / "out.csv"
    args = ["segment", "--input", str(path), "--output", str(target), "--now", "2025-06-01"]
    return CliRunner().invoke(main, args)


def refused(result: Result, tmp_path: Path) -> str:
    """The one error line of a refused run; nothing was written."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert not (tmp_path / "out.csv").exists()
    return lines[0].removeprefix("Error: ")


def test_a_latin1_file_is_named_with_line_column_and_byte(tmp_path: Path) -> None:
    text = "id,email,job_title,country\nc1,ann@acme.com,Directeur général,France\n"
    line = refused(segment(tmp_path, text.encode("latin-1")), tmp_path)
    assert line.startswith("contacts.csv:2:28: not UTF-8 (byte 0xe9); save the file as UTF-8")
    assert "iconv -f latin1 -t utf-8 contacts.csv" in line


def test_an_empty_file(tmp_path: Path) -> None:
    line = refused(segment(tmp_path, ""), tmp_path)
    assert line.startswith("contacts.csv: empty file; expected a header line naming the columns")


@pytest.mark.parametrize(
    ("row", "fields"),
    [("c2,bob@gmail.com,CTO", 3), ("c2,bob@gmail.com,CTO,DE,extra", 5)],
)
def test_a_ragged_row_is_named(tmp_path: Path, row: str, fields: int) -> None:
    text = f"id,email,job_title,country\nc1,ann@acme.com,CEO,USA\n{row}\nc3,c@d.io,VP,FR\n"
    line = refused(segment(tmp_path, text), tmp_path)
    assert line == (
        f"contacts.csv:3: row 2 has {fields} fields, the header has 4; every row needs one "
        "value per column (quote values that contain a comma)"
    )


def test_a_ragged_row_after_a_value_spanning_lines_counts_rows_and_lines_apart(
    tmp_path: Path,
) -> None:
    text = 'id,email,notes\nc1,a@b.io,"two\nlines, one value"\nc2,b@c.io\nc3,c@d.io,x,y\n'
    line = refused(segment(tmp_path, text), tmp_path)
    assert line.startswith("contacts.csv:4: row 2 has 2 fields, the header has 3 (1 more row")


def test_a_quote_that_is_never_closed(tmp_path: Path) -> None:
    text = 'id,email,job_title\nc1,a@b.io,12" pizza chef\nc2,b@c.io,CEO\n'
    line = refused(segment(tmp_path, text), tmp_path)
    assert line.startswith("contacts.csv:2:13: this quote is never closed")


def test_a_semicolon_separated_file_is_recognised(tmp_path: Path) -> None:
    line = refused(segment(tmp_path, "id;email;job_title\nc1;a@b.io;CEO\n"), tmp_path)
    assert "contacts.csv: none of its columns ('id;email;job_title')" in line
    assert "the file looks ';'-separated; segsync reads comma-separated CSV" in line


def test_none_of_the_known_columns_is_refused_naming_what_segsync_reads(tmp_path: Path) -> None:
    line = refused(segment(tmp_path, "foo,bar\n1,2\n3,4\n"), tmp_path)
    assert line.startswith(
        "contacts.csv: none of its columns ('foo', 'bar') is one segsync reads for contacts, "
        "so every row would get the fallback segments; name the columns as segsync does: "
    )
    assert "email" in line


def test_crm_labels_instead_of_field_names_get_renames(tmp_path: Path) -> None:
    text = "Email Address,Job Title,Country\na@b.io,CEO,US\n"
    line = refused(segment(tmp_path, text), tmp_path)
    assert line.endswith("rename the columns: 'Job Title' -> job_title, 'Country' -> country")


def test_one_known_column_is_enough(tmp_path: Path) -> None:
    result = segment(tmp_path, "foo,email\n1,a@b.io\n")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("where", ["missing_folder", "a_folder"])
def test_an_unwritable_output_is_refused_before_the_run(tmp_path: Path, where: str) -> None:
    output = tmp_path / "nowhere" / "out.csv" if where == "missing_folder" else tmp_path
    result = segment(tmp_path, GOOD, output=output)
    line = refused(result, tmp_path)
    if where == "missing_folder":
        assert line == f"{output}: no such folder {tmp_path / 'nowhere'}"
    else:
        assert line == f"{tmp_path}: unknown output format; use .csv or .parquet"


def test_a_read_only_output_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("x")
        except PermissionError:
            pass
        else:
            pytest.skip("running as root: permissions do not stop writes")
        line = refused(segment(tmp_path, GOOD, output=folder / "out.csv"), tmp_path)
        assert line == f"{folder / 'out.csv'}: cannot write in {folder}: Permission denied"
    finally:
        folder.chmod(0o700)


def test_a_50_mb_header_line_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    header = ",".join(f"column_{i}" for i in range(5_000_000))[: 50 << 20]
    started = time.monotonic()
    line = refused(segment(tmp_path, header + "\n1\n"), tmp_path)
    elapsed = time.monotonic() - started
    assert line == (
        f"contacts.csv:1: the header line is longer than {MAX_HEADER_BYTES:,} bytes "
        "(segsync's limit); is this a CSV export?"
    )
    assert elapsed < 1.0, elapsed  # was > 300 s; the check reads 1 MiB of it (~5 ms)


def test_too_many_columns(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1))
    line = refused(segment(tmp_path, f"{header}\n"), tmp_path)
    assert line == (
        f"contacts.csv:1: the header has {MAX_COLUMNS + 1:,} columns; "
        f"segsync reads at most {MAX_COLUMNS:,}"
    )


def test_a_row_over_the_width_limit_is_named(tmp_path: Path) -> None:
    text = f"id,email\nc1,a@b.io\nc2,{'x' * (MAX_ROW_BYTES + 1)}\nc3,c@d.io\n"
    line = refused(segment(tmp_path, text), tmp_path)
    assert line == f"contacts.csv:3: row 2 is longer than {MAX_ROW_BYTES:,} bytes (segsync's limit)"
