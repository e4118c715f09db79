"""Read the spectrophotometer's library export (the format of ``pp-inks/Spectra.csv``).

Scales: reflectance as a factor (0–1, may exceed 1 for fluorescent colorants); the
instrument's own CIELAB (L* 0–100) is carried along for reference only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from model.core.schema import BAND_COLUMNS, WAVELENGTHS_NM
from model.io.cells import REFLECTANCE, parse_number, read_bands
from model.io.columns import band_columns_by_wavelength, duplicated_bands, missing_bands_message
from model.io.problems import ProblemLog, fail
from model.io.text import (
    Table,
    csv_records,
    plain_number_matrix,
    read_text,
    refuse_rows_beyond,
    require_rows,
    sniff_delimiter,
    split_lines,
    without_trailing_empty,
)

__all__ = [
    "INSTRUMENT_LAB_COLUMNS",
    "find_export_header",
    "is_instrument_export",
    "parse_instrument_export",
    "read_instrument_export",
]

#: Columns of the frame returned by :func:`read_instrument_export` besides the bands.
INSTRUMENT_LAB_COLUMNS = ["L_instrument", "a_instrument", "b_instrument"]

# The export's header row is found by content, because the number of metadata lines
# above it differs between instrument firmware versions.
_EXPORT_NAME_HEADER = "User Color Name"
_EXPORT_HEADER_MARKERS = (_EXPORT_NAME_HEADER, "R400 nm")


def find_export_header(lines: Sequence[str]) -> int | None:
    """Index of the export's header row among ``lines``, or None if it has none."""
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
    text, _ = read_text(path_or_buffer, name, "a CSV file (a spectrophotometer export, a recipe table or a tidy CSV)")
    return find_export_header(split_lines(text)) is not None


def read_instrument_export(path_or_buffer, *, name: str | None = None, max_rows: int | None = None) -> pd.DataFrame:
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
    max_rows : int, optional
        The most measurement rows accepted (an upload's cap,
        :data:`model.io.upload.MAX_UPLOAD_ROWS`). Reading stops as soon as it is passed.

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
        number, negative, or above 5 (percent instead of a factor), no data rows, or
        more than ``max_rows`` of them.

    Notes
    -----
    Bands outside the 400–700 nm / 10 nm grid (some instruments export 380–780 nm) are
    ignored.
    """
    text, file = read_text(path_or_buffer, name, "a spectrophotometer export")
    return parse_instrument_export(text, file, max_rows=max_rows)


def parse_instrument_export(text: str, file: str, *, max_rows: int | None = None) -> pd.DataFrame:
    """:func:`read_instrument_export` of text already read; ``file`` names it in messages."""
    table = _export_table(text, file, max_rows)
    refuse_rows_beyond(
        table,
        max_rows,
        "measurement rows",
        f"Split the export into files of at most {max_rows:,} rows and upload each with its recipe table." if max_rows else "",
    )
    band_positions = _checked_band_positions(table)
    require_rows(table, "measurement")
    ordered_band_positions = [band_positions[int(wavelength)] for wavelength in WAVELENGTHS_NM]

    name_position = table.header.index(_EXPORT_NAME_HEADER)
    lab_positions = _first_Lab_positions(table.header)
    frame = _plain_export_rows(table, name_position, lab_positions, ordered_band_positions)
    if frame is None:  # some row needs a closer look: read row by row, naming every problem
        frame = _export_rows(table, name_position, lab_positions, band_positions)
    frame.attrs["source"] = file
    return frame


def _plain_export_rows(table: Table, name_position: int, lab_positions: list[int | None], band_positions: list[int]) -> pd.DataFrame | None:
    """The measurements of an export whose every row is well formed, read column-wise; else None.

    Well formed: one cell per column, a sample name, and 31 plain reflectance numbers in
    range. This is what nearly every export is, and reading it a column at a time keeps a
    50,000-row export to well under a second.
    """
    probe = ProblemLog(table.file)
    aligned = list(table.aligned_rows(probe))
    names = [cells[name_position].strip() for _, cells in aligned]
    if probe.problems or not all(names):
        return None
    cells_of_rows = [cells for _, cells in aligned]
    spectra = plain_number_matrix(cells_of_rows, band_positions, REFLECTANCE)
    if spectra is None:
        return None
    frame = pd.DataFrame({"name": names, "row": [row for row, _ in aligned]})
    frame[INSTRUMENT_LAB_COLUMNS] = _lenient_Lab(cells_of_rows, lab_positions, table.decimal_comma)
    frame[BAND_COLUMNS] = spectra
    return frame


def _export_rows(table: Table, name_position: int, lab_positions: list[int | None], band_positions: dict[int, int]) -> pd.DataFrame:
    """The measurements of an export read row by row; every problem is named (row, column, what was expected)."""
    log = ProblemLog(table.file)
    names, rows, labs, spectra = [], [], [], []
    for row, cells in table.aligned_rows(log):
        sample_name = cells[name_position].strip()
        if not sample_name:
            log.add(row, _EXPORT_NAME_HEADER, "expected a sample name, the cell is empty. Name the sample or delete the row.")
        names.append(sample_name)
        rows.append(row)
        labs.append([_lenient_number(cells[p], table.decimal_comma) if p is not None else np.nan for p in lab_positions])
        spectra.append(read_bands(log, row, cells, table.header, band_positions, table.decimal_comma))
    log.raise_if_any()
    frame = pd.DataFrame({"name": names, "row": rows})
    frame[INSTRUMENT_LAB_COLUMNS] = np.asarray(labs, dtype=float)
    frame[BAND_COLUMNS] = np.asarray(spectra, dtype=float)
    return frame


def _export_table(text: str, file: str, max_rows: int | None = None) -> Table:
    """The export's table, from its header row (found by content) down; with ``max_rows``,
    at most ``max_rows + 1`` data rows are parsed (enough to say there are too many)."""
    lines = split_lines(text)
    header_index = find_export_header(lines)
    if header_index is None:
        fail(
            file,
            None,
            None,
            "no header row found; expected a spectrophotometer library export whose header row "
            f"names the columns {_EXPORT_HEADER_MARKERS[0]!r} and {_EXPORT_HEADER_MARKERS[1]!r} … 'R700 nm'.",
        )
    delimiter = sniff_delimiter(lines[header_index], (";", ",", "\t")) or ";"
    records = csv_records(lines[header_index:], delimiter, header_index + 1, file)
    header_row, header_fields = next(records)
    header = [cell.strip() for cell in without_trailing_empty(header_fields)]
    rows = list(records if max_rows is None else itertools.islice(records, max_rows + 1))
    table = Table(file, header, header_row, rows, delimiter)
    if _EXPORT_NAME_HEADER not in header:
        fail(
            file,
            header_row,
            None,
            f"the header row does not split into columns at '{delimiter}'; expected a table separated "
            f"by ';' (or ',') with a column {_EXPORT_NAME_HEADER!r}.",
        )
    return table


def _checked_band_positions(table: Table) -> dict[int, int]:
    """Position of each band column; every band must be there, once."""
    log = ProblemLog(table.file)
    band_positions = band_columns_by_wavelength(table.header)
    missing = missing_bands_message(band_positions, "R{} nm")
    if missing:
        log.add(table.header_row, None, missing)
    for duplicate in duplicated_bands(table.header):
        log.add(table.header_row, duplicate, "duplicated band column; expected each wavelength once.")
    log.raise_if_any()
    return band_positions


def _first_Lab_positions(header: Sequence[str]) -> list[int | None]:
    """Positions of the first consecutive ``L, a, b`` columns (the export repeats ``L``)."""
    for position in range(len(header) - 2):
        if header[position : position + 3] == ["L", "a", "b"]:
            return [position, position + 1, position + 2]
    return [None, None, None]


def _lenient_Lab(rows: list[list[str]], lab_positions: list[int | None], decimal_comma: bool) -> np.ndarray:
    """:func:`_lenient_number` of each row's ``L, a, b`` cells, as an ``(n, 3)`` array."""
    if None in lab_positions:
        return np.full((len(rows), 3), np.nan)
    try:  # plain numbers, the usual case, in one pass
        return np.array(list(map(float, (row[p] for row in rows for p in lab_positions))), dtype=float).reshape(len(rows), 3)
    except ValueError:
        return np.array([[_lenient_number(row[p], decimal_comma) for p in lab_positions] for row in rows], dtype=float).reshape(len(rows), 3)


def _lenient_number(cell: str, decimal_comma: bool) -> float:
    # The instrument's own CIELAB is informative only (the model uses the spectrum), so a
    # missing value there is not worth refusing a file for.
    value = parse_number(cell, decimal_comma=decimal_comma)
    return np.nan if value is None else value
