"""Read a CSV of recipes to predict: the model's colorants (wt %) and the film thickness (µm).

Unlike the training readers, a bad row does not refuse the file: it is left out and
reported, and the good rows are still predicted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from model.core.schema import THICKNESS_COLUMN
from model.io.cells import CONCENTRATION, THICKNESS, TOTAL_TOLERANCE, parse_number, read_concentrations
from model.io.columns import column_key, is_thickness_header, rename_hint, strip_unit
from model.io.problems import Problem, ProblemLog, fail
from model.io.text import Table, fail_on_duplicate_columns, read_table, read_text, require_rows

__all__ = ["read_recipes_for_prediction", "read_recipes_for_prediction_with_notes"]


def read_recipes_for_prediction(
    path_or_buffer, colorants: Sequence[str], *, name: str | None = None, max_rows: int | None = None, suggest_renames: bool = True
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
    suggest_renames : bool
        Suggest renaming a column whose header is close to a missing colorant's name
        (``BiVaO4 (%)`` to ``BiVaYellow``). False when the model's colorants are not the
        lab's (the synthetic demo's): a close name is then a coincidence, not a typo.

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
    recipes, problems, notes = read_recipes_for_prediction_with_notes(
        path_or_buffer, colorants, name=name, max_rows=max_rows, suggest_renames=suggest_renames
    )
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return recipes, problems


def read_recipes_for_prediction_with_notes(
    path_or_buffer, colorants: Sequence[str], *, name: str | None = None, max_rows: int | None = None, suggest_renames: bool = True
) -> tuple[pd.DataFrame, list[Problem], list[str]]:
    """:func:`read_recipes_for_prediction`, with its notes returned instead of warned.

    For a server that reads files in several threads: collecting warnings
    (``warnings.catch_warnings``) changes process-wide state, so one request's note could be
    lost or shown to another. Same parameters and exceptions.

    Returns
    -------
    recipes, problems : as :func:`read_recipes_for_prediction`
    notes : list of str
        One sentence per extra column of numbers the model does not know (passed through,
        not used by the prediction).
    """
    text, file = read_text(path_or_buffer, name, "a CSV of recipes")
    colorants = list(colorants)
    table = read_table(text, file, f"a CSV of recipes ({', '.join(colorants)}, {THICKNESS_COLUMN})", max_rows)
    if max_rows is not None and len(table.rows) > max_rows:
        count = f"{len(table.rows)}" if len(table.rows) == max_rows + 1 else f"more than {max_rows + 1}"
        fail(
            file,
            None,
            None,
            f"the file has {count} recipes; expected at most {max_rows} in one file. "
            f"Split it into files of at most {max_rows} rows.",
        )
    require_rows(table, "recipe")
    role_of_position, notes = _column_roles(table, colorants, suggest_renames)
    log = ProblemLog(file, limit=None)  # every left-out row must be reported
    frame = _valid_recipes(table, role_of_position, colorants, log)
    return frame, sorted(log.problems, key=lambda problem: (problem.row or 0)), notes


def _column_roles(table: Table, colorants: Sequence[str], suggest_renames: bool = True) -> tuple[dict[int, str], list[str]]:
    """What each column holds (a colorant name, THICKNESS_COLUMN or "" for passthrough), and the notes on them."""
    colorant_of_key = {column_key(colorant): colorant for colorant in colorants}
    role_of_position: dict[int, str] = {}
    for position, header in enumerate(table.header):
        if is_thickness_header(header):
            role_of_position[position] = THICKNESS_COLUMN
        else:
            role_of_position[position] = colorant_of_key.get(column_key(header), "")
    # Passed-through columns are keyed by their exact header: two of one name would
    # collapse into one in the output table, silently losing a column of the user's data.
    keys = [role or f"passthrough {table.header[position].strip()}" for position, role in role_of_position.items()]
    fail_on_duplicate_columns(table, keys)
    notes = _check_prediction_columns(table, role_of_position, colorants, suggest_renames)
    return role_of_position, notes


def _valid_recipes(table: Table, role_of_position: Mapping[int, str], colorants: Sequence[str], log: ProblemLog) -> pd.DataFrame:
    """The rows whose every cell is valid: passthrough columns, colorants, thickness.

    Every other row is left out, and its problems logged.
    """
    passthrough_positions = [p for p, role in role_of_position.items() if not role]
    position_of_role = {role: p for p, role in role_of_position.items() if role}
    colorant_positions = [position_of_role[colorant] for colorant in colorants]
    thickness_position = position_of_role[THICKNESS_COLUMN]
    aligned = list(table.aligned_rows(log))
    columns = list(zip(*(cells for _, cells in aligned))) if aligned else [()] * len(table.header)
    # Whole columns at once, without messages; a row that fails anywhere is re-read cell by
    # cell for its messages.
    concentrations = np.column_stack(
        [CONCENTRATION.parse_column(columns[p], table.decimal_comma) for p in colorant_positions]
    ).reshape(len(aligned), len(colorants))
    thickness = THICKNESS.parse_column(columns[thickness_position], table.decimal_comma)
    valid = np.isfinite(concentrations).all(axis=1) & np.isfinite(thickness)
    valid &= concentrations.sum(axis=1) <= 100.0 + TOTAL_TOLERANCE
    colorant_headers = [table.header[p] for p in colorant_positions]
    for index in np.flatnonzero(~valid):
        row, cells = aligned[index]
        read_concentrations(log, row, [cells[p] for p in colorant_positions], colorant_headers, table.decimal_comma)
        _, error = THICKNESS.parse(cells[thickness_position], table.decimal_comma)
        if error:
            log.add(row, table.header[thickness_position], error)

    passthrough = [table.header[p] for p in passthrough_positions]
    valid_rows = np.flatnonzero(valid)
    frame = pd.DataFrame({header: [str(columns[p][i]).strip() for i in valid_rows] for header, p in zip(passthrough, passthrough_positions)})
    values = pd.DataFrame(np.column_stack([concentrations, thickness])[valid], columns=[*colorants, THICKNESS_COLUMN])
    return pd.concat([frame, values], axis=1) if passthrough else values


def _check_prediction_columns(table: Table, role_of_position: Mapping[int, str], colorants: Sequence[str], suggest_renames: bool = True) -> list[str]:
    """Refuse a missing colorant or thickness column and an unknown one in percent; a note per unknown column of numbers."""
    log = ProblemLog(table.file)
    present = set(role_of_position.values())
    extra_headers = [table.header[p] for p, role in role_of_position.items() if not role]
    for required in (*colorants, THICKNESS_COLUMN):
        if required not in present:
            unit = "film thickness in µm" if required == THICKNESS_COLUMN else "weight percent"
            hint = rename_hint(required, extra_headers) if suggest_renames or required == THICKNESS_COLUMN else ""
            if required == THICKNESS_COLUMN and not hint:
                # The lab's recipe table carries no thickness (the instrument's sample names do): that table is for training.
                hint = (" To be predicted, each recipe needs the thickness of its film (e.g. 8 or 12 µm). A recipe table whose "
                        "thicknesses are in the measured sample names is for training: upload it with its export on the Retrain page.")
            log.add(table.header_row, required, f"missing column; expected a column {required!r} ({unit}).{hint}")
    unknown_numeric_headers = []
    for position, role in role_of_position.items():
        if role:
            continue
        header = table.header[position]
        cells = [fields[position].strip() for _, fields in table.rows if position < len(fields)]
        if strip_unit(header)[1] or any(cell.endswith("%") for cell in cells):
            log.add(
                table.header_row,
                header,
                f"looks like a colorant (it is in percent) but the model knows only {', '.join(colorants)}; "
                "expected only those. Remove the column, or train a model on data that includes it.",
            )
        elif cells and all(parse_number(cell, decimal_comma=True) is not None for cell in cells if cell):
            unknown_numeric_headers.append(header)
    log.raise_if_any()
    return [
        f"{table.file}: column {header!r} is not one of the model's colorants ({', '.join(colorants)}); "
        "it is passed through unchanged and does not affect the prediction."
        for header in unknown_numeric_headers
    ]
