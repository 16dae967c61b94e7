"""Bulk API 2.0 CSV: reading uploads with the job's delimiter and line ending, writing results.

Uploads are read strictly: a stray quote, a row with the wrong number of columns or line
endings that differ from the job's ``lineEnding`` fail the job, as they do in Salesforce.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


class CsvProblem(ValueError):
    """Why an upload cannot be read (the job's ``errorMessage``)."""


def _line_ending_ok(text: str, line_ending: str) -> bool:
    """Whether every line break outside quotes is the declared one."""
    quoted = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            if ch == "\r":
                if line_ending != "CRLF" or i + 1 >= n or text[i + 1] != "\n":
                    return False
                i += 1
            elif ch == "\n" and line_ending == "CRLF":
                return False
        i += 1
    return True


def read_upload(data: bytes, delimiter: str, line_ending: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an upload; raises CsvProblem with Salesforce's wording."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvProblem("InvalidBatch : The data is not UTF-8 encoded") from None
    if not _line_ending_ok(text, line_ending):
        raise CsvProblem(
            f"ClientInputError : LineEnding is invalid on user data. Current LineEnding setting "
            f"is {line_ending}"
        )
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=DELIMITERS[delimiter],
        strict=True,
    )
    try:
        table = [row for row in reader]
    except csv.Error as exc:
        raise CsvProblem(f"InvalidBatch : Failed to parse CSV: {exc}") from None
    if table and table[-1] == []:
        table.pop()
    if not table or not any(cell.strip() for cell in table[0]):
        raise CsvProblem("InvalidBatch : The CSV header is empty")
    header = table[0]
    rows = table[1:]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise CsvProblem(
                f"ClientInputError : LineNumber: {number}: the row has {len(row)} columns, "
                f"the header {len(header)}"
            )
    return header, rows


def write_results(
    prefix: Sequence[str], header: Sequence[str], rows: Sequence[Sequence[str]], delimiter: str
) -> str:
    """A results file: quoted ``sf__`` columns, the input header, every value quoted."""
    sep = DELIMITERS[delimiter]
    out = io.StringIO()
    head = [f'"{p}"' for p in prefix] + [_quote_if_needed(h, sep) for h in header]
    out.write(sep.join(head) + "\n")
    for row in rows:
        out.write(sep.join('"' + str(v).replace('"', '""') + '"' for v in row) + "\n")
    return out.getvalue()


def _quote_if_needed(value: str, sep: str) -> str:
    if any(ch in value for ch in (sep, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value
