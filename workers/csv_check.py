"""Check a CSV file's shape before polars parses it: encoding, size limits, ragged rows.

polars reports a latin-1 file as "invalid utf-8 sequence", a row with an extra field as
"found more fields than defined in 'Schema'" (no row), silently pads a row with missing
fields with empties, and spends minutes on a 50 MB header line. One streaming pass over
the bytes (numpy on 8 MB chunks, no per-row Python) names the line and row instead and
refuses oversized input after reading at most the header limit.

Quoting follows RFC 4180 as polars reads it: a separator or line break inside double
quotes belongs to the value, and ``""`` inside quotes is a literal quote. Quote parity
therefore tells whether a byte lies inside a quoted value.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAX_HEADER_BYTES = 1 << 20  # 1 MiB: thousands of column names
MAX_COLUMNS = 10_000
MAX_ROW_BYTES = 4 << 20  # 4 MiB: far above any CRM's field limits times a few hundred fields
CHUNK_BYTES = 8 << 20

QUOTE, SEPARATOR, NEWLINE, RETURN = ord('"'), ord(","), ord("\n"), ord("\r")


class CsvShapeError(ValueError):
    """A CSV file segsync refuses to parse; the message names the file, line and limit."""


@dataclass(frozen=True, slots=True)
class CsvShape:
    """What the pass found in a well-formed file."""

    columns: int
    rows: int


@dataclass(slots=True)
class _Bad:
    row: int  # 1-based data row (the header is row 0)
    offset: int  # byte offset of the row's first byte
    fields: int
    length: int


@dataclass(slots=True)
class _Scan:
    """State carried from one chunk to the next."""

    parity: int = 0  # 1 while inside a quoted value
    open_start: int = 0  # byte offset where the unfinished record began
    open_separators: int = 0  # unquoted separators seen in the unfinished record
    records: int = 0  # records finished (the header is record 0)
    columns: int = 0
    last_byte: int = NEWLINE
    open_quote: int = -1  # offset of the quote that opened the current quoted value
    first_bad: _Bad | None = None
    bad_rows: int = 0
    header: bytes = b""  # the first line, for the separator hint


def check_csv(path: str | Path) -> CsvShape:
    """Refuse what polars would misread or choke on, naming ``file:line`` and the limit.

    Raises :class:`CsvShapeError` for an empty file, a header line over
    :data:`MAX_HEADER_BYTES` or with more than :data:`MAX_COLUMNS` columns, a row over
    :data:`MAX_ROW_BYTES`, bytes that are not UTF-8, a quote that is never closed, and
    rows whose field count differs from the header's (blank lines are let through).
    """
    path = Path(path)
    name = path.name
    scan = _Scan()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        # The first read stops one byte past the header limit: a 50 MB header line is
        # refused after reading 1 MiB of it.
        chunk = fh.read(MAX_HEADER_BYTES + 1)
        if not chunk.strip(b"\xef\xbb\xbf \t\r\n"):
            raise CsvShapeError(
                f"{name}: empty file; expected a header line naming the columns "
                "(e.g. id,email,job_title,country)"
            )
        scan.header = chunk.split(b"\n", 1)[0]
        while chunk:
            _check_utf8(path, decoder, chunk, offset, final=False)
            _scan_chunk(path, scan, chunk, offset)
            offset += len(chunk)
            chunk = fh.read(CHUNK_BYTES)
    _check_utf8(path, decoder, b"", offset, final=True)
    if scan.parity:
        line, col = _position(path, scan.open_quote)
        raise CsvShapeError(
            f"{name}:{line}:{col}: this quote is never closed; a value that contains a "
            'quote must be quoted itself, with the quote doubled ("12"" pizza")'
        )
    if offset > scan.open_start:  # the last line has no line break
        _finish_last(path, scan, offset)
    if scan.records == 0:
        _header(path, scan, fields=scan.open_separators + 1, length=offset)
    if scan.first_bad is not None:
        _raise_ragged(path, scan, scan.first_bad)
    return CsvShape(columns=scan.columns, rows=max(scan.records - 1, 0))


def _check_utf8(
    path: Path, decoder: codecs.IncrementalDecoder, chunk: bytes, offset: int, *, final: bool
) -> None:
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError as exc:
        at = offset - pending + exc.start
        line, col = _position(path, at)
        byte = exc.object[exc.start]
        raise CsvShapeError(
            f"{path.name}:{line}:{col}: not UTF-8 (byte 0x{byte:02x}); save the file as "
            f"UTF-8 (Excel: 'CSV UTF-8'), or convert it: iconv -f latin1 -t utf-8 "
            f"{path.name} > utf8-{path.name}"
        ) from None


def _scan_chunk(path: Path, scan: _Scan, chunk: bytes, offset: int) -> None:
    data = np.frombuffer(chunk, dtype=np.uint8)
    quotes = data == QUOTE
    if quotes.any():
        # Parity only needs the low bit, so a wrapping uint8 running sum is enough.
        inside = (np.cumsum(quotes, dtype=np.uint8) + np.uint8(scan.parity)) & 1
        outside = inside == 0
        breaks = np.flatnonzero((data == NEWLINE) & outside)
        separators = np.flatnonzero((data == SEPARATOR) & outside)
        openers = np.flatnonzero(quotes & (inside == 1))
        if openers.size:
            scan.open_quote = offset + int(openers[-1])
        parity = int(inside[-1])
    elif scan.parity:  # the whole chunk lies inside one quoted value
        breaks = separators = np.empty(0, dtype=np.intp)
        parity = 1
    else:
        breaks = np.flatnonzero(data == NEWLINE)
        separators = np.flatnonzero(data == SEPARATOR)
        parity = 0
    if breaks.size:
        _finish_records(path, scan, data, breaks, separators, offset)
        last = int(breaks[-1])
        scan.open_start = offset + last + 1
        scan.open_separators = int(separators.size - np.searchsorted(separators, last))
    else:
        scan.open_separators += int(separators.size)
    scan.parity = parity
    scan.last_byte = int(data[-1])
    _check_open_length(path, scan, offset + len(chunk))


def _finish_records(
    path: Path,
    scan: _Scan,
    data: npt.NDArray[np.uint8],
    breaks: npt.NDArray[np.intp],
    separators: npt.NDArray[np.intp],
    offset: int,
) -> None:
    """Field counts and lengths of the records ending at ``breaks`` (relative offsets)."""
    before = np.searchsorted(separators, breaks)
    fields = np.diff(before, prepend=0) + 1
    fields[0] += scan.open_separators
    starts = np.concatenate(([scan.open_start - offset], breaks[:-1] + 1))
    lengths = breaks - starts
    # A blank line (or a lone "\r") is no ragged row: polars reads it as one row of
    # empty values, which segments like any row without data.
    previous = data[np.maximum(breaks - 1, 0)]  # the byte before each break
    previous[breaks == 0] = scan.last_byte
    blank = (lengths == 0) | ((lengths == 1) & (previous == RETURN))
    first = 0
    if scan.records == 0:
        _header(path, scan, fields=int(fields[0]), length=int(lengths[0]))
        first = 1
    wrong = np.flatnonzero(
        ((fields[first:] != scan.columns) & ~blank[first:]) | (lengths[first:] > MAX_ROW_BYTES)
    )
    if wrong.size:
        scan.bad_rows += int(wrong.size)
        if scan.first_bad is None:
            i = first + int(wrong[0])
            scan.first_bad = _Bad(
                row=scan.records + i,
                offset=offset + int(starts[i]),
                fields=int(fields[i]),
                length=int(lengths[i]),
            )
    scan.records += int(breaks.size)


def _finish_last(path: Path, scan: _Scan, size: int) -> None:
    """The final record when the file does not end with a line break."""
    fields, length = scan.open_separators + 1, size - scan.open_start
    if scan.records == 0:
        _header(path, scan, fields=fields, length=length)
        scan.records = 1
        return
    if (fields != scan.columns and length > 0) or length > MAX_ROW_BYTES:
        scan.bad_rows += 1
        if scan.first_bad is None:
            scan.first_bad = _Bad(scan.records, scan.open_start, fields, length)
    scan.records += 1


def _header(path: Path, scan: _Scan, *, fields: int, length: int) -> None:
    if length > MAX_HEADER_BYTES:
        raise CsvShapeError(
            f"{path.name}:1: the header line is longer than {MAX_HEADER_BYTES:,} bytes "
            "(segsync's limit); is this a CSV export?"
        )
    if fields > MAX_COLUMNS:
        raise CsvShapeError(
            f"{path.name}:1: the header has {fields:,} columns; segsync reads at most "
            f"{MAX_COLUMNS:,}"
        )
    scan.columns = fields


def _check_open_length(path: Path, scan: _Scan, end: int) -> None:
    """Stop reading as soon as the unfinished record is over its limit."""
    length = end - scan.open_start
    if scan.records == 0 and length > MAX_HEADER_BYTES:
        _header(path, scan, fields=scan.open_separators + 1, length=length)
    if scan.records > 0 and length > MAX_ROW_BYTES:
        line, _ = _position(path, scan.open_start)
        hint = " (a quote that is never closed?)" if scan.parity else ""
        raise CsvShapeError(
            f"{path.name}:{line}: row {scan.records} is longer than {MAX_ROW_BYTES:,} bytes "
            f"(segsync's limit){hint}"
        )


def _raise_ragged(path: Path, scan: _Scan, bad: _Bad) -> None:
    line, _ = _position(path, bad.offset)
    more = scan.bad_rows - 1
    others = f" ({more:,} more row{'s' if more != 1 else ''} like it)" if more else ""
    if bad.length > MAX_ROW_BYTES:
        raise CsvShapeError(
            f"{path.name}:{line}: row {bad.row} is longer than {MAX_ROW_BYTES:,} bytes "
            f"(segsync's limit){others}"
        )
    hint = "quote values that contain a comma"
    if scan.columns == 1 and any(sep in scan.header for sep in (b";", b"\t", b"|")):
        hint = "the file looks ';', tab or '|'-separated; segsync reads comma-separated CSV"
    raise CsvShapeError(
        f"{path.name}:{line}: row {bad.row} has {bad.fields} field"
        f"{'s' if bad.fields != 1 else ''}, the header has {scan.columns}{others}; every row "
        f"needs one value per column ({hint})"
    )


def _position(path: Path, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of ``offset``; read again only on the error path."""
    lines, line_start, done = 0, 0, 0
    with path.open("rb") as fh:
        while done < offset:
            chunk = fh.read(min(CHUNK_BYTES, offset - done))
            if not chunk:
                break
            count = chunk.count(b"\n")
            if count:
                lines += count
                line_start = done + chunk.rindex(b"\n") + 1
            done += len(chunk)
    return lines + 1, offset - line_start + 1
