"""The one number parser, and what a numeric cell of each kind must hold.

:func:`parse_number` reads every number in :mod:`model.io`: the cells of the recipe
table, the tidy CSV, the instrument export and a batch of recipes, and the values of a
pasted spectrum (:mod:`model.io.spectrum_text`). Callers differ only in the options they
pass, so a cell reads the same wherever it is uploaded.

Scales: concentrations in weight percent (0–100; ``"0.99625%"`` and ``0.99625`` mean the
same), film thickness in µm, reflectance as a factor (0–1, may exceed 1 for fluorescent
colorants).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.core.schema import WAVELENGTHS_NM
from model.io.problems import ProblemLog

__all__ = [
    "CONCENTRATION",
    "FLUORESCENCE",
    "MAX_REFLECTANCE",
    "REFLECTANCE",
    "THICKNESS",
    "TOTAL_TOLERANCE",
    "Quantity",
    "parse_number",
    "read_bands",
    "read_concentrations",
]

#: The largest reflectance factor accepted anywhere; above it a spectrum is absurd, or in percent.
MAX_REFLECTANCE = 5.0

#: wt %: concentrations such as 0.99625 sum with rounding error.
TOTAL_TOLERANCE = 1e-6

# A European decimal comma: the whole cell is one number written "1,5" (a thousands
# separator such as "1,000,000" is not one, and is refused rather than misread).
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?")
_DIGIT_NOTATION = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number_text(cell: str, decimal_comma: bool, percent_sign: bool) -> str:
    text = cell.strip()
    if percent_sign and text.endswith("%"):
        text = text[:-1].rstrip()
    if decimal_comma and _DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")
    return text


def parse_number(cell: str, *, decimal_comma: bool = False, percent_sign: bool = False, digits_only: bool = False) -> float | None:
    """The number a cell holds, or None if it holds none.

    Surrounding white space is ignored. Without ``digits_only`` the text is read as
    Python's ``float`` reads it, so ``nan``, ``inf`` and ``1e999`` give NaN and infinity:
    a caller that refuses them can then say why. No range is checked here.

    Parameters
    ----------
    cell : str
        The cell as written in the file.
    decimal_comma : bool
        Also read ``1,5`` (the whole cell one number, a comma between digits) as 1.5.
    percent_sign : bool
        Ignore one trailing ``%``: ``"0.99625%"`` is 0.99625 (the unit, not a division
        by 100).
    digits_only : bool
        Accept only digit notation (``1``, ``1.5``, ``.5``, ``1e-3``), not the words
        ``nan`` and ``inf`` nor ``_`` between digits.

    Returns
    -------
    float or None

    Examples
    --------
    >>> parse_number("0,5%", decimal_comma=True, percent_sign=True)
    0.5
    >>> parse_number("1,000,000", decimal_comma=True) is None
    True
    """
    text = _number_text(cell, decimal_comma, percent_sign)
    if digits_only and not _DIGIT_NOTATION.fullmatch(text):
        return None
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Quantity:
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
        value = parse_number(cell, decimal_comma=decimal_comma, percent_sign=self.allow_percent_sign)
        if value is not None and math.isfinite(value) and self._inside(value):
            return value, None
        return None, self._refusal(cell, value)

    def parse_column(self, cells: Sequence[str], decimal_comma: bool) -> np.ndarray:
        """:meth:`parse` of every cell of a column, NaN where it refuses the cell.

        For large files: no message is built; only the rows with a NaN need the
        cell-by-cell :meth:`parse`, whose messages name the row, the column and what
        was expected.
        """
        values = (parse_number(cell, decimal_comma=decimal_comma, percent_sign=self.allow_percent_sign) for cell in cells)
        return np.array([value if value is not None and self._inside(value) else np.nan for value in values], dtype=float)

    def _inside(self, value: float) -> bool:
        if self.bounds_inclusive:
            return self.low <= value <= self.high
        return self.low < value < self.high

    def _refusal(self, cell: str, value: float | None) -> str:
        shown = cell.strip()
        expected = f"expected a number ({self.description}, {self.range_text})"
        if value is None and not _number_text(cell, False, self.allow_percent_sign):
            return f"{expected}, the cell is empty{self.empty_hint}."
        if value is None:
            return f"{expected}, got {shown!r}."
        if math.isnan(value):
            return f"{expected}, got {shown!r} (not a number){self.empty_hint}."
        if math.isinf(value):
            return f"expected a finite number ({self.description}, {self.range_text}), got {shown!r}."
        too_high = value > self.high if self.bounds_inclusive else value >= self.high
        hint = self.high_hint if too_high else ""
        return f"expected a {self.description} {self.range_text}, got {shown}.{hint}"


CONCENTRATION = Quantity(
    "weight percent",
    0.0,
    100.0,
    "from 0 to 100",
    allow_percent_sign=True,
    empty_hint="; write 0 for a colorant the recipe does not use",
)
REFLECTANCE = Quantity(
    "reflectance factor",
    0.0,
    MAX_REFLECTANCE,
    "from 0 to 5, usually 0–1",
    high_hint=" Values this large suggest percent: divide the spectrum by 100.",
)
THICKNESS = Quantity("film thickness in µm", 0.0, 1000.0, "above 0 and below 1000", bounds_inclusive=False)
#: A film's fluorescence intensity in counts per second: 0 for a film without a fluorescent colorant.
FLUORESCENCE = Quantity(
    "fluorescence intensity in ct/s",
    0.0,
    math.inf,
    "of 0 or more",
    empty_hint="; delete the row if the film has no reading",
)


def read_concentrations(
    log: ProblemLog, row: int, cells: Sequence[str], headers: Sequence[str], decimal_comma: bool
) -> list[float | None]:
    """Concentrations of one recipe (wt %); problems logged, None for a bad cell."""
    values = []
    for header, cell in zip(headers, cells):
        value, error = CONCENTRATION.parse(cell, decimal_comma)
        if error:
            log.add(row, header, error)
        values.append(value)
    if None not in values and sum(values) > 100.0 + TOTAL_TOLERANCE:
        log.add(
            row,
            None,
            f"the concentrations add up to {sum(values):g} %; expected at most 100 % "
            "(the rest of the film is binder). Check for a misplaced decimal point.",
        )
    return values


class UnusedColorantWarning(UserWarning):
    """A colorant column is empty in every row of a file: it was read as 0 wt % (see :func:`fill_unused_colorants`)."""


def fill_unused_colorants(table, positions: Sequence[int]) -> list[str]:
    """Read a colorant column that is empty in every row as 0 wt %, in place; warn once per such column.

    A lab's export may carry a column for every colorant it stocks, blank where no recipe of
    the file uses it. Refusing each of its empty cells would bury that one fact under a message
    per row (10,000 of them for 10,000 recipes); the model, when it trains, warns again about a
    colorant no film holds. A column empty in only some rows is still refused cell by cell: a
    missing value there is not an unused colorant, nor is the empty cell of a file of one row.

    Parameters
    ----------
    table : model.io.text.Table, whose rows are filled in place.
    positions : the colorant columns' positions in the header.

    Returns
    -------
    list of str, one sentence per column read as 0 (each also warned as :class:`UnusedColorantWarning`),
    for a caller that shows what reading assumed (the Retrain review, the API's ``notes``).
    """
    if len(table.rows) < 2:  # one recipe's empty cell is a missing value, not a column left blank
        return []
    # A row too short to hold the cell is refused for its length; it does not make the column empty.
    empty = [p for p in positions if all(p < len(fields) and not fields[p].strip() for _, fields in table.rows)]
    for _, fields in table.rows:
        for position in empty:
            fields[position] = "0"
    notes = [
        f"{table.file}: column {table.header[position]!r} is empty in all {len(table.rows):,} rows, so it was read as 0 wt % "
        "(a colorant none of these recipes uses). Delete the column if this colorant is not part of the data; "
        "if its amounts are missing, fill them in and upload again."
        for position in empty
    ]
    for note in notes:
        warnings.warn(UnusedColorantWarning(note), stacklevel=3)
    return notes


def read_bands(
    log: ProblemLog, row: int, cells: Sequence[str], header: Sequence[str], positions: Mapping[int, int], decimal_comma: bool
) -> list[float | None]:
    """The 31 reflectances of one row (factor, 0–5); problems logged, None for a bad cell."""
    values = []
    for wavelength in WAVELENGTHS_NM:
        position = positions[int(wavelength)]
        value, error = REFLECTANCE.parse(cells[position], decimal_comma)
        if error:
            log.add(row, header[position], error)
        values.append(value)
    return values
