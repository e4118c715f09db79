"""From a path, bytes or an upload to text, lines and a delimited :class:`Table`.

UTF-8 with or without a byte-order mark is accepted; UTF-16, spreadsheets, images and
other binary files are refused with advice. Tables are comma- or semicolon-separated
(sniffed from the header row). Row numbers are file line numbers as an editor shows
them (1-based, header included), so a problem can point at the line to fix.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from model.io.problems import ProblemLog, fail

__all__ = [
    "Table",
    "csv_records",
    "fail_on_duplicate_columns",
    "read_table",
    "read_text",
    "require_rows",
    "sniff_delimiter",
    "split_lines",
    "without_trailing_empty",
]

_SEPARATOR_LINE = re.compile(r"sep=(.)")


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    name = getattr(source, "name", None)  # open files and Streamlit's UploadedFile
    return Path(name).name if isinstance(name, str) and name else "uploaded file"


def read_text(source, name: str | None, what: str) -> tuple[str, str]:
    """Text of a path, bytes or file-like object, and the file name to report.

    ``str`` is taken as a path, as in pandas. UTF-8 with or without a byte-order mark is
    accepted; UTF-16, spreadsheets, images and other binary files are refused with advice.

    Parameters
    ----------
    source : str, path-like, bytes or file-like
    name : str or None
        The file name used in messages; by default the path's or buffer's name.
    what : str
        What the file should be, for messages (``"a recipe table"``).

    Raises
    ------
    IngestError
        The file cannot be opened, is empty, or is not UTF-8 text.
    TypeError
        ``source`` is none of the accepted types (a programming error, not a file's).
    """
    file = name or _source_name(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        content = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            content = Path(source).read_bytes()
        except OSError as error:
            fail(file, None, None, f"could not open {str(source)!r} ({error.strerror or error}); expected {what}.")
    elif hasattr(source, "read"):
        content = source.read()
    else:
        raise TypeError(f"path_or_buffer must be a path, bytes or a file-like object; got {type(source).__name__}.")

    if isinstance(content, str):
        text = content.removeprefix("\ufeff")
    else:
        text = _decode(content, file)
    if not text.strip():
        fail(file, None, None, f"the file is empty; expected {what}.")
    return text, file


def _decode(content: bytes, file: str) -> str:
    save_as = "In Excel use File > Save As > 'CSV UTF-8 (comma delimited)'."
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        fail(file, None, None, f"the file is UTF-16 text (Excel's 'Unicode text'); expected UTF-8 CSV. {save_as}")
    if content.startswith(b"PK\x03\x04"):
        fail(file, None, None, f"the file is an Excel workbook or another zip archive; expected CSV text. {save_as}")
    if b"\x00" in content[:8192]:
        fail(file, None, None, "the file holds binary data (an image or a spreadsheet?); expected a CSV text file.")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        fail(
            file,
            line,
            None,
            f"byte 0x{content[error.start]:02X} is not UTF-8 text; expected a UTF-8 encoded CSV "
            f"(this one may be Latin-1 or Windows-1252). {save_as}",
        )


def split_lines(text: str) -> list[str]:
    """Lines with their line endings, split as an editor numbers them."""
    # Universal newlines but untranslated, so csv sees quoted line breaks intact and line
    # numbers match what an editor shows (str.splitlines also splits on \x0c, \x1c …).
    return io.StringIO(text, newline="").readlines()


def csv_records(lines: list[str], delimiter: str, first_line: int, file: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the file line number each starts on."""
    reader = csv.reader(lines, delimiter=delimiter)
    consumed = 0
    while True:
        line = first_line + consumed
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            fail(file, line, None, f"cannot be read as CSV ({error}); expected '{delimiter}'-separated values.")
        consumed = reader.line_num
        if any(field.strip() for field in fields):
            yield line, fields


def sniff_delimiter(header_line: str, candidates: Sequence[str]) -> str | None:
    """The candidate that splits the header row into the most columns (at least two)."""
    counts = {d: len(next(csv.reader([header_line], delimiter=d), [])) for d in candidates}
    best = max(candidates, key=lambda d: counts[d])
    return best if counts[best] > 1 else None


def without_trailing_empty(fields: list[str]) -> list[str]:
    """``fields`` without the empty cells after the last value."""
    # Spreadsheets pad rows with empty cells after the last column.
    end = len(fields)
    while end and not fields[end - 1].strip():
        end -= 1
    return fields[:end]


@dataclass
class Table:
    """A delimited table: the header and its data rows, with file line numbers."""

    file: str
    header: list[str]
    header_row: int
    rows: list[tuple[int, list[str]]]
    delimiter: str

    @property
    def decimal_comma(self) -> bool:
        """Whether a number may be written ``1,5``: only where ',' does not separate columns."""
        return self.delimiter == ";"

    def aligned_rows(self, log: ProblemLog) -> Iterator[tuple[int, list[str]]]:
        """Rows with one cell per column; others are logged as problems and skipped."""
        for row, fields in self.rows:
            cells = without_trailing_empty(fields) if len(fields) > len(self.header) else fields
            if len(cells) != len(self.header):
                hint = ""
                if self.delimiter == "," and len(cells) > len(self.header):
                    hint = " (a decimal comma? Write 1.5, not 1,5, or separate the columns with ';')"
                log.add(
                    row,
                    None,
                    f"has {len(cells)} values but the header has {len(self.header)} columns; "
                    f"expected one value per column, separated by '{self.delimiter}'{hint}.",
                )
                continue
            yield row, cells


def read_table(text: str, file: str, what: str, max_rows: int | None = None) -> Table:
    """Parse a comma- or semicolon-separated table (sniffed; a ``sep=`` line is skipped).

    With ``max_rows``, parsing stops two rows past it: enough to say the file is too long
    without reading a million rows into memory first.
    """
    lines = split_lines(text)
    # A line of bare separators is as empty as a blank line (spreadsheets write them).
    content_lines = [i for i, line in enumerate(lines) if line.strip(" \t\r\n,;")]
    if not content_lines:
        fail(file, None, None, f"the file holds no values; expected {what}.")
    header_index = content_lines[0]
    if _SEPARATOR_LINE.fullmatch(lines[header_index].strip()):  # Excel's delimiter hint
        if len(content_lines) < 2:
            fail(file, None, None, f"the file has no header row; expected {what}.")
        header_index = content_lines[1]
    header_line = lines[header_index]
    delimiter = sniff_delimiter(header_line, (",", ";"))
    if delimiter is None:
        hint = " This file is tab-separated: save it as CSV." if "\t" in header_line else ""
        fail(
            file,
            header_index + 1,
            None,
            f"the header row has a single column; expected {what} with columns separated by ',' or ';'.{hint}",
        )
    records = csv_records(lines[header_index:], delimiter, header_index + 1, file)
    records = list(records if max_rows is None else itertools.islice(records, max_rows + 3))
    if not records or records[0][0] != header_index + 1:  # e.g. a header of empty quotes
        fail(file, header_index + 1, None, f"the header row has no column names; expected {what}.")
    header_row, header_fields = records[0]
    header = [name.strip() for name in without_trailing_empty(header_fields)]
    for position, name in enumerate(header, start=1):
        if not name:
            fail(file, header_row, None, f"column {position} has no name; expected a name for every column in the header row.")
    return Table(file, header, header_row, records[1:], delimiter)


def require_rows(table: Table, noun: str) -> None:
    """Refuse a table with a header but no data rows; ``noun`` names a row (``"recipe"``)."""
    if not table.rows:
        message = f"the table has a header (row {table.header_row}) but no {noun}s below it; expected one {noun} per row."
        fail(table.file, None, None, message)


def fail_on_duplicate_columns(table: Table, keys: Sequence[str]) -> None:
    """Refuse columns whose keys coincide: they would silently shadow each other."""
    log = ProblemLog(table.file)
    first_of: dict[str, str] = {}
    for name, key in zip(table.header, keys):
        if key in first_of:
            log.add(
                table.header_row,
                name,
                f"duplicated column: it names the same thing as column {first_of[key]!r}; "
                "expected each column once. Delete or rename one of them.",
            )
        else:
            first_of[key] = name
    log.raise_if_any()
