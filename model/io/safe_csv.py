"""CSV output that is safe to open in a spreadsheet.

Names that came from an upload come back in downloads. A text cell starting with
``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) would run as a formula in
Excel or LibreOffice, so such cells are prefixed with a single quote (OWASP's advice).
Numeric columns are left alone: a negative number is not a formula.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["neutralise_formulas", "to_csv_bytes", "write_csv"]

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose text cells and column names cannot start a formula."""
    safe = table.copy()

    def neutralise(value):
        if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
            return "'" + value
        return value

    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    safe.columns = [neutralise(str(name)) for name in safe.columns]
    return safe


def to_csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV bytes for a download button, formulas neutralised."""
    return neutralise_formulas(table).to_csv(index=False).encode("utf-8")


def write_csv(table: pd.DataFrame, path) -> None:
    neutralise_formulas(table).to_csv(path, index=False)
