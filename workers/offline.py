"""Offline mode (``segsync segment``): segment CSV or Parquet exports into a file.

This is the I/O around the pure engine: read the exports (format by extension; CSV as
text, so junk never breaks the read), report every present-but-unparseable value with its
file and 1-based data row instead of failing the run (the engine reads such values as
empty), segment, and write every input column plus the enrichment, features and
``segment_<model>``/``reason_<model>`` columns (CSV or Parquet by the output's extension;
list columns joined with ";" in CSV).

A playbook that does not validate stops the run before any input is read in full or any
output is written; the output is written to a temporary file and renamed into place, so
a failed run never leaves a half-written file behind.

Inputs segsync cannot use are refused before the run, each with one line naming the
file, line or row (:class:`OfflineError`): a CSV that is not UTF-8, empty, ragged or over
the size limits (:mod:`workers.csv_check`), and a contacts or companies file sharing no
column with what segsync reads — every row would get the fallback segments and the
output would look like a result while meaning nothing. So are output paths that cannot
be written, before the inputs are read.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from segmentation.playbook import Playbook, PlaybookError, parse_playbook, read_playbook_file
from workers.csv_check import CsvShapeError, check_csv

SHIPPED_PLAYBOOKS = ("b2b_saas", "b2c_retail")
MAX_REPORTED = 10_000  # bad values kept in the report; the count is always exact
OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq")


class OfflineError(Exception):
    """An input the offline run cannot use at all (missing file, unknown format)."""


@dataclass(frozen=True, slots=True)
class BadValue:
    """A present value that could not be read as its field's type; the row still runs."""

    file: str
    row: int
    column: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: row {self.row}: {self.column}: {self.problem}: {self.value!r}"


@dataclass(slots=True)
class OfflineReport:
    """What a run did: the engine's summary, the bad values, where the output went."""

    summary: dict[str, Any]
    output: str
    playbook: str
    bad_values: list[BadValue] = field(default_factory=list)
    bad_value_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` summary."""
        bad_rows: dict[str, set[int]] = {}
        for bad in self.bad_values:
            bad_rows.setdefault(bad.file, set()).add(bad.row)
        return {
            **self.summary,
            "playbook": self.playbook,
            "output": self.output,
            "bad_value_count": self.bad_value_count,
            "bad_rows": {f: sorted(rows) for f, rows in bad_rows.items()},
            "bad_values": [
                {
                    "file": b.file,
                    "row": b.row,
                    "column": b.column,
                    "value": b.value,
                    "problem": b.problem,
                }
                for b in self.bad_values
            ],
        }


def format_report(report: OfflineReport) -> str:
    """The human summary: rows, then per model every segment's row count and share."""
    from workers.cli.text import plural, segment_name

    summary = report.summary
    lines = [f"playbook {report.playbook} -> {report.output}"]
    for label, tables in summary["segments"].items():
        lines.append(f"{label}: {plural(summary['rows'][label], 'row')}")
        lines.append(f"  {'model / segment':<30} {'rows':>9} {'share':>7}")
        for model, rows in tables.items():
            lines.append(f"  {model}")
            lines += [
                f"    {segment_name(row['segment']):<28} {row['count']:>9,} {row['share']:>7.1%}"
                for row in rows
            ]
    if report.bad_value_count:
        lines.append(f"{plural(report.bad_value_count, 'bad value')} (read as empty; see above)")
    return "\n".join(lines)


def playbook_source(spec: str) -> tuple[str, str]:
    """``(source name, text)`` of a playbook given as a path or a shipped playbook's name."""
    path = Path(spec)
    if spec in SHIPPED_PLAYBOOKS and not path.exists():
        resource = resources.files("segmentation") / "playbooks" / f"{spec}.yaml"
        return f"{spec}.yaml", resource.read_text(encoding="utf-8")
    try:
        # Read only up to the size limit: a wrong 5 GB file is refused, not loaded.
        return str(path), read_playbook_file(path)
    except FileNotFoundError:
        shipped = ", ".join(SHIPPED_PLAYBOOKS)
        raise PlaybookError.single(
            f"no such playbook file, and not a shipped playbook ({shipped})", path=spec
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PlaybookError.single(f"cannot read playbook: {reason}", path=spec) from None


def load_shipped(name: str) -> Playbook:
    """One of the playbooks shipped with the package, by name (``b2b_saas``, ``b2c_retail``)."""
    if name not in SHIPPED_PLAYBOOKS:
        raise ValueError(f"no shipped playbook {name!r}; shipped: {', '.join(SHIPPED_PLAYBOOKS)}")
    source, text = playbook_source(name)
    return parse_playbook(text, source=source)


def scan(path: str) -> pl.LazyFrame:
    """A lazy scan of a CSV or Parquet file (format by extension).

    CSV is read as text throughout: a number with junk in it must neither make the reader
    guess a column's type wrongly nor fail the read; enrichment's parsers type it and
    :func:`bad_values` reports what they could not read.
    """
    if not Path(path).is_file():
        raise OfflineError(f"{path}: no such file")
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        try:
            check_csv(path)
        except CsvShapeError as exc:
            raise OfflineError(str(exc)) from None
        except OSError as exc:
            raise OfflineError(f"{path}: cannot read: {exc.strerror or exc}") from None
        return pl.scan_csv(path, infer_schema=False, empty_string_is_null=True)
    if suffix in (".parquet", ".pq"):
        return pl.scan_parquet(path)
    raise OfflineError(f"{path}: unknown format {suffix!r}; use .csv or .parquet")


def collect(lf: pl.LazyFrame, path: str) -> pl.DataFrame:
    """Read a scanned file; what polars still cannot read is named with its file."""
    try:
        return lf.collect()
    except pl.exceptions.PolarsError as exc:
        raise OfflineError(f"{path}: cannot read: {_first_line(str(exc))}") from None


def _schema(lf: pl.LazyFrame, path: str) -> pl.Schema:
    try:
        return lf.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise OfflineError(f"{path}: cannot read: {_first_line(str(exc))}") from None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def require_known_columns(label: str, path: str, schema: pl.Schema, book: Playbook) -> None:
    """Refuse a contacts or companies file that shares no column with what segsync reads."""
    from segmentation.rules import CANONICAL_FIELDS

    reads = set(CANONICAL_FIELDS) | set(book.fields) | book.fields_used()
    columns = schema.names()
    if reads & set(columns):
        return
    name = Path(path).name
    shown = ", ".join(repr(c) for c in columns[:6]) + (", …" if len(columns) > 6 else "")
    hint = _column_hint(columns, reads)
    if not hint:
        wanted = list(CANONICAL_FIELDS)  # declared order: the common contact fields first
        more = f" and {len(wanted) - 10} more" if len(wanted) > 10 else ""
        hint = f"name the columns as segsync does: {', '.join(wanted[:10])}{more}"
    raise OfflineError(
        f"{name}: none of its columns ({shown}) is one segsync reads for {label}, so every "
        f"row would get the fallback segments; {hint}"
    )


def _column_hint(columns: list[str], reads: set[str]) -> str:
    """The likely cause: another separator, or the CRM's labels instead of field names."""
    import difflib

    if len(columns) == 1:
        for separator in (";", "\t", "|"):
            if separator in columns[0]:
                shown = "tab" if separator == "\t" else repr(separator)
                return f"the file looks {shown}-separated; segsync reads comma-separated CSV"
    renames = []
    for column in columns:
        normal = "_".join(column.strip().lower().replace("-", " ").split())
        match = normal if normal in reads else None
        if match is None:
            close = difflib.get_close_matches(normal, sorted(reads), n=1, cutoff=0.8)
            match = close[0] if close else None
        if match is not None:
            renames.append(f"{column!r} -> {match}")
    if renames:
        return "rename the columns: " + ", ".join(renames[:6])
    return ""


def bad_values(
    frame: pl.DataFrame, file: str, declared: Mapping[str, pl.DataType]
) -> tuple[list[BadValue], int]:
    """Present-but-unparseable values of ``frame`` as read, with 1-based data row numbers.

    Canonical fields are judged by enrichment's own parsers (the ones the run uses);
    fields the playbook declares with a type by whether the value casts to it.
    """
    from segmentation.enrich import parse_report

    report = parse_report(frame)
    extra = []
    for name, dtype in declared.items():
        if name in frame.columns and frame.schema[name] == pl.String and dtype != pl.String:
            raw = frame.get_column(name)
            text = raw.str.strip_chars()
            failed = text.is_not_null() & (text != "") & raw.cast(dtype, strict=False).is_null()
            if failed.any():
                extra.append(
                    pl.DataFrame(
                        {
                            "row": failed.arg_true().cast(pl.Int64),
                            "column": [name] * int(failed.sum()),
                            "value": raw.filter(failed),
                            "problem": f"not a {dtype}",
                        }
                    )
                )
    if extra:
        report = pl.concat([report, *extra], how="vertical_relaxed").sort("row", "column")
    found = [
        BadValue(file, row + 1, column, value, problem)
        for row, column, value, problem in report.head(MAX_REPORTED).iter_rows()
    ]
    return found, report.height


def _csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV cannot hold lists: join them with ";" (the CRMs' multi-value separator)."""
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    return (
        frame.with_columns(pl.col(c).cast(pl.List(pl.String)).list.join(";") for c in lists)
        if lists
        else frame
    )


def write(frame: pl.DataFrame, path: str) -> None:
    """Write CSV or Parquet by extension, atomically (temp file, then rename)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise OfflineError(f"{path}: unknown output format {suffix!r}; use .csv or .parquet")
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OfflineError(f"{path}: cannot write in {directory}: {exc.strerror}") from None
    os.close(fd)
    try:
        if suffix == ".csv":
            _csv_ready(frame).write_csv(tmp)
        else:
            frame.write_parquet(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OfflineError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def require_writable(path: str) -> None:
    """Fail before the run, not after it, when ``path`` cannot be written."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OfflineError(f"{path}: is a folder; name the file to write")
    if not directory.is_dir():
        raise OfflineError(f"{path}: no such folder {directory}")
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise OfflineError(f"{path}: cannot write in {directory}: {exc.strerror}") from None


def run_offline(
    input_path: str,
    output_path: str,
    *,
    companies_path: str | None = None,
    deals_path: str | None = None,
    orders_path: str | None = None,
    playbook: str = "b2b_saas",
    now: datetime | None = None,
    profile_path: str | None = None,
) -> OfflineReport:
    """Read, validate, segment and write; see the module docstring for the contract."""
    now = now or datetime.now(UTC)
    if Path(output_path).suffix.lower() not in OUTPUT_SUFFIXES:
        raise OfflineError(f"{output_path}: unknown output format; use .csv or .parquet")
    for target in (output_path, profile_path):
        if target is not None:
            require_writable(target)
    paths = {
        "contacts": input_path,
        "companies": companies_path,
        "deals": deals_path,
        "orders": orders_path,
    }
    scans = {label: scan(p) for label, p in paths.items() if p is not None}
    # The engine (scipy, scikit-learn: about half a second) is imported once the inputs
    # passed their checks, so a refused file is named at once.
    from segmentation.engine import available_fields, segment

    schemas = {label: _schema(lf, paths[label] or label) for label, lf in scans.items()}
    # The playbook is checked against the fields these inputs will have (their columns,
    # enrichment, model features) before any input is read in full.
    source, text = playbook_source(playbook)
    known = available_fields(schemas["contacts"], schemas.get("companies"))
    book = parse_playbook(text, source=source, known_fields=known)
    declared = {name: spec.dtype for name, spec in book.fields.items()}
    for label in ("contacts", "companies"):
        if label in schemas:
            require_known_columns(label, paths[label] or label, schemas[label], book)

    frames: dict[str, pl.DataFrame] = {}
    bad: list[BadValue] = []
    count = 0
    for label, lf in scans.items():
        frames[label] = collect(lf, paths[label] or label)
        found, n = bad_values(frames[label], Path(paths[label] or label).name, declared)
        bad += found
        count += n
    _require_links(frames)
    result = segment(
        frames["contacts"],
        frames.get("companies"),
        frames.get("deals"),
        frames.get("orders"),
        playbook=book,
        now=now,
    )
    if book.holdout is not None:
        # Holdouts and profiles pull in scipy.stats: only runs that ask for them import it.
        from segmentation.report import add_holdouts

        result = add_holdouts(result, book)
    write(result.contacts, output_path)
    if profile_path is not None:
        from segmentation.report import build_profiles

        profiles = build_profiles(result, book)
        try:
            Path(profile_path).write_text(json.dumps(profiles, indent=2, default=str) + "\n")
        except OSError as exc:
            raise OfflineError(f"{profile_path}: cannot write: {exc.strerror or exc}") from None
    return OfflineReport(result.summary, output_path, source, bad[:MAX_REPORTED], count)


def _require_links(frames: Mapping[str, pl.DataFrame]) -> None:
    """The join keys the other files need, named plainly rather than as a polars error."""
    contacts = frames["contacts"]
    needs = {"orders": ("contact_id", "order_date", "amount"), "deals": ("company_id",)}
    for label, columns in needs.items():
        if label in frames:
            missing = [c for c in columns if c not in frames[label].columns]
            if missing:
                raise OfflineError(f"{label} file lacks column(s): {', '.join(missing)}")
    if "orders" in frames and "id" not in contacts.columns:
        raise OfflineError("contacts need an 'id' column to be matched with orders")
    if "companies" in frames and "id" not in frames["companies"].columns:
        raise OfflineError("companies need an 'id' column to be matched with contacts")
