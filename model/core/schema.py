"""Shared vocabulary: the spectral grid, column names and the :class:`Dataset`.

Every other module speaks in these terms, so a measurement table produced by any
reader (instrument export, tidy CSV, the store, the simulator) looks the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "WAVELENGTHS_NM",
    "BAND_COLUMNS",
    "THICKNESS_COLUMN",
    "SAMPLE_ID_COLUMN",
    "RECIPE_ID_COLUMN",
    "SOURCE_COLUMN",
    "FLUORESCENCE_COLUMN",
    "Dataset",
]

#: The 31 reflectance bands every spectrum in Huecast is sampled on (nm).
WAVELENGTHS_NM = np.arange(400, 701, 10)
#: Column names of the bands in tidy tables: ``R400`` … ``R700``.
BAND_COLUMNS = [f"R{int(w)}" for w in WAVELENGTHS_NM]
THICKNESS_COLUMN = "thickness_um"
SAMPLE_ID_COLUMN = "sample_id"
RECIPE_ID_COLUMN = "recipe_id"
SOURCE_COLUMN = "source"
#: Optional measured fluorescence intensity of a film, counts per second (ct/s); NaN where
#: the film has no reading. A film without a reading is still used for colour.
FLUORESCENCE_COLUMN = "fluorescence_cts"


@dataclass(frozen=True)
class Dataset:
    """Measurements of recipes: one row per measured spectrum.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``sample_id, recipe_id, <colorants…>, thickness_um, R400 … R700`` and
        optionally ``source``. Concentrations are weight percent (0–100), thickness is
        in µm, reflectance is a factor (0–1, may exceed 1 for fluorescent colorants).
        Duplicate measurements of one recipe are kept as separate rows.
    colorants : tuple of str
        The colorant column names, in model input order.
    """

    table: pd.DataFrame
    colorants: tuple[str, ...]
    name: str = field(default="dataset")

    def __post_init__(self) -> None:
        missing = [
            c
            for c in (SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *self.colorants, THICKNESS_COLUMN, *BAND_COLUMNS)
            if c not in self.table.columns
        ]
        if missing:
            raise ValueError(f"Dataset table lacks columns {missing}.")
        if not self.colorants:
            raise ValueError("Dataset needs at least one colorant column.")

    def __len__(self) -> int:
        return len(self.table)

    @property
    def recipes(self) -> pd.DataFrame:
        """Model inputs: the colorant columns (wt %) and ``thickness_um`` (µm)."""
        return self.table[[*self.colorants, THICKNESS_COLUMN]].astype(float).reset_index(drop=True)

    @property
    def reflectance(self) -> np.ndarray:
        """Reflectance factor, shape (n, 31), scale 0–1 (may exceed 1)."""
        return self.table[BAND_COLUMNS].to_numpy(dtype=float)

    @property
    def recipe_ids(self) -> np.ndarray:
        """The grouping key for leave-recipe-out splits, one per row."""
        return self.table[RECIPE_ID_COLUMN].astype(str).to_numpy()

    @property
    def sample_ids(self) -> np.ndarray:
        return self.table[SAMPLE_ID_COLUMN].astype(str).to_numpy()

    @property
    def n_recipes(self) -> int:
        return int(self.table[RECIPE_ID_COLUMN].nunique())

    def subset(self, mask_or_index) -> "Dataset":
        """Rows selected by a boolean mask or integer positions, as a new Dataset."""
        rows = self.table.iloc[np.flatnonzero(mask_or_index)] if np.asarray(mask_or_index).dtype == bool else self.table.iloc[mask_or_index]
        return Dataset(rows.reset_index(drop=True), self.colorants, self.name)

    def fingerprint(self) -> str:
        """SHA-256 of the model-relevant content (order-independent), for provenance.

        Fluorescence readings count only when there are some: data without a reading has
        the fingerprint it had before readings existed, whether or not it has the column.
        """
        columns = [SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *self.colorants, THICKNESS_COLUMN, *BAND_COLUMNS, *self._fluorescence_columns()]
        ordered = self.table[columns].sort_values([RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN], kind="mergesort")
        payload = ordered.to_csv(index=False, float_format="%.8g").encode("utf-8")
        return hashlib.sha256(payload).hexdigest()

    def to_tidy_csv(self, path) -> None:
        """Write the tidy form (``sample_id, recipe_id, <colorants>, thickness_um, R400…R700``
        and ``fluorescence_cts`` (ct/s, empty without a reading) when there are readings).

        Numbers are written as Python's shortest exact form (``repr``), so reading the file
        back gives the same floats bit for bit, and the same :meth:`fingerprint`. (pandas'
        own float formatting may keep only 12 significant digits on wide tables, which can
        round a value across the fingerprint's 8-digit boundary.)
        """
        columns = [SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *self.colorants, THICKNESS_COLUMN, *BAND_COLUMNS, *self._fluorescence_columns()]
        numbers = columns[2:]
        exact = self.table[columns].astype({column: object for column in numbers})
        # An empty cell is a film without a fluorescence reading (NaN), as the tidy reader reads it.
        exact[numbers] = self.table[numbers].astype(float).map(lambda value: "" if np.isnan(value) else repr(value))
        exact.to_csv(path, index=False)

    def _fluorescence_columns(self) -> list[str]:
        """``[FLUORESCENCE_COLUMN]`` when any row has a reading, else ``[]``."""
        has = FLUORESCENCE_COLUMN in self.table.columns and self.table[FLUORESCENCE_COLUMN].notna().any()
        return [FLUORESCENCE_COLUMN] if has else []
