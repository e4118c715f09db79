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
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.io.cells import Quantity
from model.io.problems import ProblemLog, fail

__all__ = [
    "Table",
    "csv_records",
    "fail_on_duplicate_columns",
    "plain_number_matrix",
    "plain_numbers",
    "read_table",
    "read_text",
    "refuse_rows_beyond",
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
        if fields and (fields[0].strip() or any(field.strip() for field in fields)):  # the first field decides most rows
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
    content_lines = itertools.islice((i for i, line in enumerate(lines) if line.strip(" \t\r\n,;")), 2)
    header_index = next(content_lines, None)
    if header_index is None:
        fail(file, None, None, f"the file holds no values; expected {what}.")
    if _SEPARATOR_LINE.fullmatch(lines[header_index].strip()):  # Excel's delimiter hint
        header_index = next(content_lines, None)
        if header_index is None:
            fail(file, None, None, f"the file has no header row; expected {what}.")
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


def refuse_rows_beyond(table: Table, max_rows: int | None, noun: str, advice: str) -> None:
    """Refuse a table with more than ``max_rows`` data rows (None: no cap).

    ``table`` need hold only the first ``max_rows + 1`` rows (``read_table(max_rows=…)``
    stops there), so a file far too long is refused without being parsed whole.

    Parameters
    ----------
    table : Table
    max_rows : int or None
    noun : str
        What a row is, plural (``"measurement rows"``).
    advice : str
        What to do instead, one sentence (``"Split the export …"``).
    """
    if max_rows is not None and len(table.rows) > max_rows:
        fail(table.file, None, None, f"the file has more than {max_rows:,} {noun}; one upload takes at most {max_rows:,}. {advice}")


def plain_numbers(cells: Sequence[str], positions: Sequence[int], quantity: Quantity) -> list[float] | None:
    """The cells at ``positions`` as floats when each is a plain valid ``quantity``; else None.

    The fast path of :meth:`model.io.cells.Quantity.parse` for large files: a cell written
    as Python's ``float`` reads it (with a trailing ``%`` where the quantity allows one),
    finite and inside the quantity's range, gives the same value ``parse`` would. Any
    other cell (a decimal comma, text, NaN, out of range …) gives None, and the caller
    reads that row cell by cell, so every problem is still named with its row and column.
    """
    try:
        if quantity.allow_percent_sign:
            values = [float(_without_percent(cells[position])) for position in positions]
        else:
            values = [float(cells[position]) for position in positions]
    except ValueError:
        return None
    low, high = quantity.low, quantity.high
    if not math.isfinite(sum(values)):  # NaN or infinity (or a sum too large: the slow path decides)
        return None
    if quantity.bounds_inclusive:
        inside = all(low <= value <= high for value in values)
    else:
        inside = all(low < value < high for value in values)
    return values if inside else None


def plain_number_matrix(rows: Sequence[Sequence[str]], positions: Sequence[int], quantity: Quantity) -> np.ndarray | None:
    """:func:`plain_numbers` of many rows at once: a ``(len(rows), len(positions))`` float array, or None.

    None as soon as one cell is not a plain valid ``quantity`` (the caller then reads row
    by row, naming each problem). Without a percent sign the cells go through ``float``
    in one pass, which is what makes a 50,000-row file quick to read.
    """
    flat = [row[position] for row in rows for position in positions]
    try:
        values = list(map(float, map(_without_percent, flat) if quantity.allow_percent_sign else flat))
    except ValueError:
        return None
    matrix = np.array(values, dtype=float).reshape(len(rows), len(positions))
    with np.errstate(invalid="ignore"):
        inside = (quantity.low <= matrix) & (matrix <= quantity.high) if quantity.bounds_inclusive else (quantity.low < matrix) & (matrix < quantity.high)
    return matrix if bool(np.isfinite(matrix).all() and inside.all()) else None


def _without_percent(cell: str) -> str:
    text = cell.strip()
    return text[:-1] if text.endswith("%") else text


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
