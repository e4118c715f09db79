"""A fast reader for large, plain CSVs of recipes: the same table as the full reader, in C loops.

The full reader (:func:`model.io.read_recipes_for_prediction`) checks every cell in
Python so that it can say, for each bad one, its row, its column and what was expected;
a million recipes take it most of a minute. Most large files are plain: a comma between
fields, no quoting, every number written in digits (``12.5``, or ``6.5e-05`` as a program
writes a small one), every value in range. :func:`read_plain_recipes` reads such a file
with pandas (pyarrow's parser, or the C one without pyarrow) and checks it in whole columns;
it returns exactly the table the full reader would (the first rows are read by both and
compared), or None the moment anything is not plain, and the caller then uses the full
reader, whose messages it cannot match.

Scales: concentrations in wt % (0–100), film thickness in µm.
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from model.core.schema import THICKNESS_COLUMN
from model.io import IngestError, read_recipes_for_prediction_with_notes
from model.io.cells import CONCENTRATION, THICKNESS, TOTAL_TOLERANCE
from model.io.columns import column_key, is_thickness_header
from model.io.text import read_text

__all__ = ["read_plain_recipes"]

#: Rows read by both readers and compared before the fast one is trusted with the rest.
_CHECKED_ROWS = 200
#: pandas' CSV parser for the cells: pyarrow's when it is installed (streamlit requires it), else C.
_PARSER = "pyarrow" if importlib.util.find_spec("pyarrow") is not None else "c"
#: A number as the fast path accepts it: digits, optionally a point and more digits, and
#: optionally an exponent, as Python and pandas write a float below 1e-4 (``6.5e-05``).
#: Python's ``float`` reads it, as the full reader does (:func:`model.io.cells.parse_number`).
_PLAIN_NUMBER = r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"


def read_plain_recipes(source, colorants: Sequence[str], *, name: str | None = None, max_rows: int | None = None) -> pd.DataFrame | None:
    """The valid recipes of a plain CSV, as :func:`~model.io.read_recipes_for_prediction` returns them, or None.

    None means "not plain" (quoting, a semicolon, a ``sep=`` line, a carriage return, a
    number not written in plain digits, a value out of range, a row that would be left
    out, a column that would be warned about, more than ``max_rows`` rows, a file-like
    source): read it with the full reader, which reports each problem. A returned table
    has no problems to report.

    Raises
    ------
    IngestError
        The file cannot be read as text (as the full reader raises it).
    """
    if not isinstance(source, (str, os.PathLike, bytes, bytearray)):
        return None
    text, file = read_text(source, name, "a CSV of recipes")
    first_line = text.split("\n", 1)[0]
    if '"' in text or "\r" in text or "," not in first_line or ";" in first_line or first_line.strip().casefold().startswith("sep="):
        return None
    if max_rows is not None and text.count("\n") > max_rows:
        return None
    colorants = list(colorants)
    head = _checked_head(text, colorants, file)
    if head is None:
        return None
    cells = _cells(text)
    if cells is None:
        return None
    if cells.isna().to_numpy().any() or len(cells) < len(head):
        return None
    table = _plain_table(cells, colorants, head)
    if table is None or not _same(table.iloc[: len(head)], head):
        return None
    return table


def _cells(text: str) -> pd.DataFrame | None:
    """Every cell of ``text`` as text, or None when the parser refuses it (a row of the wrong length, say).

    With :data:`_PARSER` "pyarrow" (threaded, about 0.2 s for a million rows here), else pandas'
    C parser (about 3 s). They differ only in what they refuse, and the table is compared with
    the full reader's on its first rows either way.
    """
    if _PARSER == "pyarrow":
        source, options = io.BytesIO(text.encode("utf-8")), {}
    else:
        source, options = io.StringIO(text), {"na_filter": False}
    try:
        return pd.read_csv(source, dtype=str, keep_default_na=False, engine=_PARSER, **options)
    except (ValueError, pd.errors.ParserError):  # pyarrow's ArrowInvalid is a ValueError
        return None


def _floats(column: pd.Series) -> np.ndarray:
    """Each cell's number, bit for bit as Python's ``float`` reads it (as the full reader does).

    Arrow's cast rounds correctly, as ``float`` does, and is ten times faster; text not held
    by arrow is read cell by cell.
    """
    if isinstance(column.array, pd.arrays.ArrowStringArray):
        return column.astype("float64[pyarrow]").to_numpy(dtype=float)
    return column.to_numpy(dtype=object).astype(float)


def _checked_head(text: str, colorants: list[str], file: str) -> pd.DataFrame | None:
    """The full reader's table of the first rows, or None when it finds a problem or has a note."""
    head_text = "\n".join(text.split("\n", _CHECKED_ROWS + 1)[: _CHECKED_ROWS + 1])
    try:
        head, problems, notes = read_recipes_for_prediction_with_notes(head_text.encode("utf-8"), colorants, name=file)
    except IngestError:
        return None
    return None if problems or notes else head


def _plain_table(cells: pd.DataFrame, colorants: list[str], head: pd.DataFrame) -> pd.DataFrame | None:
    """The recipes of ``cells`` (every cell text), in the full reader's columns; None if anything is not plain."""
    colorant_of_key = {column_key(colorant): colorant for colorant in colorants}
    roles = [THICKNESS_COLUMN if is_thickness_header(str(h)) else colorant_of_key.get(column_key(str(h)), "") for h in cells.columns]
    passthrough_names = [c for c in head.columns if c not in (*colorants, THICKNESS_COLUMN)]
    passthrough_positions = [p for p, role in enumerate(roles) if not role]
    if len(passthrough_positions) != len(passthrough_names) or sorted(r for r in roles if r) != sorted([*colorants, THICKNESS_COLUMN]):
        return None
    numbers = {}
    for position, role in enumerate(roles):
        if not role:
            continue
        column = cells.iloc[:, position]
        if not column.str.fullmatch(_PLAIN_NUMBER).all():
            return None
        numbers[role] = _floats(column)
    concentrations = np.column_stack([numbers[c] for c in colorants])
    thickness = numbers[THICKNESS_COLUMN]
    if not (_inside(CONCENTRATION, concentrations).all() and _inside(THICKNESS, thickness).all()):
        return None
    if np.any(concentrations.sum(axis=1) > 100.0 + TOTAL_TOLERANCE):
        return None
    passthrough = {}
    for header, position in zip(passthrough_names, passthrough_positions):
        column = cells.iloc[:, position].str.strip()
        if column.str.endswith("%").any():  # the full reader refuses such a column; let it say so
            return None
        passthrough[header] = column.to_numpy(dtype=object)
    values = pd.DataFrame(np.column_stack([concentrations, thickness]), columns=[*colorants, THICKNESS_COLUMN])
    return pd.concat([pd.DataFrame(passthrough), values], axis=1) if passthrough else values


def _inside(quantity, values: np.ndarray) -> np.ndarray:
    if quantity.bounds_inclusive:
        return (quantity.low <= values) & (values <= quantity.high)
    return (quantity.low < values) & (values < quantity.high)


def _same(mine: pd.DataFrame, theirs: pd.DataFrame) -> bool:
    """Same columns in the same order, the same text and bit-for-bit the same numbers."""
    if list(mine.columns) != list(theirs.columns) or len(mine) != len(theirs):
        return False
    for column in mine.columns:
        left, right = mine[column].to_numpy(), theirs[column].to_numpy()
        if left.dtype.kind == "f" or right.dtype.kind == "f":
            if left.dtype != right.dtype or not np.array_equal(left.view(np.int64), right.view(np.int64)):
                return False
        elif not all(a == b for a, b in zip(left, right)):
            return False
    return True
