"""The one check of a table of recipes before any model fits on it or predicts it.

A chemist scripting Huecast passes a DataFrame straight to ``predict``; without this check a
NaN concentration came back as a black swatch with no flag, and 150 wt %, a total of 120 wt %
or a film of -5 µm came back as numbers. The rules are the CLI's and the dashboard's
(:data:`model.io.cells.CONCENTRATION`, :data:`~model.io.cells.THICKNESS` and the total of a
recipe's colorants), so a recipe refused in a CSV is refused here too, with its row, its
column and what was expected. No scikit-learn here: the serving snapshot uses it too.

Scales: concentrations in wt % (0–100, adding up to at most 100), film thickness in µm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.core.schema import THICKNESS_COLUMN
from model.io.cells import CONCENTRATION, THICKNESS, TOTAL_TOLERANCE
from model.io.columns import rename_hint

__all__ = ["check_recipe_values"]


def check_recipe_values(frame: pd.DataFrame, columns: list[str], where: str) -> np.ndarray:
    """Float matrix of ``columns`` of ``frame`` (colorants in wt %, ``thickness_um`` in µm, last).

    Raises
    ------
    ValueError
        Naming what to fix: a missing column (with the column that may be it, such as
        ``"GXT-10 (%)"`` for ``GXT-10``), a column given twice, or the row (the frame's index
        label) and column of a value that is not a number, a concentration outside 0–100 wt %,
        a thickness outside 0–1000 µm (exclusive), or colorants adding up to more than 100 wt %.
    """
    _check_columns(frame, columns, where)
    try:
        values = frame[columns].to_numpy(dtype=float)
    except (TypeError, ValueError):  # text in a cell: each column read as numbers, the text becomes NaN
        values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    thickness_at = columns.index(THICKNESS_COLUMN)
    colorant_at = [i for i in range(len(columns)) if i != thickness_at]
    inside = np.ones(values.shape, dtype=bool)
    inside[:, colorant_at] = (values[:, colorant_at] >= CONCENTRATION.low) & (values[:, colorant_at] <= CONCENTRATION.high)
    inside[:, thickness_at] = (values[:, thickness_at] > THICKNESS.low) & (values[:, thickness_at] < THICKNESS.high)
    if not inside.all():  # NaN fails every comparison, so it lands here too
        row, column = np.argwhere(~inside)[0]
        quantity = THICKNESS if column == thickness_at else CONCENTRATION
        cell = frame[columns[column]].iloc[row]
        hint = quantity.empty_hint if _is_missing(cell) else ""
        raise ValueError(
            f"{where}: row {frame.index[row]!r}, column {columns[column]!r} is {_shown(cell)}; "
            f"expected a number ({quantity.description}, {quantity.range_text}){hint}."
        )
    totals = values[:, colorant_at].sum(axis=1)
    if np.any(totals > 100.0 + TOTAL_TOLERANCE):
        row = int(np.flatnonzero(totals > 100.0 + TOTAL_TOLERANCE)[0])
        raise ValueError(
            f"{where}: row {frame.index[row]!r}: the colorants add up to {totals[row]:g} wt %; "
            "expected at most 100 (the colorants are part of the ink, not added to it)."
        )
    return values


def _is_missing(cell) -> bool:
    return cell is None or (not isinstance(cell, str) and bool(pd.isna(cell)))


def _shown(cell) -> str:
    """A cell as a chemist reads it: ``150``, ``-5``, ``empty (NaN)``, ``inf`` or ``'2,5'`` (text, quoted)."""
    if _is_missing(cell):
        return "empty (NaN)"
    if isinstance(cell, (int, float, np.number)) and not isinstance(cell, bool):
        return f"{float(cell):g}"
    return repr(str(cell))


def _check_columns(frame: pd.DataFrame, columns: list[str], where: str) -> None:
    twice = [column for column in columns if list(frame.columns).count(column) > 1]
    if twice:
        raise ValueError(f"{where}: column {twice[0]!r} is given twice; keep one of them.")
    missing = [column for column in columns if column not in frame.columns]
    if not missing:
        return
    others = [header for header in frame.columns if header not in columns]
    raise ValueError(
        f"{where} lacks columns {missing}; expected the colorant columns (wt %) and {THICKNESS_COLUMN!r} (µm): {columns}."
        + "".join(rename_hint(column, others) for column in missing)
    )
