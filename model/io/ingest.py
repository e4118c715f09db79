"""Read measurement and recipe files into a :class:`~model.core.schema.Dataset`.

Three input shapes (see DESIGN.md, *Data*):

1. the spectrophotometer's library export (:func:`read_instrument_export`) together with a
   recipe table (:func:`read_recipe_table`), joined by :func:`match_measurements`;
2. a tidy CSV, one row per measurement (:func:`read_tidy_csv`);
3. for prediction only, a CSV of recipes (:func:`read_recipes_for_prediction`).

:func:`load_dataset` picks the right readers for a folder or a file.

Every reader validates at this boundary and reports what a chemist can act on: the
file, the row as a text editor or spreadsheet numbers it (1-based, header included),
the column as written in the file, and what was expected. All problems found are
reported together in one :class:`IngestError`; no other exception type escapes a reader
because of the content of a file.

Scales: concentrations in weight percent (0–100; ``"0.99625%"`` and ``0.99625`` mean
the same), film thickness in µm, reflectance as a factor (0–1, may exceed 1 for
fluorescent colorants).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from pathlib import Path

import numpy as np
import pandas as pd

from model.core.schema import (
    BAND_COLUMNS,
    RECIPE_ID_COLUMN,
    SAMPLE_ID_COLUMN,
    SOURCE_COLUMN,
    THICKNESS_COLUMN,
    WAVELENGTHS_NM,
    Dataset,
)

__all__ = [
    "Problem",
    "IngestError",
    "ThicknessRule",
    "MatchEntry",
    "MatchReport",
    "is_instrument_export",
    "read_instrument_export",
    "read_recipe_table",
    "read_tidy_csv",
    "read_recipes_for_prediction",
    "match_measurements",
    "load_dataset",
]

#: An error message lists at most this many problems, then says how many more there are.
MAX_REPORTED_PROBLEMS = 50

#: Columns of the frame returned by :func:`read_instrument_export` besides the bands.
INSTRUMENT_LAB_COLUMNS = ["L_instrument", "a_instrument", "b_instrument"]

# The export's header row is found by content, because the number of metadata lines
# above it differs between instrument firmware versions.
_EXPORT_NAME_HEADER = "User Color Name"
_EXPORT_HEADER_MARKERS = (_EXPORT_NAME_HEADER, "R400 nm")

_BAND_HEADER = re.compile(r"R\s*(\d{3})(?:\s*nm)?", re.IGNORECASE)
_UNIT_SUFFIX = re.compile(r"\s*(?:[(\[]\s*(?:wt\.?\s*)?%\s*[)\]]|(?:wt\.?\s*)?%)\s*$", re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?")
_SEPARATOR_LINE = re.compile(r"sep=(.)")
_TOTAL_TOLERANCE = 1e-6  # wt %: concentrations such as 0.99625 sum with rounding error


# --------------------------------------------------------------------------------------
# Problems and the error that carries them
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    Parameters
    ----------
    file : str
        The file name as the user knows it.
    row : int or None
        1-based line number in the file (the header is a row too), as a text editor or
        spreadsheet shows it; None for a problem with the whole file.
    column : str or None
        The column name as written in the file; None when no single column is at fault.
    message : str
        What is wrong, what was expected and, where it is not obvious, what to do.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class IngestError(ValueError):
    """An input file cannot be used; ``problems`` lists every reason found.

    Parameters
    ----------
    problems : sequence of Problem
        The problems, at most :data:`MAX_REPORTED_PROBLEMS` of them.
    n_more : int
        How many further problems were found but not listed.
    """

    def __init__(self, problems: Sequence[Problem], n_more: int = 0) -> None:
        self.problems = list(problems)
        self.n_more = n_more
        lines = [str(problem) for problem in self.problems]
        if n_more:
            lines.append(f"… and {_count(n_more, 'more problem')}; fix those above first, then load the file again.")
        super().__init__("\n".join(lines))

    def __reduce__(self):
        # Workers (joblib) pickle exceptions; the default would rebuild from the message.
        return (type(self), (self.problems, self.n_more))


class _ProblemLog:
    """Collects problems of one file so that a user sees all of them at once."""

    def __init__(self, file: str, limit: int | None = MAX_REPORTED_PROBLEMS) -> None:
        self.file = file
        self.limit = limit
        self.problems: list[Problem] = []
        self.n_more = 0

    def add(self, row: int | None, column: str | None, message: str) -> None:
        if self.limit is None or len(self.problems) < self.limit:
            self.problems.append(Problem(self.file, row, column, message))
        else:
            self.n_more += 1

    def raise_if_any(self) -> None:
        if self.problems:
            raise IngestError(self.problems, self.n_more)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fail(file: str, row: int | None, column: str | None, message: str):
    """Raise at once: for problems that make the rest of the file unreadable."""
    raise IngestError([Problem(file, row, column, message)])


# --------------------------------------------------------------------------------------
# From bytes to rows
# --------------------------------------------------------------------------------------


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    name = getattr(source, "name", None)  # open files and Streamlit's UploadedFile
    return Path(name).name if isinstance(name, str) and name else "uploaded file"


def _read_text(source, name: str | None, what: str) -> tuple[str, str]:
    """Text of a path, bytes or file-like object, and the file name to report.

    ``str`` is taken as a path, as in pandas. UTF-8 with or without a byte-order mark is
    accepted; UTF-16, spreadsheets, images and other binary files are refused with advice.
    """
    file = name or _source_name(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        content = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            content = Path(source).read_bytes()
        except OSError as error:
            _fail(file, None, None, f"could not open {str(source)!r} ({error.strerror or error}); expected {what}.")
    elif hasattr(source, "read"):
        content = source.read()
    else:
        raise TypeError(f"path_or_buffer must be a path, bytes or a file-like object; got {type(source).__name__}.")

    if isinstance(content, str):
        text = content.removeprefix("\ufeff")
    else:
        text = _decode(content, file)
    if not text.strip():
        _fail(file, None, None, f"the file is empty; expected {what}.")
    return text, file


def _decode(content: bytes, file: str) -> str:
    save_as = "In Excel use File > Save As > 'CSV UTF-8 (comma delimited)'."
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        _fail(file, None, None, f"the file is UTF-16 text (Excel's 'Unicode text'); expected UTF-8 CSV. {save_as}")
    if content.startswith(b"PK\x03\x04"):
        _fail(file, None, None, f"the file is an Excel workbook or another zip archive; expected CSV text. {save_as}")
    if b"\x00" in content[:8192]:
        _fail(file, None, None, "the file holds binary data (an image or a spreadsheet?); expected a CSV text file.")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        _fail(
            file,
            line,
            None,
            f"byte 0x{content[error.start]:02X} is not UTF-8 text; expected a UTF-8 encoded CSV "
            f"(this one may be Latin-1 or Windows-1252). {save_as}",
        )


def _split_lines(text: str) -> list[str]:
    # Universal newlines but untranslated, so csv sees quoted line breaks intact and line
    # numbers match what an editor shows (str.splitlines also splits on \x0c, \x1c …).
    return io.StringIO(text, newline="").readlines()


def _records(lines: list[str], delimiter: str, first_line: int, file: str) -> Iterator[tuple[int, list[str]]]:
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
            _fail(file, line, None, f"cannot be read as CSV ({error}); expected '{delimiter}'-separated values.")
        consumed = reader.line_num
        if any(field.strip() for field in fields):
            yield line, fields


def _sniff_delimiter(header_line: str, candidates: Sequence[str]) -> str | None:
    """The candidate that splits the header row into the most columns (at least two)."""
    counts = {d: len(next(csv.reader([header_line], delimiter=d), [])) for d in candidates}
    best = max(candidates, key=lambda d: counts[d])
    return best if counts[best] > 1 else None


def _without_trailing_empty(fields: list[str]) -> list[str]:
    # Spreadsheets pad rows with empty cells after the last column.
    end = len(fields)
    while end and not fields[end - 1].strip():
        end -= 1
    return fields[:end]


@dataclass
class _Table:
    """A delimited table: the header and its data rows, with file line numbers."""

    file: str
    header: list[str]
    header_row: int
    rows: list[tuple[int, list[str]]]
    delimiter: str

    def aligned_rows(self, log: _ProblemLog) -> Iterator[tuple[int, list[str]]]:
        """Rows with one cell per column; others are logged as problems and skipped."""
        for row, fields in self.rows:
            cells = _without_trailing_empty(fields) if len(fields) > len(self.header) else fields
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


def _read_table(text: str, file: str, what: str, max_rows: int | None = None) -> _Table:
    """Parse a comma- or semicolon-separated table (sniffed; a ``sep=`` line is skipped).

    With ``max_rows``, parsing stops two rows past it: enough to say the file is too long
    without reading a million rows into memory first.
    """
    lines = _split_lines(text)
    # A line of bare separators is as empty as a blank line (spreadsheets write them).
    content_lines = [i for i, line in enumerate(lines) if line.strip(" \t\r\n,;")]
    if not content_lines:
        _fail(file, None, None, f"the file holds no values; expected {what}.")
    header_index = content_lines[0]
    if _SEPARATOR_LINE.fullmatch(lines[header_index].strip()):  # Excel's delimiter hint
        if len(content_lines) < 2:
            _fail(file, None, None, f"the file has no header row; expected {what}.")
        header_index = content_lines[1]
    header_line = lines[header_index]
    delimiter = _sniff_delimiter(header_line, (",", ";"))
    if delimiter is None:
        hint = " This file is tab-separated: save it as CSV." if "\t" in header_line else ""
        _fail(
            file,
            header_index + 1,
            None,
            f"the header row has a single column; expected {what} with columns separated by ',' or ';'.{hint}",
        )
    records = _records(lines[header_index:], delimiter, header_index + 1, file)
    records = list(records if max_rows is None else itertools.islice(records, max_rows + 3))
    if not records or records[0][0] != header_index + 1:  # e.g. a header of empty quotes
        _fail(file, header_index + 1, None, f"the header row has no column names; expected {what}.")
    header_row, header_fields = records[0]
    header = [name.strip() for name in _without_trailing_empty(header_fields)]
    for position, name in enumerate(header, start=1):
        if not name:
            _fail(file, header_row, None, f"column {position} has no name; expected a name for every column in the header row.")
    return _Table(file, header, header_row, records[1:], delimiter)


def _require_rows(table: _Table, noun: str) -> None:
    if not table.rows:
        message = f"the table has a header (row {table.header_row}) but no {noun}s below it; expected one {noun} per row."
        _fail(table.file, None, None, message)


def _fail_on_duplicate_columns(table: _Table, keys: Sequence[str]) -> None:
    """Columns whose keys coincide would silently shadow each other."""
    log = _ProblemLog(table.file)
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


# --------------------------------------------------------------------------------------
# Cells and headers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Quantity:
    """What a numeric cell must hold, for parsing and for error messages."""

    description: str  # "weight percent"
    low: float
    high: float
    range_text: str  # the allowed range as told to the user
    bounds_inclusive: bool = True
    allow_percent_sign: bool = False
    empty_hint: str = ""
    high_hint: str = ""

    def parse(self, cell: str, decimal_comma: bool) -> tuple[float | None, str | None]:
        """``(value, None)`` for a valid cell, else ``(None, message)``."""
        shown = cell.strip()
        text = shown
        if self.allow_percent_sign and text.endswith("%"):
            text = text[:-1].rstrip()
        if decimal_comma and _DECIMAL_COMMA.fullmatch(text):
            text = text.replace(",", ".")
        expected = f"expected a number ({self.description}, {self.range_text})"
        if not text:
            return None, f"{expected}, the cell is empty{self.empty_hint}."
        try:
            value = float(text)
        except ValueError:
            return None, f"{expected}, got {shown!r}."
        if math.isnan(value):
            return None, f"{expected}, got {shown!r} (not a number){self.empty_hint}."
        if math.isinf(value):
            return None, f"expected a finite number ({self.description}, {self.range_text}), got {shown!r}."
        if self.bounds_inclusive:
            too_low, too_high = value < self.low, value > self.high
        else:
            too_low, too_high = value <= self.low, value >= self.high
        if too_low or too_high:
            hint = self.high_hint if too_high else ""
            return None, f"expected a {self.description} {self.range_text}, got {shown}.{hint}"
        return value, None

    def parse_column(self, cells: Sequence[str], decimal_comma: bool) -> np.ndarray:
        """Valid values of a whole column at once, NaN where :meth:`parse` would refuse the cell.

        The fast path for large files: only the rows with a NaN need the cell-by-cell
        parser, whose messages name the row, the column and what was expected.
        """
        text = pd.Series(cells, dtype=object).astype(str).str.strip()
        if self.allow_percent_sign:
            text = text.str.removesuffix("%").str.rstrip()
        if decimal_comma:
            text = text.where(~text.str.fullmatch(_DECIMAL_COMMA.pattern), text.str.replace(",", ".", regex=False))
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            if self.bounds_inclusive:
                inside = (values >= self.low) & (values <= self.high)
            else:
                inside = (values > self.low) & (values < self.high)
        return np.where(inside & np.isfinite(values), values, np.nan)


_CONCENTRATION = _Quantity(
    "weight percent",
    0.0,
    100.0,
    "from 0 to 100",
    allow_percent_sign=True,
    empty_hint="; write 0 for a colorant the recipe does not use",
)
#: The largest reflectance factor accepted anywhere; above it a spectrum is absurd, or in percent.
MAX_REFLECTANCE = 5.0

_REFLECTANCE = _Quantity(
    "reflectance factor",
    0.0,
    MAX_REFLECTANCE,
    "from 0 to 5, usually 0–1",
    high_hint=" Values this large suggest percent: divide the spectrum by 100.",
)
_THICKNESS = _Quantity("film thickness in µm", 0.0, 1000.0, "above 0 and below 1000", bounds_inclusive=False)


def _strip_unit(header: str) -> tuple[str, bool]:
    """Colorant name from a header, and whether it carried a percent unit.

    ``GXT-10 (%)``, ``GXT-10 [%]``, ``GXT-10 wt%`` and ``GXT-10 %`` all give ``GXT-10``.
    """
    name = _UNIT_SUFFIX.sub("", header).strip()
    return name, name != header.strip()


def _column_key(header: str) -> str:
    """How two spellings of a column are compared: no unit, case and spaces ignored."""
    return re.sub(r"\s+", "", _strip_unit(header)[0]).casefold()


def _is_thickness_header(header: str) -> bool:
    # 'µ'.casefold() is the Greek mu, so both forms of the micro sign are mapped.
    key = re.sub(r"[\s_()\[\]]", "", header).casefold().replace("μ", "u")
    return key == "thicknessum"


def _band_wavelength(header: str) -> int | None:
    match = _BAND_HEADER.fullmatch(header.strip())
    return int(match.group(1)) if match else None


def _name_key(name: str) -> str:
    """How sample and recipe names are compared: case, spaces, '_' and '-' ignored.

    ``PBLUE_1`` and ``PBLUE1``, ``OPTI 6`` and ``OPTI6`` give the same key.
    """
    return re.sub(r"[\s_\-]+", "", name).casefold()


def _band_columns_by_wavelength(table_header: Sequence[str]) -> dict[int, int]:
    """Position of each grid band in a header; bands off the 400–700 nm grid are ignored."""
    grid = {int(w) for w in WAVELENGTHS_NM}
    positions: dict[int, int] = {}
    for position, header in enumerate(table_header):
        wavelength = _band_wavelength(header)
        if wavelength in grid and wavelength not in positions:
            positions[wavelength] = position
    return positions


def _missing_bands_message(present: Collection[int], style: str) -> str | None:
    missing = [style.format(int(w)) for w in WAVELENGTHS_NM if int(w) not in present]
    if not missing:
        return None
    listed = ", ".join(missing[:8]) + (", …" if len(missing) > 8 else "")
    return (
        f"missing {len(missing)} of the 31 band columns ({listed}); expected "
        f"{style.format(400)} … {style.format(700)} in 10 nm steps. Export or write the full spectrum."
    )


def _duplicated_bands(header: Sequence[str]) -> list[str]:
    seen: set[int] = set()
    duplicated = []
    for name in header:
        wavelength = _band_wavelength(name)
        if wavelength in seen:
            duplicated.append(name)
        elif wavelength is not None:
            seen.add(wavelength)
    return duplicated


def _read_bands(
    log: _ProblemLog, row: int, cells: Sequence[str], header: Sequence[str], positions: Mapping[int, int], decimal_comma: bool
) -> list[float | None]:
    """The 31 reflectances of one row; problems logged, None for a bad cell."""
    values = []
    for wavelength in WAVELENGTHS_NM:
        position = positions[int(wavelength)]
        value, error = _REFLECTANCE.parse(cells[position], decimal_comma)
        if error:
            log.add(row, header[position], error)
        values.append(value)
    return values


# --------------------------------------------------------------------------------------
# Shape 1a: the instrument export
# --------------------------------------------------------------------------------------


def _find_export_header(lines: Sequence[str]) -> int | None:
    return next((i for i, line in enumerate(lines) if all(marker in line for marker in _EXPORT_HEADER_MARKERS)), None)


def is_instrument_export(path_or_buffer, *, name: str | None = None) -> bool:
    """Whether a file is a spectrophotometer export, judged by its header row alone.

    A file is an export when a line names ``User Color Name`` and ``R400 nm`` (the header
    row :func:`read_instrument_export` looks for), whether or not its rows are valid; so a
    broken export is still told apart from a recipe table or a tidy CSV.

    Parameters
    ----------
    path_or_buffer : str, path-like, bytes or file-like
        As for :func:`read_instrument_export`.
    name : str, optional
        The file name used in messages; by default the path's or buffer's name.

    Returns
    -------
    bool

    Raises
    ------
    IngestError
        The file is not CSV text at all: empty, binary, a workbook, UTF-16 or not UTF-8.
        The problem names the file (and the row of the first byte that is not UTF-8).
    """
    text, _ = _read_text(path_or_buffer, name, "a CSV file (a spectrophotometer export, a recipe table or a tidy CSV)")
    return _find_export_header(_split_lines(text)) is not None


def read_instrument_export(path_or_buffer, *, name: str | None = None) -> pd.DataFrame:
    """Read a spectrophotometer library export (the format of ``pp-inks/Spectra.csv``).

    The file may start with a ``sep=;`` line and metadata lines. The table's header row
    is the line that names ``User Color Name`` and ``R400 nm``; the separator (``;``,
    ``,`` or tab) is sniffed from it. Columns are found by name, so their order and the
    other columns (``Index``, XYZ, sRGB …) do not matter.

    Parameters
    ----------
    path_or_buffer : str, path-like, bytes or file-like
        A ``str`` is a path. Bytes and binary buffers (an upload) are decoded as UTF-8,
        with or without a byte-order mark.
    name : str, optional
        The file name used in messages; by default the path's or buffer's name.

    Returns
    -------
    pandas.DataFrame
        One row per measurement, in file order: ``name`` (the ``User Color Name``,
        stripped), ``row`` (its line number in the file), ``L_instrument``,
        ``a_instrument``, ``b_instrument`` (the instrument's first ``L;a;b``, NaN where
        absent) and ``R400`` … ``R700`` (reflectance factor, 0–1, may exceed 1).
        ``frame.attrs["source"]`` holds the file name.

    Raises
    ------
    IngestError
        With every problem found: no header row, missing or duplicated band columns, a
        row with the wrong number of values, an empty name, a band that is not a finite
        number, negative, or above 5 (percent instead of a factor), or no data rows.

    Notes
    -----
    Bands outside the 400–700 nm / 10 nm grid (some instruments export 380–780 nm) are
    ignored.
    """
    text, file = _read_text(path_or_buffer, name, "a spectrophotometer export")
    return _parse_instrument_export(text, file)


def _parse_instrument_export(text: str, file: str) -> pd.DataFrame:
    lines = _split_lines(text)
    header_index = _find_export_header(lines)
    if header_index is None:
        _fail(
            file,
            None,
            None,
            "no header row found; expected a spectrophotometer library export whose header row "
            f"names the columns {_EXPORT_HEADER_MARKERS[0]!r} and {_EXPORT_HEADER_MARKERS[1]!r} … 'R700 nm'.",
        )
    delimiter = _sniff_delimiter(lines[header_index], (";", ",", "\t")) or ";"
    records = _records(lines[header_index:], delimiter, header_index + 1, file)
    header_row, header_fields = next(records)
    header = [cell.strip() for cell in _without_trailing_empty(header_fields)]
    table = _Table(file, header, header_row, list(records), delimiter)

    log = _ProblemLog(file)
    if _EXPORT_NAME_HEADER not in header:
        _fail(
            file,
            header_row,
            None,
            f"the header row does not split into columns at '{delimiter}'; expected a table separated "
            f"by ';' (or ',') with a column {_EXPORT_NAME_HEADER!r}.",
        )
    band_positions = _band_columns_by_wavelength(header)
    missing = _missing_bands_message(band_positions, "R{} nm")
    if missing:
        log.add(header_row, None, missing)
    for duplicate in _duplicated_bands(header):
        log.add(header_row, duplicate, "duplicated band column; expected each wavelength once.")
    log.raise_if_any()
    _require_rows(table, "measurement")

    name_position = header.index(_EXPORT_NAME_HEADER)
    lab_positions = _first_Lab_positions(header)
    decimal_comma = delimiter == ";"
    names, rows, labs, spectra = [], [], [], []
    for row, cells in table.aligned_rows(log):
        sample_name = cells[name_position].strip()
        if not sample_name:
            log.add(row, _EXPORT_NAME_HEADER, "expected a sample name, the cell is empty. Name the sample or delete the row.")
        names.append(sample_name)
        rows.append(row)
        labs.append([_lenient_number(cells[p], decimal_comma) if p is not None else np.nan for p in lab_positions])
        spectra.append(_read_bands(log, row, cells, header, band_positions, decimal_comma))
    log.raise_if_any()

    frame = pd.DataFrame({"name": names, "row": rows})
    frame[INSTRUMENT_LAB_COLUMNS] = np.asarray(labs, dtype=float)
    frame[BAND_COLUMNS] = np.asarray(spectra, dtype=float)
    frame.attrs["source"] = file
    return frame


def _first_Lab_positions(header: Sequence[str]) -> list[int | None]:
    """Positions of the first consecutive ``L, a, b`` columns (the export repeats ``L``)."""
    for position in range(len(header) - 2):
        if header[position : position + 3] == ["L", "a", "b"]:
            return [position, position + 1, position + 2]
    return [None, None, None]


def _lenient_number(cell: str, decimal_comma: bool) -> float:
    # The instrument's own CIELAB is informative only (the model uses the spectrum), so a
    # missing value there is not worth refusing a file for.
    text = cell.strip()
    if decimal_comma and _DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return np.nan


# --------------------------------------------------------------------------------------
# Shape 1b: the recipe table
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RecipeTable:
    frame: pd.DataFrame
    colorants: list[str]
    percent_marked: bool  # a percent unit in a header or a percent sign in a value


def read_recipe_table(path_or_buffer, *, name: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Read a recipe table such as ``pp-inks/Concentrations.csv``.

    The first column holds the recipe id (any header, e.g. ``Sample ID``); every other
    column is a colorant. A colorant's name is its header without a trailing unit:
    ``GXT-10 (%)``, ``GXT-10 [%]``, ``GXT-10 wt%`` and ``GXT-10 %`` all name ``GXT-10``.
    Values are weight percent, written ``0.99625%`` or ``0.99625``.

    Parameters
    ----------
    path_or_buffer : str, path-like, bytes or file-like
        Comma- or semicolon-separated (sniffed from the header), UTF-8 with or without a
        byte-order mark. With ``;`` a decimal comma (``1,5%``) is accepted too.
    name : str, optional
        The file name used in messages.

    Returns
    -------
    recipes : pandas.DataFrame
        ``recipe_id`` (str), then one float column per colorant (wt %, 0–100).
    colorants : list of str
        The colorant names, in file order.

    Raises
    ------
    IngestError
        With every problem found: fewer than two columns, duplicated columns, an empty or
        duplicated recipe id (ids that differ only in case, spaces, ``_`` or ``-`` count
        as duplicates, because matching ignores those), a value that is not a finite
        number from 0 to 100, or a recipe whose concentrations add up to more than 100 %.
    """
    text, file = _read_text(path_or_buffer, name, "a recipe table")
    table = _parse_recipe_table(text, file)
    return table.frame, table.colorants


def _parse_recipe_table(text: str, file: str) -> _RecipeTable:
    table = _read_table(text, file, "a recipe table (a recipe id column, then one column per colorant)")
    if len(table.header) < 2:
        _fail(file, table.header_row, None, "expected a recipe id column followed by at least one colorant column (wt %).")
    id_header, colorant_headers = table.header[0], table.header[1:]
    colorants, units = zip(*(_strip_unit(header) for header in colorant_headers))
    for header, colorant in zip(colorant_headers, colorants):
        if not colorant:
            _fail(file, table.header_row, header, "expected a colorant name before the unit, e.g. 'GXT-10 (%)'.")
    _fail_on_duplicate_columns(table, [id_header.casefold(), *map(_column_key, colorant_headers)])
    _require_rows(table, "recipe")

    log = _ProblemLog(file)
    decimal_comma = table.delimiter == ";"
    first_row_of_key: dict[str, tuple[int, str]] = {}
    ids, concentrations = [], []
    percent_signs = False
    for row, cells in table.aligned_rows(log):
        recipe_id = cells[0].strip()
        if not recipe_id:
            log.add(row, id_header, "expected a recipe id, the cell is empty. Fill it in or delete the row.")
        elif _name_key(recipe_id) in first_row_of_key:
            first_row, first_id = first_row_of_key[_name_key(recipe_id)]
            if first_id == recipe_id:
                same = "the same id as"
            else:
                same = f"the same id (ignoring case, spaces, '_' and '-') as {first_id!r} on"
            message = f"recipe id {recipe_id!r} is {same} row {first_row}; expected each recipe once. Merge or rename the rows."
            log.add(row, id_header, message)
        else:
            first_row_of_key[_name_key(recipe_id)] = (row, recipe_id)
        values = _read_concentrations(log, row, cells[1:], colorant_headers, decimal_comma)
        percent_signs = percent_signs or any(cell.strip().endswith("%") for cell in cells[1:])
        ids.append(recipe_id)
        concentrations.append(values)
    log.raise_if_any()

    frame = pd.DataFrame({RECIPE_ID_COLUMN: ids})
    frame[list(colorants)] = np.asarray(concentrations, dtype=float)
    return _RecipeTable(frame, list(colorants), percent_marked=any(units) or percent_signs)


def _read_concentrations(log: _ProblemLog, row: int, cells: Sequence[str], headers: Sequence[str], decimal_comma: bool):
    """Concentrations of one recipe (wt %); problems logged, None for a bad cell."""
    values = []
    for header, cell in zip(headers, cells):
        value, error = _CONCENTRATION.parse(cell, decimal_comma)
        if error:
            log.add(row, header, error)
        values.append(value)
    if None not in values and sum(values) > 100.0 + _TOTAL_TOLERANCE:
        log.add(
            row,
            None,
            f"the concentrations add up to {sum(values):g} %; expected at most 100 % "
            "(the rest of the film is binder). Check for a misplaced decimal point.",
        )
    return values


# --------------------------------------------------------------------------------------
# Shape 2: the tidy CSV
# --------------------------------------------------------------------------------------

_TIDY_ID_COLUMNS = (SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN)


def read_tidy_csv(path_or_buffer, *, name: str | None = None) -> Dataset:
    """Read a tidy CSV: one row per measurement.

    Columns ``sample_id, recipe_id, <colorants…>, thickness_um, R400 … R700`` and
    optionally ``source``, in any order. Every other column is a colorant (wt %), named
    by its header without a unit. :meth:`Dataset.to_tidy_csv` writes this shape.

    Parameters
    ----------
    path_or_buffer : str, path-like, bytes or file-like
        Comma- or semicolon-separated (sniffed), UTF-8 with or without a byte-order mark.
    name : str, optional
        The file name used in messages and as the dataset's name.

    Returns
    -------
    Dataset
        Rows in file order; ``source`` is the file name where the file has no such column.

    Raises
    ------
    IngestError
        With every problem found: a missing or duplicated column, no colorant column, an
        empty or repeated ``sample_id``, an empty ``recipe_id``, one ``recipe_id`` with
        different concentrations on different rows, a concentration that is not a
        finite number from 0 to 100 or a recipe above 100 % in total, a thickness not
        above 0 and below 1000 µm, a band that is not a finite number from 0 to 5.
    """
    text, file = _read_text(path_or_buffer, name, "a tidy measurement CSV")
    return _parse_tidy(text, file)


def _parse_tidy(text: str, file: str) -> Dataset:
    what = f"a tidy measurement CSV ({', '.join(_TIDY_ID_COLUMNS)}, colorants, {THICKNESS_COLUMN}, R400 … R700)"
    table = _read_table(text, file, what)
    header = table.header
    known = {SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, THICKNESS_COLUMN, SOURCE_COLUMN}
    band_positions = _band_columns_by_wavelength(header)

    keys = []
    colorant_positions: dict[str, int] = {}
    for position, column in enumerate(header):
        if column.casefold() in known:
            keys.append(column.casefold())
        elif _band_wavelength(column) is not None:
            keys.append(f"R{_band_wavelength(column)}")
        else:
            keys.append(_column_key(column))
            colorant_positions[_strip_unit(column)[0]] = position
    _fail_on_duplicate_columns(table, keys)

    log = _ProblemLog(file)
    for required in (*_TIDY_ID_COLUMNS, THICKNESS_COLUMN):
        if required not in keys:
            log.add(table.header_row, required, f"missing column; expected {what}.")
    missing_bands = _missing_bands_message(band_positions, "R{}")
    if missing_bands:
        log.add(table.header_row, None, missing_bands)
    if not colorant_positions:
        log.add(
            table.header_row,
            None,
            "no colorant column; expected at least one column of weight percent besides "
            f"{', '.join(sorted(known))} and the bands.",
        )
    log.raise_if_any()
    _require_rows(table, "measurement")

    position_of = {key: position for position, key in enumerate(keys)}
    colorant_headers = [header[p] for p in colorant_positions.values()]
    decimal_comma = table.delimiter == ";"
    sample_rows: dict[str, int] = {}
    recipe_first_seen: dict[str, tuple[int, list]] = {}
    records = []
    for row, cells in table.aligned_rows(log):
        sample_id = cells[position_of[SAMPLE_ID_COLUMN]].strip()
        recipe_id = cells[position_of[RECIPE_ID_COLUMN]].strip()
        if not sample_id:
            log.add(row, header[position_of[SAMPLE_ID_COLUMN]], "expected a sample id, the cell is empty.")
        elif sample_id in sample_rows:
            log.add(
                row,
                header[position_of[SAMPLE_ID_COLUMN]],
                f"sample id {sample_id!r} is already used on row {sample_rows[sample_id]}; expected unique ids. "
                f"Give repeated readings their own ids, e.g. {sample_id + '-2'!r}.",
            )
        else:
            sample_rows[sample_id] = row
        if not recipe_id:
            log.add(row, header[position_of[RECIPE_ID_COLUMN]], "expected a recipe id, the cell is empty.")
        concentrations = _read_concentrations(
            log, row, [cells[p] for p in colorant_positions.values()], colorant_headers, decimal_comma
        )
        if recipe_id and None not in concentrations:
            first_row, first_concentrations = recipe_first_seen.setdefault(recipe_id, (row, concentrations))
            if not np.allclose(first_concentrations, concentrations, rtol=0, atol=1e-9):
                log.add(
                    row,
                    None,
                    f"recipe {recipe_id!r} has different concentrations here than on row {first_row}; "
                    "expected one recipe per recipe_id. Give the changed recipe its own id.",
                )
        thickness_column = header[position_of[THICKNESS_COLUMN]]
        thickness, error = _THICKNESS.parse(cells[position_of[THICKNESS_COLUMN]], decimal_comma)
        if error:
            log.add(row, thickness_column, error)
        bands = _read_bands(log, row, cells, header, band_positions, decimal_comma)
        source = cells[position_of[SOURCE_COLUMN]].strip() if SOURCE_COLUMN in position_of else file
        records.append([sample_id, recipe_id, *concentrations, thickness, *bands, source])
    log.raise_if_any()

    colorants = list(colorant_positions)
    columns = [SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *colorants, THICKNESS_COLUMN, *BAND_COLUMNS, SOURCE_COLUMN]
    frame = pd.DataFrame(records, columns=columns)
    frame[[*colorants, THICKNESS_COLUMN, *BAND_COLUMNS]] = frame[[*colorants, THICKNESS_COLUMN, *BAND_COLUMNS]].astype(float)
    return Dataset(frame, tuple(colorants), name=Path(file).stem)


# --------------------------------------------------------------------------------------
# Shape 3: recipes to predict
# --------------------------------------------------------------------------------------


def read_recipes_for_prediction(
    path_or_buffer, colorants: Sequence[str], *, name: str | None = None, max_rows: int | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Read a CSV of recipes to predict: ``<colorant columns…>, thickness_um``.

    A colorant column may be headed by the model's name or with a unit (``GXT-10`` or
    ``GXT-10 (%)``; case and spaces are ignored). The thickness column may be headed
    ``thickness_um`` or ``thickness (µm)``. Other columns (``name``, ``sample_id`` …) are
    passed through, so the predictions can be written back in the shape they came in.

    Parameters
    ----------
    path_or_buffer : str, path-like, bytes or file-like
        Comma- or semicolon-separated (sniffed), UTF-8 with or without a byte-order mark.
    colorants : sequence of str
        The model's colorants (``model.colorants_``), in its input order.
    name : str, optional
        The file name used in messages.
    max_rows : int, optional
        The most recipes accepted in one file.

    Returns
    -------
    recipes : pandas.DataFrame
        The valid rows, in file order: passthrough columns (text, as in the file), then
        ``colorants`` (wt %, float) and ``thickness_um`` (µm, float).
    problems : list of Problem
        One or more per row left out, naming its row and column and what was expected.

    Raises
    ------
    IngestError
        For the whole file: unreadable, no header or no rows, a required column missing
        or given twice, an extra column that looks like a colorant (a percent unit in its
        header or percent signs in its cells) the model does not know, or more than
        ``max_rows`` recipes.

    Warns
    -----
    UserWarning
        For an extra column of numbers the model does not know: it is passed through and
        does not change the prediction, which may not be what the user meant.
    """
    text, file = _read_text(path_or_buffer, name, "a CSV of recipes")
    colorants = list(colorants)
    table = _read_table(text, file, f"a CSV of recipes ({', '.join(colorants)}, {THICKNESS_COLUMN})", max_rows)
    if max_rows is not None and len(table.rows) > max_rows:
        count = f"{len(table.rows)}" if len(table.rows) == max_rows + 1 else f"more than {max_rows + 1}"
        _fail(
            file,
            None,
            None,
            f"the file has {count} recipes; expected at most {max_rows} in one file. "
            f"Split it into files of at most {max_rows} rows.",
        )
    _require_rows(table, "recipe")

    colorant_of_key = {_column_key(colorant): colorant for colorant in colorants}
    role_of_position: dict[int, str] = {}  # a colorant name, THICKNESS_COLUMN or "" for passthrough
    for position, header in enumerate(table.header):
        if _is_thickness_header(header):
            role_of_position[position] = THICKNESS_COLUMN
        else:
            role_of_position[position] = colorant_of_key.get(_column_key(header), "")
    keys = [role or f"passthrough {position}" for position, role in role_of_position.items()]
    _fail_on_duplicate_columns(table, keys)
    _check_prediction_columns(table, role_of_position, colorants)

    log = _ProblemLog(file, limit=None)  # every left-out row must be reported
    decimal_comma = table.delimiter == ";"
    passthrough_positions = [p for p, role in role_of_position.items() if not role]
    position_of_role = {role: p for p, role in role_of_position.items() if role}
    colorant_positions = [position_of_role[colorant] for colorant in colorants]
    thickness_position = position_of_role[THICKNESS_COLUMN]
    aligned = list(table.aligned_rows(log))
    columns = list(zip(*(cells for _, cells in aligned))) if aligned else [()] * len(table.header)
    # Every cell at once; a row that fails anywhere is re-read cell by cell for its messages.
    concentrations = np.column_stack(
        [_CONCENTRATION.parse_column(columns[p], decimal_comma) for p in colorant_positions]
    ).reshape(len(aligned), len(colorants))
    thickness = _THICKNESS.parse_column(columns[thickness_position], decimal_comma)
    valid = np.isfinite(concentrations).all(axis=1) & np.isfinite(thickness)
    valid &= concentrations.sum(axis=1) <= 100.0 + _TOTAL_TOLERANCE
    for index in np.flatnonzero(~valid):
        row, cells = aligned[index]
        _read_concentrations(log, row, [cells[p] for p in colorant_positions], [table.header[p] for p in colorant_positions], decimal_comma)
        _, error = _THICKNESS.parse(cells[thickness_position], decimal_comma)
        if error:
            log.add(row, table.header[thickness_position], error)

    passthrough = [table.header[p] for p in passthrough_positions]
    frame = pd.DataFrame({header: [str(columns[p][i]).strip() for i in np.flatnonzero(valid)] for header, p in zip(passthrough, passthrough_positions)})
    values = pd.DataFrame(np.column_stack([concentrations, thickness])[valid], columns=[*colorants, THICKNESS_COLUMN])
    frame = pd.concat([frame, values], axis=1) if passthrough else values
    return frame, sorted(log.problems, key=lambda problem: (problem.row or 0))


def _check_prediction_columns(table: _Table, role_of_position: Mapping[int, str], colorants: Sequence[str]) -> None:
    log = _ProblemLog(table.file)
    present = set(role_of_position.values())
    extra_headers = [table.header[p] for p, role in role_of_position.items() if not role]
    for required in (*colorants, THICKNESS_COLUMN):
        if required not in present:
            unit = "film thickness in µm" if required == THICKNESS_COLUMN else "weight percent"
            hint = _closest_hint(required, extra_headers)
            log.add(table.header_row, required, f"missing column; expected a column {required!r} ({unit}).{hint}")
    unknown_numeric_headers = []
    for position, role in role_of_position.items():
        if role:
            continue
        header = table.header[position]
        cells = [fields[position].strip() for _, fields in table.rows if position < len(fields)]
        if _strip_unit(header)[1] or any(cell.endswith("%") for cell in cells):
            log.add(
                table.header_row,
                header,
                f"looks like a colorant (it is in percent) but the model knows only {', '.join(colorants)}; "
                "expected only those. Remove the column, or train a model on data that includes it.",
            )
        elif cells and all(_is_number(cell) for cell in cells if cell):
            unknown_numeric_headers.append(header)
    log.raise_if_any()
    for header in unknown_numeric_headers:
        warnings.warn(
            f"{table.file}: column {header!r} is not one of the model's colorants ({', '.join(colorants)}); "
            "it is passed through unchanged and does not affect the prediction.",
            UserWarning,
            stacklevel=3,
        )


def _closest_hint(wanted: str, headers: Sequence[str]) -> str:
    close = get_close_matches(_column_key(wanted), [_column_key(h) for h in headers], n=1, cutoff=0.6)
    if not close:
        return ""
    header = next(h for h in headers if _column_key(h) == close[0])
    return f" The column {header!r} may be it: rename it to {wanted!r}."


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", "."))
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------
# Matching the export to the recipe table
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThicknessRule:
    """How a measured name encodes the film thickness.

    A name ending in one of ``suffixes`` (after trailing spaces are stripped; case
    sensitive) is a film of that thickness, and its recipe is the name without the suffix
    (and without the spaces before it). Any other name is ``default_um`` thick.

    Parameters
    ----------
    suffixes : mapping of str to float
        Suffix → thickness in µm. The default ``{"H": 12.0}`` reads ``OPTI7H`` and
        ``F052F H`` as 12 µm films of ``OPTI7`` and ``F052F``. Longer suffixes are tried
        first.
    default_um : float
        Thickness in µm of a name without a suffix.

    Examples
    --------
    >>> ThicknessRule().split("F052F H")
    ('F052F', 12.0)
    >>> ThicknessRule({"-thick": 20.0}, default_um=10.0).split("OPTI7-thick")
    ('OPTI7', 20.0)
    """

    suffixes: Mapping[str, float] = field(default_factory=lambda: {"H": 12.0})
    default_um: float = 8.0

    def __post_init__(self) -> None:
        thicknesses = [*self.suffixes.values(), self.default_um]
        if not all(self.suffixes) or not all(0 < float(t) < 1000 for t in thicknesses):
            raise ValueError(
                f"ThicknessRule(suffixes={dict(self.suffixes)!r}, default_um={self.default_um!r}): expected "
                "non-empty suffixes and thicknesses above 0 and below 1000 µm."
            )

    def split(self, name: str) -> tuple[str, float]:
        """``(recipe name, thickness in µm)`` encoded by a measured name."""
        stripped = name.strip()
        for suffix in sorted(self.suffixes, key=len, reverse=True):
            if stripped.endswith(suffix) and len(stripped) > len(suffix):
                return stripped[: -len(suffix)].rstrip(), float(self.suffixes[suffix])
        return stripped, float(self.default_um)


MATCHED = "matched"
ACCEPTED = "accepted suggestion"
SUGGESTED = "suggested"
UNMATCHED = "unmatched"
DUPLICATE = "duplicate"
SUSPECT = "suspect"


@dataclass(frozen=True)
class MatchEntry:
    """One measured row in a :class:`MatchReport`.

    ``status`` is ``"matched"``, ``"accepted suggestion"``, ``"suggested"`` (a near miss
    not accepted: left out of the dataset), ``"unmatched"``, or, in the duplicates and
    suspect lists, ``"duplicate"`` and ``"suspect"``.
    """

    measured_name: str
    row: int | None
    recipe_id: str | None
    thickness_um: float
    status: str
    reason: str

    def describe(self) -> str:
        target = f" → {self.recipe_id}" if self.recipe_id is not None else ""
        return f"{self.measured_name} (row {self.row}){target} at {self.thickness_um:g} µm: {self.reason}"


@dataclass
class MatchReport:
    """What became of each measured row when it was matched to the recipe table.

    Every measured row is in exactly one of ``matched`` (status ``matched`` or
    ``accepted suggestion``; these are in the dataset), ``suggested`` (a near miss not
    accepted) and ``unmatched``. ``duplicates`` and ``suspect`` flag rows again; they
    are kept as their status says.

    Attributes
    ----------
    source : str
        The export's file name.
    matched, suggested, unmatched, duplicates, suspect : list of MatchEntry
    unmeasured_recipes : list of str
        Recipe ids with no measurement in the dataset.
    notes : list of str
        How the inputs were chosen (set by :func:`load_dataset`).
    """

    source: str
    matched: list[MatchEntry] = field(default_factory=list)
    suggested: list[MatchEntry] = field(default_factory=list)
    unmatched: list[MatchEntry] = field(default_factory=list)
    duplicates: list[MatchEntry] = field(default_factory=list)
    suspect: list[MatchEntry] = field(default_factory=list)
    unmeasured_recipes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> list[MatchEntry]:
        """The suggestions that were accepted into the dataset."""
        return [entry for entry in self.matched if entry.status == ACCEPTED]

    def to_frame(self) -> pd.DataFrame:
        """One row per measured row, in file order.

        Columns ``row, measured_name, recipe_id, thickness_um, status, reason``, then
        ``duplicate`` and ``suspect`` holding the reason for that flag ("" if none).
        """
        flags = {DUPLICATE: self.duplicates, SUSPECT: self.suspect}
        reason_by_row = {kind: {(e.row, e.measured_name): e.reason for e in entries} for kind, entries in flags.items()}
        rows = []
        for entry in sorted(self.matched + self.suggested + self.unmatched, key=lambda e: (e.row is None, e.row)):
            key = (entry.row, entry.measured_name)
            rows.append(
                {
                    "row": entry.row,
                    "measured_name": entry.measured_name,
                    "recipe_id": entry.recipe_id,
                    "thickness_um": entry.thickness_um,
                    "status": entry.status,
                    "reason": entry.reason,
                    DUPLICATE: reason_by_row[DUPLICATE].get(key, ""),
                    SUSPECT: reason_by_row[SUSPECT].get(key, ""),
                }
            )
        columns = ["row", "measured_name", "recipe_id", THICKNESS_COLUMN, "status", "reason", DUPLICATE, SUSPECT]
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> str:
        """A plain-text account for a person: counts, then each row that needs a look."""
        in_dataset = self.matched
        thickness_counts = pd.Series([e.thickness_um for e in in_dataset], dtype=float).value_counts().sort_index()
        by_thickness = ", ".join(f"{count} at {thickness:g} µm" for thickness, count in thickness_counts.items())
        n_rows = len(self.matched) + len(self.suggested) + len(self.unmatched)
        n_recipes = len({e.recipe_id for e in in_dataset})
        lines = [
            f"{self.source}: {n_rows} measured rows; {len(in_dataset)} in the dataset "
            f"({n_recipes} recipes; {by_thickness or 'none'}).",
            *self.notes,
            f"Matched by name: {len(self.matched) - len(self.accepted)}.",
        ]
        sections = [
            ("Accepted suggestions", self.accepted),
            ("Suggestions not accepted, left out", self.suggested),
            ("Unmatched, left out", self.unmatched),
            ("Duplicate readings, all kept", self.duplicates),
            ("Suspect, kept as named: please check", self.suspect),
        ]
        for title, entries in sections:
            lines.append(f"{title} ({len(entries)}):" if entries else f"{title}: none.")
            lines.extend(f"  {entry.describe()}" for entry in entries)
        unmeasured = ", ".join(self.unmeasured_recipes) or "none"
        lines.append(f"Recipes without a measurement in the dataset: {unmeasured}.")
        return "\n".join(lines)


# Characters that are easily typed or read for one another in sample names.
_LOOKALIKE = str.maketrans({"o": "0", "l": "1", "i": "1", "s": "5"})


def _lookalike_key(key: str) -> str:
    return key.translate(_LOOKALIKE)


def _is_truncation(short: str, long: str) -> bool:
    """``long`` is ``short`` with leading letters or zeros in front (``52c``/``f052c``)."""
    return len(long) > len(short) > 0 and long.endswith(short) and re.fullmatch(r"[a-z0]+", long[: -len(short)]) is not None


class _RecipeFinder:
    """Finds the recipe a measured base name refers to, exactly or as a near miss.

    A near miss is offered only when one recipe qualifies; the tests run in order and the
    first that finds any candidate decides:

    1. look-alike characters: 0/O, 1/I/l, 5/S (``BiVaO5`` ↔ ``BiVa05``);
    2. truncation: one name is the other with leading letters or zeros dropped
       (``52C`` ↔ ``F052C``).
    """

    def __init__(self, recipe_ids: Sequence[str]) -> None:
        self.ids_by_key: dict[str, list[str]] = defaultdict(list)
        self.ids_by_lookalike: dict[str, list[str]] = defaultdict(list)
        for recipe_id in recipe_ids:
            self.ids_by_key[_name_key(recipe_id)].append(recipe_id)
            self.ids_by_lookalike[_lookalike_key(_name_key(recipe_id))].append(recipe_id)

    def find(self, base: str) -> tuple[str | None, str, str]:
        """``(recipe id or None, status, reason)`` for a measured base name."""
        key = _name_key(base)
        exact = self.ids_by_key.get(key, [])
        if len(exact) == 1:
            same = "same name" if exact[0] == base else "same name once case, spaces, '_' and '-' are ignored"
            return exact[0], MATCHED, same
        if len(exact) > 1:
            return None, UNMATCHED, f"several recipes share this name ({', '.join(exact)}); rename all but one."

        near_misses = [
            (
                self.ids_by_lookalike.get(_lookalike_key(key), []),
                "{base!r} and {recipe!r} differ only in look-alike characters (0/O, 1/I/l, 5/S)",
            ),
            (
                [r for k, ids in self.ids_by_key.items() if _is_truncation(key, k) or _is_truncation(k, key) for r in ids],
                "{base!r} and {recipe!r} differ only by leading letters or zeros",
            ),
        ]
        for candidates, reason in near_misses:
            if len(candidates) == 1:
                return candidates[0], SUGGESTED, reason.format(base=base, recipe=candidates[0])
            if len(candidates) > 1:
                close = ", ".join(candidates)
                return None, UNMATCHED, f"no recipe named {base!r}; several are close ({close}), so none is suggested."
        return None, UNMATCHED, f"no recipe named {base!r} or spelled alike in the recipe table."


# A row whose thickness differs from this many rows on each side sits inside a block of
# the other thickness: labs measure films in blocks, so it is probably mislabeled.
_BLOCK_HALF_WIDTH = 2


def match_measurements(
    measurements: pd.DataFrame,
    recipes: pd.DataFrame,
    colorants: Sequence[str],
    *,
    thickness_rule: ThicknessRule | None = None,
    accept_suggestions: bool = False,
    accept: Collection[str] | None = None,
    source: str | None = None,
) -> tuple[Dataset, MatchReport]:
    """Join measured spectra to their recipes by name, and report how each row fared.

    Each measured name is split by ``thickness_rule`` into a recipe name and a thickness.
    The recipe name matches a recipe id when the two are equal once case, spaces, ``_``
    and ``-`` are ignored (``PBLUE_1`` = ``PBLUE1``, ``OPTI6`` = ``OPTI 6``). A name
    that matches none but is a near miss of exactly one id is *suggested*: it differs
    only in look-alike characters (``BiVaO5`` / ``BiVa05``) or by leading letters or
    zeros (``52C`` / ``F052C``). A suggestion enters the dataset only when accepted.

    Parameters
    ----------
    measurements : pandas.DataFrame
        As returned by :func:`read_instrument_export`: ``name``, ``row``, ``R400`` …
        ``R700``; ``L_instrument`` … are carried along when present.
    recipes : pandas.DataFrame
        ``recipe_id`` and the ``colorants`` columns (wt %), as from :func:`read_recipe_table`.
    colorants : sequence of str
        The colorant columns of ``recipes`` to use, in model input order.
    thickness_rule : ThicknessRule, optional
        Default ``ThicknessRule()``: a trailing ``H`` is 12 µm, otherwise 8 µm.
    accept_suggestions : bool
        Accept every suggestion.
    accept : collection of str, optional
        Measured names (as in the export; compared ignoring case, spaces, ``_``, ``-``)
        whose suggestion is accepted.
    source : str, optional
        Provenance for the ``source`` column; default ``measurements.attrs["source"]``.

    Returns
    -------
    dataset : Dataset
        The matched and accepted rows, in file order: ``sample_id`` (the measured name,
        with `` (row N)`` added where one name was measured more than once),
        ``recipe_id``, the colorants, ``thickness_um``, the bands, ``source`` and the
        instrument's CIELAB columns when present.
    report : MatchReport
        Every measured row, with duplicates (one recipe measured more than once at one
        thickness) and suspect rows (named for one thickness but inside a block of rows
        of the other; or a name with a thickness suffix that is itself a recipe id).

    Raises
    ------
    ValueError
        If ``measurements`` or ``recipes`` lack the columns named above.
    """
    rule = thickness_rule or ThicknessRule()
    colorants = tuple(colorants)
    missing = [c for c in ("name", "row", *BAND_COLUMNS) if c not in measurements.columns]
    missing += [c for c in (RECIPE_ID_COLUMN, *colorants) if c not in recipes.columns]
    if missing:
        raise ValueError(
            f"match_measurements: columns {missing} are missing; "
            "expected the frames of read_instrument_export and read_recipe_table."
        )
    source = source or measurements.attrs.get("source", "measurements")
    accepted_keys = {_name_key(name) for name in accept or ()}
    recipe_ids = recipes[RECIPE_ID_COLUMN].astype(str).tolist()
    finder = _RecipeFinder(recipe_ids)

    entries = []
    for name, row in zip(measurements["name"].astype(str), measurements["row"]):
        base, thickness_um = rule.split(name)
        recipe_id, status, reason = finder.find(base)
        if status == SUGGESTED and (accept_suggestions or _name_key(name) in accepted_keys):
            status = ACCEPTED
        entries.append(MatchEntry(name, int(row), recipe_id, thickness_um, status, reason))

    report = MatchReport(
        source=source,
        matched=[e for e in entries if e.status in (MATCHED, ACCEPTED)],
        suggested=[e for e in entries if e.status == SUGGESTED],
        unmatched=[e for e in entries if e.status == UNMATCHED],
        duplicates=_duplicates(entries),
        suspect=_suspects(entries, rule, finder),
    )
    included = [position for position, e in enumerate(entries) if e.status in (MATCHED, ACCEPTED)]
    measured_recipes = {entries[p].recipe_id for p in included}
    report.unmeasured_recipes = [r for r in dict.fromkeys(recipe_ids) if r not in measured_recipes]
    return _matched_dataset(measurements, recipes, colorants, entries, included, source), report


def _reading_groups(entries: Sequence[MatchEntry]) -> dict[tuple[str, float], list[MatchEntry]]:
    """Rows grouped by what they measure: recipe (or unmatched base name) and thickness."""
    groups: dict[tuple[str, float], list[MatchEntry]] = defaultdict(list)
    for entry in entries:
        what = entry.recipe_id if entry.recipe_id is not None else f"unmatched {_name_key(entry.measured_name)}"
        groups[(what, entry.thickness_um)].append(entry)
    return groups


def _duplicates(entries: Sequence[MatchEntry]) -> list[MatchEntry]:
    duplicates = []
    for (_, thickness_um), group in _reading_groups(entries).items():
        if len(group) < 2:
            continue
        what = group[0].recipe_id or group[0].measured_name
        rows = ", ".join(str(e.row) for e in group)
        reason = f"{len(group)} readings of {what} at {thickness_um:g} µm (rows {rows}); all kept"
        duplicates.extend(replace(entry, status=DUPLICATE, reason=reason) for entry in group)
    return sorted(duplicates, key=lambda e: e.row)


def _suspects(entries: Sequence[MatchEntry], rule: ThicknessRule, finder: _RecipeFinder) -> list[MatchEntry]:
    """Rows whose name may not say what was measured; they are kept as named."""
    groups = _reading_groups(entries)
    suspects = []
    for position, entry in enumerate(entries):
        reasons = []
        block_reason = _block_mismatch(entries, position, groups)
        if block_reason:
            reasons.append(block_reason)
        base, _ = rule.split(entry.measured_name)
        whole_name_ids = finder.ids_by_key.get(_name_key(entry.measured_name), [])
        if base != entry.measured_name.strip() and whole_name_ids:
            reasons.append(
                f"the whole name is also the recipe {whole_name_ids[0]!r}; the thickness rule read it as "
                f"{base!r} at {entry.thickness_um:g} µm. Pass a ThicknessRule if that is wrong"
            )
        if reasons:
            suspects.append(replace(entry, status=SUSPECT, reason="; ".join(reasons)))
    return suspects


def _block_mismatch(entries: Sequence[MatchEntry], position: int, groups) -> str | None:
    """Why the row at ``position`` looks like a film of the other thickness, or None.

    Labs measure films in blocks of one thickness, so a row named for one thickness
    between rows of the other is doubtful, but only if relabelling it would fill a gap:
    its recipe has no reading at the other thickness (``PG1`` among the 12 µm rows, with
    no ``PG1H`` anywhere). A recipe measured at both thicknesses in turn is not suspect.
    """
    entry = entries[position]
    before = entries[max(0, position - _BLOCK_HALF_WIDTH) : position]
    after = entries[position + 1 : position + 1 + _BLOCK_HALF_WIDTH]
    neighbours = [*before, *after]
    neighbour_thicknesses = {e.thickness_um for e in neighbours}
    if len(neighbours) <= _BLOCK_HALF_WIDTH or len(neighbour_thicknesses) != 1 or entry.thickness_um in neighbour_thicknesses:
        return None
    other_um = neighbour_thicknesses.pop()
    reason = (
        f"named as {entry.thickness_um:g} µm but rows {neighbours[0].row}–{neighbours[-1].row} around it "
        f"are all {other_um:g} µm, so it may be mislabeled"
    )
    if entry.recipe_id is None:
        return reason
    if groups.get((entry.recipe_id, other_um)):
        return None
    reason += f"; {entry.recipe_id} has no {other_um:g} µm reading"
    others = [str(e.row) for e in groups[(entry.recipe_id, entry.thickness_um)] if e is not entry]
    if others:
        reason += f" and another {entry.thickness_um:g} µm one (row {', '.join(others)})"
    return reason


def _matched_dataset(measurements, recipes, colorants, entries, included, source) -> Dataset:
    chosen = [entries[p] for p in included]
    name_counts = pd.Series([e.measured_name for e in chosen]).value_counts()
    sample_ids = [e.measured_name if name_counts[e.measured_name] == 1 else f"{e.measured_name} (row {e.row})" for e in chosen]
    recipe_ids = [e.recipe_id for e in chosen]
    # Ambiguous ids never match, so the ids that did are unique in the table.
    concentrations = recipes.assign(**{RECIPE_ID_COLUMN: recipes[RECIPE_ID_COLUMN].astype(str)})
    concentrations = concentrations.drop_duplicates(RECIPE_ID_COLUMN, keep=False).set_index(RECIPE_ID_COLUMN)[list(colorants)]

    measured = measurements.iloc[included].reset_index(drop=True)
    table = pd.DataFrame({SAMPLE_ID_COLUMN: sample_ids, RECIPE_ID_COLUMN: recipe_ids})
    table[list(colorants)] = concentrations.loc[recipe_ids].to_numpy(dtype=float) if chosen else np.empty((0, len(colorants)))
    table[THICKNESS_COLUMN] = [e.thickness_um for e in chosen]
    table[BAND_COLUMNS] = measured[BAND_COLUMNS].to_numpy(dtype=float)
    table[SOURCE_COLUMN] = source
    for column in INSTRUMENT_LAB_COLUMNS:
        if column in measured.columns:
            table[column] = measured[column].to_numpy(dtype=float)
    return Dataset(table, colorants, name=Path(source).stem)


# --------------------------------------------------------------------------------------
# Loading a folder or a file
# --------------------------------------------------------------------------------------


def load_dataset(
    path, *, accept_suggestions: bool = True, thickness_rule: ThicknessRule | None = None
) -> tuple[Dataset, MatchReport | None]:
    """Load measurements from a folder (export + recipe table) or a tidy CSV file.

    In a folder, the files are told apart by content, not by name:

    - the **export** is the ``.csv`` whose header names ``User Color Name`` and
      ``R400 nm``; there must be exactly one;
    - every other ``.csv`` that reads as a valid recipe table (:func:`read_recipe_table`)
      is a candidate **recipe table**. Other CSVs that happen to have an id column and
      numbers (``Fluorescence.csv``: counts per second, far above 100 %) usually fail
      that validation. Among the candidates the one whose ids match the most measured
      names wins; on a tie, one marked as percent (a ``(%)`` unit or ``%`` values) wins.
      A tie that remains is an error: move the other file out of the folder.

    The files used and those passed over (with why) are listed in ``report.notes``.

    Parameters
    ----------
    path : str or path-like
        A folder, or a tidy CSV file (see :func:`read_tidy_csv`).
    accept_suggestions : bool
        Include near-miss matches (listed in the report as accepted). True by default so
        that a folder loads as it is; the report shows what was accepted.
    thickness_rule : ThicknessRule, optional
        How names encode thickness (default: trailing ``H`` = 12 µm, else 8 µm).

    Returns
    -------
    dataset : Dataset
    report : MatchReport or None
        None for a tidy CSV, which needs no matching.

    Raises
    ------
    IngestError
        If the path does not exist, a file cannot be read, the folder does not hold one
        export and a recipe table, or no measured name matches a recipe.
    """
    path = Path(path)
    if path.is_dir():
        return _load_folder(path, accept_suggestions, thickness_rule or ThicknessRule())
    if path.is_file():
        text, file = _read_text(path, None, "a tidy measurement CSV")
        if _find_export_header(_split_lines(text)) is not None:
            _fail(
                file,
                None,
                None,
                "this is a spectrophotometer export, which needs a recipe table to be matched with; "
                "expected a folder holding both files, or a tidy CSV. Pass the folder instead.",
            )
        return _parse_tidy(text, file), None
    _fail(
        str(path),
        None,
        None,
        "no such file or folder; expected a folder with an instrument export and a recipe table, or a tidy CSV file.",
    )


def _without_file(problem: Problem) -> str:
    return str(problem)[len(problem.file) :].lstrip(",: ")


def _load_folder(folder: Path, accept_suggestions: bool, rule: ThicknessRule) -> tuple[Dataset, MatchReport]:
    csv_files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    exports, others, notes = [], [], []
    for csv_path in csv_files:
        try:
            text, file = _read_text(csv_path, None, "a CSV file")
        except IngestError as error:
            notes.append(f"Skipped {csv_path.name}: {error.problems[0].message}")
            continue
        (exports if _find_export_header(_split_lines(text)) is not None else others).append((file, text))
    if len(exports) != 1:
        found = ", ".join(file for file, _ in exports) or "none"
        _fail(
            folder.name,
            None,
            None,
            f"expected exactly one spectrophotometer export (a CSV whose header names 'User Color Name' and "
            f"'R400 nm') in the folder; found {found}. Keep one export per folder.",
        )
    export_file, export_text = exports[0]
    measurements = _parse_instrument_export(export_text, export_file)
    measured_keys = [_name_key(rule.split(name)[0]) for name in measurements["name"]]

    candidates, failures = [], []
    for file, text in others:
        try:
            recipe_table = _parse_recipe_table(text, file)
        except IngestError as error:
            failures.append(error)
            notes.append(f"Not used: {file} is not a recipe table ({_without_file(error.problems[0]).rstrip('.')}).")
            continue
        table_keys = {_name_key(recipe_id) for recipe_id in recipe_table.frame[RECIPE_ID_COLUMN]}
        n_matching = sum(key in table_keys for key in measured_keys)
        candidates.append(((n_matching, recipe_table.percent_marked), file, recipe_table))
    if not candidates:
        expected = "expected a CSV with a recipe id column and one column per colorant (wt %)"
        headline = Problem(folder.name, None, None, f"no recipe table found next to {export_file}; {expected}.")
        # The first problem of each file says why it is not a recipe table; all of them would bury that.
        first_problems = []
        for error in failures:
            first, n_others = error.problems[0], len(error.problems) - 1 + error.n_more
            first_problems.append(replace(first, message=f"{first.message} ({_count(n_others, 'more problem')} in this file)"))
        raise IngestError([headline, *first_problems])
    candidates.sort(key=lambda candidate: candidate[0], reverse=True)
    (score, recipe_file, recipe_table), runners_up = candidates[0], candidates[1:]
    if runners_up and runners_up[0][0] == score:
        _fail(
            folder.name,
            None,
            None,
            f"{recipe_file} and {runners_up[0][1]} could both be the recipe table (each matches {score[0]} measured names); "
            "expected one. Move the other file out of the folder.",
        )
    notes.insert(0, f"Recipe table: {recipe_file} ({score[0]} of {len(measured_keys)} measured names match it by name).")
    notes.extend(f"Not used as the recipe table: {file} (only {s[0]} names match it)." for s, file, _ in runners_up)

    dataset, report = match_measurements(
        measurements,
        recipe_table.frame,
        recipe_table.colorants,
        thickness_rule=rule,
        accept_suggestions=accept_suggestions,
        source=export_file,
    )
    report.notes = notes
    if len(dataset) == 0:
        _fail(
            export_file,
            None,
            None,
            f"no measured name matches a recipe in {recipe_file}; expected the 'User Color Name' of each sample "
            "to be a recipe id (plus the thickness suffix).\n" + report.summary(),
        )
    return Dataset(dataset.table, dataset.colorants, name=folder.name), report
