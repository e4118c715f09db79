"""Read a fluorescence table such as ``pp-inks/Fluorescence.csv`` and give its readings to the measured films.

The table has one row per film: the film's name as the export writes it (recipe name plus
thickness suffix, ``GXT10H``) and its fluorescence intensity in counts per second (ct/s),
0 for a film without a fluorescent colorant. It is told apart from a recipe table by its
header (a column after the first that names fluorescence or ct/s, not in percent), not by
its file name.

Readings are matched to the measured rows with the same rules the export is matched to
the recipe table by (:class:`~model.io.matching.ThicknessRule`,
:class:`~model.io.matching.RecipeFinder`), so ``BiVa05`` here and ``BiVaO5`` in the
export are one film. The result is the column :data:`~model.core.schema.FLUORESCENCE_COLUMN`
(ct/s, NaN where a measured row has no reading) and a
:class:`~model.io.matching.FluorescenceReport`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model.core.schema import FLUORESCENCE_COLUMN, RECIPE_ID_COLUMN, THICKNESS_COLUMN, Dataset
from model.io.cells import FLUORESCENCE
from model.io.columns import is_fluorescence_header
from model.io.matching import ACCEPTED, MATCHED, SUGGESTED, UNMATCHED, FluorescenceReport, MatchEntry, RecipeFinder, ThicknessRule, name_key
from model.io.problems import IngestError, ProblemLog, fail
from model.io.text import Table, read_table, read_text, require_rows, split_lines

__all__ = ["FluorescenceTable", "is_fluorescence_table", "match_fluorescence", "parse_fluorescence_table", "read_fluorescence_table"]

_WHAT = "a fluorescence table (a sample name column, then 'Fluorescence [ct/s]': one reading per film)"


@dataclass(frozen=True)
class FluorescenceTable:
    """A fluorescence table as read.

    Attributes
    ----------
    file : str
        The file name, for messages and the report.
    readings : pandas.DataFrame
        ``name`` (the film's name as written), ``row`` (file line number) and
        ``fluorescence_cts`` (ct/s, ≥ 0), in file order.
    """

    file: str
    readings: pd.DataFrame


def is_fluorescence_table(text: str, file: str) -> bool:
    """Whether ``text`` is a table with a fluorescence column after its first (name) column.

    A first line that names fluorescence but does not split into columns (tab- or
    pipe-separated) counts too, so that reading it says what is wrong with it.
    """
    try:
        table = read_table(text, file, _WHAT, max_rows=0)
    except IngestError:
        first_line = next((line for line in split_lines(text) if line.strip()), "")
        return is_fluorescence_header(first_line)
    return any(is_fluorescence_header(header) for header in table.header[1:])


def read_fluorescence_table(path_or_buffer, *, name: str | None = None) -> FluorescenceTable:
    """Read a fluorescence table such as ``pp-inks/Fluorescence.csv``.

    The first column holds the film's name as the export writes it (any header, e.g.
    ``Sample ID``); the reading is the one column whose header names fluorescence or
    counts per second (``Fluorescence [ct/s]``, ``fluorescence_cts``, ``cps``). Other
    columns are ignored.

    Parameters
    ----------
    path_or_buffer : str, path-like, bytes or file-like
        Comma- or semicolon-separated (sniffed), UTF-8 with or without a byte-order mark.
        With ``;`` a decimal comma is accepted too.
    name : str, optional
        The file name used in messages.

    Returns
    -------
    FluorescenceTable

    Raises
    ------
    IngestError
        With every problem found: no fluorescence column or more than one, an empty or
        repeated name (names that differ only in case, spaces, ``_`` or ``-`` count as
        repeated), a reading that is not a finite number of 0 ct/s or more.
    """
    text, file = read_text(path_or_buffer, name, _WHAT)
    return parse_fluorescence_table(text, file)


def parse_fluorescence_table(text: str, file: str) -> FluorescenceTable:
    """:func:`read_fluorescence_table` of text already read; ``file`` names it in messages."""
    table = read_table(text, file, _WHAT)
    position = _reading_position(table)
    require_rows(table, "reading")
    name_header, reading_header = table.header[0], table.header[position]

    log = ProblemLog(file)
    first_row_of_key: dict[str, int] = {}
    records = []
    for row, cells in table.aligned_rows(log):
        name = cells[0].strip()
        if not name:
            log.add(row, name_header, "expected the film's sample name, the cell is empty. Fill it in or delete the row.")
        elif name_key(name) in first_row_of_key:
            message = f"{name!r} already has a reading on row {first_row_of_key[name_key(name)]}; expected one reading per film. Delete one of the rows."
            log.add(row, name_header, message)
        else:
            first_row_of_key[name_key(name)] = row
        value, error = FLUORESCENCE.parse(cells[position], table.decimal_comma)
        if error:
            log.add(row, reading_header, error)
        records.append((name, row, value))
    log.raise_if_any()
    readings = pd.DataFrame(records, columns=["name", "row", FLUORESCENCE_COLUMN]).astype({FLUORESCENCE_COLUMN: float})
    return FluorescenceTable(file, readings)


def _reading_position(table: Table) -> int:
    positions = [p for p, header in enumerate(table.header) if p > 0 and is_fluorescence_header(header)]
    if len(positions) == 1:
        return positions[0]
    if not positions:
        fail(table.file, table.header_row, None, f"no fluorescence column; expected {_WHAT}.")
    shown = ", ".join(repr(table.header[p]) for p in positions)
    fail(table.file, table.header_row, None, f"several columns name fluorescence ({shown}); expected one. Delete the others.")


def match_fluorescence(
    dataset: Dataset,
    fluorescence: FluorescenceTable,
    recipe_ids: Collection[str],
    *,
    thickness_rule: ThicknessRule | None = None,
    accept_suggestions: bool = False,
    accept: Collection[str] | None = None,
) -> tuple[Dataset, FluorescenceReport]:
    """Give each measured row of ``dataset`` the reading of its film; report every reading.

    A reading's name is split by ``thickness_rule`` and its recipe found among
    ``recipe_ids`` exactly as :func:`~model.io.matching.match_measurements` does for the
    export, so the reading belongs to the film (recipe, thickness). Every measured row of
    that film gets it (a film measured twice has one reading). A near-miss name is used
    only when accepted, as for the export.

    Parameters
    ----------
    dataset : Dataset
        The matched measurements (``recipe_id`` and ``thickness_um`` name the film).
    fluorescence : FluorescenceTable
    recipe_ids : collection of str
        Every recipe id of the recipe table (the same the export was matched against).
    thickness_rule : ThicknessRule, optional
        Default ``ThicknessRule()``: a trailing ``H`` is 12 µm, otherwise 8 µm.
    accept_suggestions : bool
        Accept every near-miss suggestion.
    accept : collection of str, optional
        Sample names (compared ignoring case, spaces, ``_``, ``-``) whose suggestion is accepted.

    Returns
    -------
    dataset : Dataset
        ``dataset`` with the column ``fluorescence_cts`` (ct/s, NaN for a row without a
        reading); unchanged when no reading is used.
    report : FluorescenceReport
    """
    rule = thickness_rule or ThicknessRule()
    finder = RecipeFinder(list(recipe_ids))
    accepted_keys = {name_key(name) for name in accept or ()}
    table = dataset.table
    rows_of_film: dict[tuple[str, float], list[int]] = defaultdict(list)
    for position, (recipe_id, thickness_um) in enumerate(zip(table[RECIPE_ID_COLUMN].astype(str), table[THICKNESS_COLUMN].astype(float))):
        rows_of_film[(recipe_id, thickness_um)].append(position)

    candidates: dict[tuple[str, float], list[tuple[MatchEntry, float]]] = defaultdict(list)
    left_out = []
    for name, row, value in fluorescence.readings[["name", "row", FLUORESCENCE_COLUMN]].itertuples(index=False):
        base, thickness_um = rule.split(name)
        recipe_id, status, reason = finder.find(base)
        if status == SUGGESTED and (accept_suggestions or name_key(name) in accepted_keys):
            status = ACCEPTED
        entry = MatchEntry(name, int(row), recipe_id, thickness_um, status, f"{reason}; {value:g} ct/s")
        if status not in (MATCHED, ACCEPTED):
            not_used = f"{reason} Not used." if status == UNMATCHED else f"fluorescence reading: {reason}"
            left_out.append(replace(entry, reason=not_used))
        elif (recipe_id, thickness_um) not in rows_of_film:
            left_out.append(replace(entry, status=UNMATCHED, reason=f"no measured film of {recipe_id} at {thickness_um:g} µm in the dataset; not used."))
        else:
            candidates[(recipe_id, thickness_um)].append((entry, float(value)))

    values = np.full(len(table), np.nan)
    used = []
    for film, readings in candidates.items():
        if len({value for _, value in readings}) > 1:
            shown = ", ".join(f"row {entry.row}: {value:g}" for entry, value in readings)
            reason = f"readings of one film ({film[0]} at {film[1]:g} µm) disagree ({shown} ct/s); none used. Keep one row per film."
            left_out.extend(replace(entry, status=UNMATCHED, reason=reason) for entry, _ in readings)
            continue
        used.extend(entry for entry, _ in readings)
        values[rows_of_film[film]] = readings[0][1]

    has_reading = ~np.isnan(values)
    report = FluorescenceReport(
        source=fluorescence.file,
        used=sorted(used, key=lambda e: e.row),
        left_out=sorted(left_out, key=lambda e: e.row),
        rows_without_reading=[str(sample) for sample, has in zip(dataset.sample_ids, has_reading) if not has],
        n_rows_with_reading=int(has_reading.sum()),
    )
    if not has_reading.any():
        return dataset, report
    return Dataset(table.assign(**{FLUORESCENCE_COLUMN: values}), dataset.colorants, dataset.name), report
