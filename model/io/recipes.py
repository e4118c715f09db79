"""Read a recipe table such as ``pp-inks/Concentrations.csv``: a recipe id, then colorants.

Scales: concentrations in weight percent (0–100; ``"0.99625%"`` and ``0.99625`` mean the
same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.core.schema import RECIPE_ID_COLUMN
from model.io.cells import CONCENTRATION, TOTAL_TOLERANCE, fill_unused_colorants, read_concentrations
from model.io.columns import column_key, strip_unit
from model.io.matching import name_key
from model.io.problems import IngestError, ProblemLog, fail
from model.io.text import Table, fail_on_duplicate_columns, plain_number_matrix, read_table, read_text, refuse_rows_beyond, require_rows

__all__ = ["RecipeRowsError", "RecipeTable", "parse_recipe_table", "read_recipe_table"]


@dataclass(frozen=True)
class RecipeTable:
    """A recipe table as read: ``recipe_id`` and one column per colorant (wt %)."""

    frame: pd.DataFrame
    colorants: list[str]
    percent_marked: bool  # a percent unit in a header or a percent sign in a value
    notes: tuple[str, ...] = ()  # what reading assumed (model.io.cells.fill_unused_colorants)


def read_recipe_table(path_or_buffer, *, name: str | None = None, max_rows: int | None = None) -> tuple[pd.DataFrame, list[str]]:
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
    max_rows : int, optional
        The most recipes accepted (an upload's cap, :data:`model.io.upload.MAX_UPLOAD_ROWS`).
        Reading stops as soon as it is passed.

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
        number from 0 to 100, a recipe whose concentrations add up to more than 100 %, or
        more than ``max_rows`` recipes.

    Warns
    -----
    UnusedColorantWarning
        A colorant column empty in every row (of two or more): it is read as 0 wt %
        (:func:`model.io.cells.fill_unused_colorants`).
    """
    text, file = read_text(path_or_buffer, name, "a recipe table")
    table = parse_recipe_table(text, file, max_rows=max_rows)
    return table.frame, table.colorants


class RecipeRowsError(IngestError):
    """A recipe table (its header is one) with rows that cannot be used: every problem, by row and column.

    Lets a caller that looks for the recipe table among several files (:func:`model.io.folder.load_dataset`)
    tell "this is the recipe table, fix these rows" from "this is not a recipe table".
    """


def parse_recipe_table(text: str, file: str, *, max_rows: int | None = None) -> RecipeTable:
    """:func:`read_recipe_table` of text already read; ``file`` names it in messages."""
    table = read_table(text, file, "a recipe table (a recipe id column, then one column per colorant)", max_rows)
    if max_rows is not None:
        advice = f"Keep only the recipes the uploaded measurements use, or split the upload into parts of at most {max_rows:,} recipes each."
        refuse_rows_beyond(table, max_rows, "recipes", advice)
    if len(table.header) < 2:
        fail(file, table.header_row, None, "expected a recipe id column followed by at least one colorant column (wt %).")
    id_header, colorant_headers = table.header[0], table.header[1:]
    colorants, units = zip(*(strip_unit(header) for header in colorant_headers))
    for header, colorant in zip(colorant_headers, colorants):
        if not colorant:
            fail(file, table.header_row, header, "expected a colorant name before the unit, e.g. 'GXT-10 (%)'.")
    fail_on_duplicate_columns(table, [id_header.casefold(), *map(column_key, colorant_headers)])
    require_rows(table, "recipe")
    notes = tuple(fill_unused_colorants(table, range(1, len(table.header))))

    log = ProblemLog(file)
    first_row_of_key: dict[str, tuple[int, str]] = {}
    ids, concentrations = [], []
    percent_signs = False
    matrix = _plain_concentrations(table)
    for row, cells in table.aligned_rows(log):
        recipe_id = cells[0].strip()
        _check_recipe_id(log, row, id_header, recipe_id, first_row_of_key)
        if matrix is None:
            concentrations.append(read_concentrations(log, row, cells[1:], colorant_headers, table.decimal_comma))
        percent_signs = percent_signs or any(cell.strip().endswith("%") for cell in cells[1:])
        ids.append(recipe_id)
    if log.problems:  # its header is a recipe table's: the rows are what is wrong
        raise RecipeRowsError(log.problems, log.n_more)

    frame = pd.DataFrame({RECIPE_ID_COLUMN: ids})
    frame[list(colorants)] = matrix if matrix is not None else np.asarray(concentrations, dtype=float)
    return RecipeTable(frame, list(colorants), percent_marked=any(units) or percent_signs, notes=notes)


def _plain_concentrations(table: Table) -> np.ndarray | None:
    """Every row's concentrations (wt %) when every row is well formed and valid, read in one
    pass; else None, and the rows are read one by one, each problem with its own message."""
    probe = ProblemLog(table.file)
    cells_of_rows = [cells for _, cells in table.aligned_rows(probe)]
    if probe.problems:
        return None
    matrix = plain_number_matrix(cells_of_rows, range(1, len(table.header)), CONCENTRATION)
    if matrix is None or any(sum(values) > 100.0 + TOTAL_TOLERANCE for values in matrix.tolist()):
        return None
    return matrix


def _check_recipe_id(log: ProblemLog, row: int, id_header: str, recipe_id: str, first_row_of_key: dict[str, tuple[int, str]]) -> None:
    """Log an empty id, or one that matching could not tell from an earlier row's; else remember it."""
    key = name_key(recipe_id)
    if not recipe_id:
        log.add(row, id_header, "expected a recipe id, the cell is empty. Fill it in or delete the row.")
    elif key in first_row_of_key:
        first_row, first_id = first_row_of_key[key]
        if first_id == recipe_id:
            same = "the same id as"
        else:
            same = f"the same id (ignoring case, spaces, '_' and '-') as {first_id!r} on"
        message = f"recipe id {recipe_id!r} is {same} row {first_row}; expected each recipe once. Merge or rename the rows."
        log.add(row, id_header, message)
    else:
        first_row_of_key[key] = (row, recipe_id)
