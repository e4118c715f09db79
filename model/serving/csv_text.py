"""CSV text of a predictions table, byte for byte as pandas writes it, several times faster.

A million predictions are about 46 million floating-point numbers. pandas' ``to_csv``
turns each into text one at a time (NumPy's ``astype(str)``, the shortest repr that
reads back to the same double, as Python's ``repr``): most of a minute. orjson writes a
whole float array at once in compiled code with the same shortest round-trip digits; it
differs from ``repr`` only in how it spells numbers below 1e-4 and from 1e16 on (``1e-5``
for ``1e-05``), so those few (and inf) are spelled by ``repr``. The strings and booleans
of the table are written as pandas writes them; a table holding anything else (a text
cell that would need quoting, an unexpected dtype) gets None, and the caller uses pandas.

tests/test_cli.py compares the output with pandas' byte for byte.
"""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd

__all__ = ["csv_text"]

#: Characters that make the csv module quote a field (QUOTE_MINIMAL, pandas' default).
_NEEDS_QUOTING = (",", '"', "\n", "\r")


def csv_text(table: pd.DataFrame, header: bool = True) -> str | None:
    """``table.to_csv(index=False, header=header)``'s text, or None when this writer cannot promise the same bytes."""
    columns = []
    for name in table.columns:
        cells = _column_text(table[name])
        if cells is None:
            return None
        columns.append(cells)
    lines = [",".join(row) for row in zip(*columns)]
    if header:
        names = [str(name) for name in table.columns]
        if any(mark in name for name in names for mark in _NEEDS_QUOTING) or len(names) < 2:
            return None
        lines.insert(0, ",".join(names))
    return "\n".join(lines) + "\n" if lines else ""


def _column_text(column: pd.Series) -> list[str] | None:
    kind = column.dtype.kind
    if kind == "f" and column.dtype == np.float64:
        return _float_text(column.to_numpy())
    if kind == "b":
        return ["True" if value else "False" for value in column.to_numpy()]
    if kind in "iu":
        return [str(value) for value in column.to_numpy().tolist()]
    if kind in "OUT" or pd.api.types.is_string_dtype(column.dtype):
        values = column.to_numpy(dtype=object, na_value=None)
        if not all(value is None or isinstance(value, str) for value in values):
            return None
        texts = ["" if value is None else value for value in values]
        if any(mark in text for text in texts for mark in _NEEDS_QUOTING):
            return None
        return texts
    return None


def _float_text(values: np.ndarray) -> list[str]:
    """Each float as ``repr`` spells it (the shortest text that reads back to the same double); NaN as ``""``."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if len(values) == 0:
        return []
    finite = np.isfinite(values)
    # orjson spells NaN and inf "null"; they are fixed up below with the other exceptions.
    texts = orjson.dumps(np.where(finite, values, 0.0), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode("ascii").split(",")
    magnitude = np.abs(values)
    same_as_repr = finite & (((magnitude >= 1e-4) & (magnitude < 1e16)) | (values == 0.0))
    for index in np.flatnonzero(~same_as_repr):
        value = values[index]
        texts[index] = "" if np.isnan(value) else repr(float(value))
    return texts
