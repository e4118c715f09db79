"""The precision a lab reads: numbers in the downloads and tables meant for people.

A spectrophotometer reports CIELAB to two decimals and reflectance to four; a balance
weighs a recipe to a milligram in a gram (three decimals of a weight percent); a film
gauge reads thickness to a tenth of a micrometre. A model's float64 output carries
fifteen digits, of which the rest is noise to a reader (``L 70.36394889524092``). The
dashboard's downloads and the tables it shows round to these decimals here, in one
place. The CLI and the JSON API keep full precision, for programs.

Scales: L\\* 0–100, a\\*, b\\*, C\\* CIELAB units, h° degrees; ΔE00 CIEDE2000 units;
reflectance a factor (0–1, may exceed 1 for fluorescent colorants); colorants in wt %;
film thickness in µm; fluorescence in ct/s.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from model.core.schema import BAND_COLUMNS, FLUORESCENCE_COLUMN, THICKNESS_COLUMN

__all__ = ["READING_DECIMALS", "reading_decimals", "round_for_reading"]

#: Decimals a lab reads, per quantity.
READING_DECIMALS = {
    "CIELAB": 2,  # L*, a*, b*, C*, h°: as the instrument's own export reports them
    "delta_e00": 2,  # CIEDE2000 differences, bands and errors
    "reflectance": 4,  # a factor, 0–1: the instrument's four decimals
    "percent_reflectance": 2,  # the same precision, in percent
    "wt_percent": 3,
    "thickness_um": 1,
    "fluorescence_cts": 0,  # counts per second
}

# Column names of CIELAB quantities: the CLI's and the API's (``L``) and the display's (``L*``).
_CIELAB_NAMES = frozenset({"L", "a", "b", "C", "h", "L*", "a*", "b*", "C*", "h°"})
_THICKNESS_NAMES = frozenset({THICKNESS_COLUMN, "thickness (µm)", "film thickness (µm)"})
_BANDS = frozenset(BAND_COLUMNS)


def reading_decimals(column: str, colorants: Sequence[str] = ()) -> int | None:
    """The decimals a lab reads of the quantity a column is named for; None for anything else.

    Parameters
    ----------
    column : str
        A column name as Huecast writes it: ``L`` or ``L*``, ``delta_e00_paths`` or
        ``test mean ΔE00``, ``R400`` … ``R700``, ``thickness_um``, ``fluorescence_cts``,
        ``spectral_rms_percent``, or a colorant (``GXT-10``, ``GXT-10 (%)``).
    colorants : sequence of str
        The colorant names (wt %): a table's colorant columns cannot be told by name alone.

    Returns
    -------
    int or None, from :data:`READING_DECIMALS`.

    Examples
    --------
    >>> reading_decimals("L"), reading_decimals("uncertainty_delta_e00"), reading_decimals("R550")
    (2, 2, 4)
    >>> reading_decimals("GXT-10", ["GXT-10"]), reading_decimals("thickness_um"), reading_decimals("name")
    (3, 1, None)
    """
    name = str(column)
    lowered = name.casefold()
    if name in _CIELAB_NAMES:
        return READING_DECIMALS["CIELAB"]
    if "delta_e00" in lowered or "δe00" in lowered:
        return READING_DECIMALS["delta_e00"]
    if name in _BANDS:
        return READING_DECIMALS["reflectance"]
    if name.endswith("_percent") and "spectral" in lowered:
        return READING_DECIMALS["percent_reflectance"]
    if name in _THICKNESS_NAMES:
        return READING_DECIMALS["thickness_um"]
    if name == FLUORESCENCE_COLUMN or "ct/s" in lowered:
        return READING_DECIMALS["fluorescence_cts"]
    if any(name in (colorant, f"{colorant} (%)", f"{colorant} (wt %)") for colorant in colorants):
        return READING_DECIMALS["wt_percent"]
    return None


def round_for_reading(table: pd.DataFrame, colorants: Sequence[str] = ()) -> pd.DataFrame:
    """A copy of ``table`` with each numeric column rounded to the decimals a lab reads.

    Columns are recognised by name (:func:`reading_decimals`); others, and text columns,
    are left as they are. For a download or a table meant for people; the CLI and the
    JSON API keep full precision.

    Parameters
    ----------
    table : DataFrame
        A prediction (:meth:`model.core.prediction.Prediction.to_frame`), a batch result,
        a formulation's recipes, or a display table with ``L*``-style headers.
    colorants : sequence of str
        The colorant columns (wt %), for example ``model.colorants_``.

    Returns
    -------
    DataFrame, a new table; the input is not changed (it may be a cached object).

    Examples
    --------
    >>> round_for_reading(pd.DataFrame({"GXT-10": [15.705277003325303], "L": [70.36394889524092]}), ["GXT-10"])
       GXT-10      L
    0  15.705  70.36
    """
    rounded = table.copy()
    for column in rounded.columns:
        decimals = reading_decimals(column, colorants)
        if decimals is not None and pd.api.types.is_float_dtype(rounded[column]):
            rounded[column] = rounded[column].round(decimals)
    return rounded
