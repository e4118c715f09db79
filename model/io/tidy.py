"""Read a tidy CSV: one row per measurement, as :meth:`Dataset.to_tidy_csv` writes it.

Scales: concentrations in weight percent (0–100), film thickness in µm, reflectance as a
factor (0–5, usually 0–1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from model.core.schema import (
    BAND_COLUMNS,
    WAVELENGTHS_NM,
    FLUORESCENCE_COLUMN,
    RECIPE_ID_COLUMN,
    SAMPLE_ID_COLUMN,
    SOURCE_COLUMN,
    THICKNESS_COLUMN,
    Dataset,
)
from model.io.cells import (
    CONCENTRATION, FLUORESCENCE, REFLECTANCE, THICKNESS, TOTAL_TOLERANCE, fill_unused_colorants, read_bands, read_concentrations,
)
from model.io.columns import band_columns_by_wavelength, band_wavelength, column_key, missing_bands_message, strip_unit
from model.io.problems import ProblemLog
from model.io.text import Table, fail_on_duplicate_columns, plain_numbers, read_table, read_text, refuse_rows_beyond, require_rows

__all__ = ["parse_tidy", "parse_tidy_with_notes", "read_tidy_csv"]

_TIDY_ID_COLUMNS = (SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN)
_KNOWN_COLUMNS = {SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, THICKNESS_COLUMN, SOURCE_COLUMN, FLUORESCENCE_COLUMN}
_WHAT = f"a tidy measurement CSV ({', '.join(_TIDY_ID_COLUMNS)}, colorants, {THICKNESS_COLUMN}, R400 … R700)"


def read_tidy_csv(path_or_buffer, *, name: str | None = None, max_rows: int | None = None) -> Dataset:
    """Read a tidy CSV: one row per measurement.

    Columns ``sample_id, recipe_id, <colorants…>, thickness_um, R400 … R700`` and
    optionally ``source`` and ``fluorescence_cts`` (the film's fluorescence intensity in
    ct/s; an empty cell is a film without a reading), in any order. Every other column is
    a colorant (wt %), named by its header without a unit. :meth:`Dataset.to_tidy_csv`
    writes this shape.

    Parameters
    ----------
    path_or_buffer : str, path-like, bytes or file-like
        Comma- or semicolon-separated (sniffed), UTF-8 with or without a byte-order mark.
    name : str, optional
        The file name used in messages and as the dataset's name.
    max_rows : int, optional
        The most measurement rows accepted (an upload's cap,
        :data:`model.io.upload.MAX_UPLOAD_ROWS`). Reading stops as soon as it is passed.

    Returns
    -------
    Dataset
        Rows in file order; ``source`` is the file name where the file has no such column.
        ``fluorescence_cts`` (NaN for a row without a reading) only when some row has a reading.

    Raises
    ------
    IngestError
        With every problem found: a missing or duplicated column, no colorant column, an
        empty or repeated ``sample_id``, an empty ``recipe_id``, one ``recipe_id`` with
        different concentrations on different rows, a concentration that is not a
        finite number from 0 to 100 or a recipe above 100 % in total, a thickness not
        above 0 and below 1000 µm, a band that is not a finite number from 0 to 5, a
        fluorescence reading that is not a finite number of 0 ct/s or more, or more than
        ``max_rows`` rows.

    Warns
    -----
    UnusedColorantWarning
        A colorant column empty in every row (of two or more): it is read as 0 wt %
        (:func:`model.io.cells.fill_unused_colorants`).
    """
    text, file = read_text(path_or_buffer, name, "a tidy measurement CSV")
    return parse_tidy(text, file, max_rows=max_rows)


def parse_tidy(text: str, file: str, *, max_rows: int | None = None) -> Dataset:
    """:func:`read_tidy_csv` of text already read; ``file`` names it in messages."""
    return parse_tidy_with_notes(text, file, max_rows=max_rows)[0]


def parse_tidy_with_notes(text: str, file: str, *, max_rows: int | None = None) -> tuple[Dataset, tuple[str, ...]]:
    """:func:`parse_tidy`, and what reading assumed, one sentence each (a blank colorant column read as 0 wt %)."""
    table = read_table(text, file, _WHAT, max_rows)
    if max_rows is not None:
        refuse_rows_beyond(table, max_rows, "measurement rows", f"Split it into files of at most {max_rows:,} rows and upload each on its own.")
    columns = _tidy_columns(table)
    require_rows(table, "measurement")
    notes = tuple(fill_unused_colorants(table, columns.colorant_position_list))

    log = ProblemLog(file)
    reader = _TidyRowReader(table, columns, log)
    records = [reader.read(row, cells) for row, cells in table.aligned_rows(log)]
    log.raise_if_any()

    colorants = list(columns.colorant_positions)
    names = [SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *colorants, THICKNESS_COLUMN, *BAND_COLUMNS, SOURCE_COLUMN, FLUORESCENCE_COLUMN]
    frame = pd.DataFrame(records, columns=names)
    numbers = [*colorants, THICKNESS_COLUMN, *BAND_COLUMNS, FLUORESCENCE_COLUMN]
    frame[numbers] = frame[numbers].astype(float)
    if frame[FLUORESCENCE_COLUMN].isna().all():  # data without readings has no such column
        frame = frame.drop(columns=FLUORESCENCE_COLUMN)
    return Dataset(frame, tuple(colorants), name=Path(file).stem), notes


@dataclass(frozen=True)
class _TidyColumns:
    """Where each column of a tidy CSV is."""

    position_of: dict[str, int]  # by key: sample_id, recipe_id, thickness_um, source, R400 …
    colorant_positions: dict[str, int]  # by colorant name (the header without its unit)
    band_positions: dict[int, int]  # by wavelength in nm

    @cached_property
    def colorant_position_list(self) -> list[int]:
        return list(self.colorant_positions.values())

    @cached_property
    def ordered_band_positions(self) -> list[int]:
        """Positions of R400 … R700, in that order."""
        return [self.band_positions[int(wavelength)] for wavelength in WAVELENGTHS_NM]


def _tidy_columns(table: Table) -> _TidyColumns:
    """Tell the columns apart by header; every required column must be there, once."""
    keys = []
    colorant_positions: dict[str, int] = {}
    for position, column in enumerate(table.header):
        if column.casefold() in _KNOWN_COLUMNS:
            keys.append(column.casefold())
        elif band_wavelength(column) is not None:
            keys.append(f"R{band_wavelength(column)}")
        else:
            keys.append(column_key(column))
            colorant_positions[strip_unit(column)[0]] = position
    fail_on_duplicate_columns(table, keys)

    log = ProblemLog(table.file)
    for required in (*_TIDY_ID_COLUMNS, THICKNESS_COLUMN):
        if required not in keys:
            log.add(table.header_row, required, f"missing column; expected {_WHAT}.")
    band_positions = band_columns_by_wavelength(table.header)
    missing_bands = missing_bands_message(band_positions, "R{}")
    if missing_bands:
        log.add(table.header_row, None, missing_bands)
    if not colorant_positions:
        log.add(
            table.header_row,
            None,
            "no colorant column; expected at least one column of weight percent besides "
            f"{', '.join(sorted(_KNOWN_COLUMNS))} and the bands.",
        )
    log.raise_if_any()
    return _TidyColumns({key: position for position, key in enumerate(keys)}, colorant_positions, band_positions)


@dataclass
class _TidyRowReader:
    """Reads the rows of one tidy CSV, logging problems, including those across rows."""

    table: Table
    columns: _TidyColumns
    log: ProblemLog
    sample_rows: dict[str, int] = field(default_factory=dict)
    recipe_first_seen: dict[str, tuple[int, list]] = field(default_factory=dict)

    def read(self, row: int, cells: Sequence[str]) -> list:
        """``[sample_id, recipe_id, *concentrations, thickness, *bands, source, fluorescence]``, None for a bad cell."""
        table, columns, position_of = self.table, self.columns, self.columns.position_of
        sample_id = cells[position_of[SAMPLE_ID_COLUMN]].strip()
        recipe_id = cells[position_of[RECIPE_ID_COLUMN]].strip()
        self._check_ids(row, sample_id, recipe_id)
        # Cell by cell (with a message per bad cell) only for a row that is not plain, valid numbers.
        concentrations = plain_numbers(cells, columns.colorant_position_list, CONCENTRATION)
        if concentrations is None or sum(concentrations) > 100.0 + TOTAL_TOLERANCE:
            colorant_headers = [table.header[p] for p in columns.colorant_positions.values()]
            concentrations = read_concentrations(
                self.log, row, [cells[p] for p in columns.colorant_positions.values()], colorant_headers, table.decimal_comma
            )
        if recipe_id and None not in concentrations:
            self._check_same_recipe(row, recipe_id, concentrations)
        thickness, error = THICKNESS.parse(cells[position_of[THICKNESS_COLUMN]], table.decimal_comma)
        if error:
            self.log.add(row, table.header[position_of[THICKNESS_COLUMN]], error)
        bands = plain_numbers(cells, columns.ordered_band_positions, REFLECTANCE)
        if bands is None:
            bands = read_bands(self.log, row, cells, table.header, columns.band_positions, table.decimal_comma)
        source = cells[position_of[SOURCE_COLUMN]].strip() if SOURCE_COLUMN in position_of else table.file
        return [sample_id, recipe_id, *concentrations, thickness, *bands, source, self._fluorescence(row, cells)]

    def _fluorescence(self, row: int, cells: Sequence[str]) -> float | None:
        """The film's reading in ct/s; NaN for an empty cell (no reading) or no such column."""
        position = self.columns.position_of.get(FLUORESCENCE_COLUMN)
        if position is None or not cells[position].strip():
            return np.nan
        value, error = FLUORESCENCE.parse(cells[position], self.table.decimal_comma)
        if error:
            self.log.add(row, self.table.header[position], error.replace(FLUORESCENCE.empty_hint, ""))
        return value

    def _check_ids(self, row: int, sample_id: str, recipe_id: str) -> None:
        sample_header = self.table.header[self.columns.position_of[SAMPLE_ID_COLUMN]]
        if not sample_id:
            self.log.add(row, sample_header, "expected a sample id, the cell is empty.")
        elif sample_id in self.sample_rows:
            self.log.add(
                row,
                sample_header,
                f"sample id {sample_id!r} is already used on row {self.sample_rows[sample_id]}; expected unique ids. "
                f"Give repeated readings their own ids, e.g. {sample_id + '-2'!r}.",
            )
        else:
            self.sample_rows[sample_id] = row
        if not recipe_id:
            self.log.add(row, self.table.header[self.columns.position_of[RECIPE_ID_COLUMN]], "expected a recipe id, the cell is empty.")

    def _check_same_recipe(self, row: int, recipe_id: str, concentrations: list[float]) -> None:
        # One recipe id must be one recipe: leave-recipe-out evaluation groups rows by it.
        first_row, first_concentrations = self.recipe_first_seen.setdefault(recipe_id, (row, concentrations))
        # np.allclose(rtol=0, atol=1e-9) on finite numbers, without its per-call cost on every row.
        if any(abs(first - value) > 1e-9 for first, value in zip(first_concentrations, concentrations)):
            differing = [
                (name, first, value)
                for name, first, value in zip(self.columns.colorant_positions, first_concentrations, concentrations)
                if abs(first - value) > 1e-9
            ]
            name = differing[0][0]
            self.log.add(
                row,
                self.table.header[self.columns.colorant_positions[name]],
                f"recipe {recipe_id!r} has different concentrations here than on row {first_row} ("
                + "; ".join(f"{colorant}: {value:g} wt % here, {first:g} there" for colorant, first, value in differing)
                + "); expected one recipe per recipe_id. Give the changed recipe its own id.",
            )
