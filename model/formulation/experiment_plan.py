"""What :func:`~model.formulation.experiments.plan_experiments` returns: the recipes to make next, and why.

The plan downloads as a recipe table in the format the Retrain page reads
(:func:`model.io.recipes.read_recipe_table`: ``Sample ID`` then ``<colorant> (%)``
columns, values such as ``1.25%``), so the lab prints it, makes and reads the films,
and uploads the instrument export back with this very table.

Scales: concentrations in wt % (0–100), thickness in µm, L* 0–100, a* and b* in CIELAB
units, ΔE00 in CIEDE2000 units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.core.schema import THICKNESS_COLUMN
from model.io.matching import ThicknessRule
from model.io.safe_csv import to_csv_bytes

__all__ = ["ExperimentPlan", "Suggestion", "measurement_names", "recipe_table_frame"]

#: Header of the recipe table's id column, as in the lab's own ``Concentrations.csv``.
RECIPE_TABLE_ID_HEADER = "Sample ID"


@dataclass(frozen=True)
class Suggestion:
    """One recipe to make and measure next.

    Attributes
    ----------
    recipe_id : str
        The name to write on the drawdowns and in the instrument (see :attr:`measure_as`).
    concentrations : dict of str to float
        wt % of every model colorant (0 for the unused ones).
    thickness_um : float
        The film whose prediction is the least certain; :attr:`Lab`, :attr:`hex` and the
        uncertainties are its. The plan asks for a film at every allowed thickness.
    Lab : numpy.ndarray, shape (3,)
        Predicted CIELAB (D65, 10°) of that film.
    hex : str
        Its display swatch, ``#rrggbb``.
    uncertainty : float
        Today's stated uncertainty of that prediction (the calibrated band: see model.models.uncertainty), ΔE00.
    disagreement : float
        ΔE00 between the physics-only prediction and the model's (0 for a model without physics).
    nearest_recipe : str
        The measured recipe closest to this one (in the scaled recipe space).
    nearest_distance_wt : float
        Euclidean distance in wt % to that recipe's concentrations.
    acquisition : float
        The score the batch was chosen by, 0–1 (higher: more to learn), at the time it was chosen.
    reasons : tuple of str
        Why, in words built from the data, most telling first.
    """

    recipe_id: str
    concentrations: dict[str, float]
    thickness_um: float
    Lab: np.ndarray
    hex: str
    uncertainty: float
    disagreement: float
    nearest_recipe: str
    nearest_distance_wt: float
    acquisition: float
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """The reasons as one sentence."""
        text = "; ".join(self.reasons)
        return text[:1].upper() + text[1:] + "." if text else ""

    @property
    def recipe(self) -> dict[str, float]:
        """Concentrations (wt %) and ``thickness_um`` (µm) of the film the prediction is for."""
        return {**self.concentrations, THICKNESS_COLUMN: self.thickness_um}


def measurement_names(recipe_id: str, thicknesses_um: Sequence[float], rule: ThicknessRule | None = None) -> list[str]:
    """The names to give the readings of ``recipe_id``, one per thickness, as the upload's matcher reads them.

    A thickness the rule has no suffix for (and that is not its default) cannot be
    named; it is left out here, and :meth:`ExperimentPlan.measurement_note` says so.
    """
    rule = rule or ThicknessRule()
    names = []
    for thickness in thicknesses_um:
        if np.isclose(thickness, rule.default_um):
            names.append(recipe_id)
            continue
        suffixes = [suffix for suffix, value in rule.suffixes.items() if np.isclose(float(value), thickness)]
        if suffixes:
            names.append(recipe_id + suffixes[0])
    return names


def recipe_table_frame(suggestions: Sequence[Suggestion], colorants: Sequence[str]) -> pd.DataFrame:
    """The recipe table as text cells: ``Sample ID`` then ``<colorant> (%)`` with values like ``1.25%``."""
    rows = []
    for suggestion in suggestions:
        cells = {RECIPE_TABLE_ID_HEADER: suggestion.recipe_id}
        for name in colorants:
            # The shortest exact decimal, as the lab writes it (and as the demo's table is written).
            cells[f"{name} (%)"] = np.format_float_positional(round(float(suggestion.concentrations[name]), 4), trim="-") + "%"
        rows.append(cells)
    return pd.DataFrame(rows, columns=[RECIPE_TABLE_ID_HEADER, *(f"{name} (%)" for name in colorants)])


@dataclass(frozen=True)
class ExperimentPlan:
    """N recipes to make next, most informative first, and what they were chosen from.

    Attributes
    ----------
    suggestions : list of Suggestion
    colorants : tuple of str, the model's colorants in order.
    thicknesses_um : tuple of float, the films to draw of every suggestion (µm).
    n_candidates : int, how many recipes were scored.
    n_measured_recipes : int, how many measured recipes the distances are to.
    measured_Lab : numpy.ndarray (m, 3), CIELAB of the measured films (for the chart).
    target_label : str or None, the target region, in words.
    """

    suggestions: list[Suggestion]
    colorants: tuple[str, ...]
    thicknesses_um: tuple[float, ...]
    n_candidates: int
    n_measured_recipes: int
    measured_Lab: np.ndarray
    target_label: str | None = None

    def __len__(self) -> int:
        return len(self.suggestions)

    def to_frame(self) -> pd.DataFrame:
        """One row per suggestion: recipe (wt %), the predicted film, its uncertainty and the reasons, with units."""
        rows = []
        for suggestion in self.suggestions:
            rows.append({
                "recipe_id": suggestion.recipe_id,
                **{f"{name} (wt %)": round(suggestion.concentrations[name], 3) for name in self.colorants},
                "predicted film (µm)": suggestion.thickness_um,
                "L*": round(float(suggestion.Lab[0]), 1),
                "a*": round(float(suggestion.Lab[1]), 1),
                "b*": round(float(suggestion.Lab[2]), 1),
                "hex": suggestion.hex,
                "uncertainty (ΔE00)": round(suggestion.uncertainty, 2),
                "physics vs model (ΔE00)": round(suggestion.disagreement, 2),
                "nearest measured recipe": suggestion.nearest_recipe,
                "distance to it (wt %)": round(suggestion.nearest_distance_wt, 2),
                "measure as": ", ".join(measurement_names(suggestion.recipe_id, self.thicknesses_um)),
                "why": suggestion.reason,
            })
        return pd.DataFrame(rows)

    def recipe_table(self) -> pd.DataFrame:
        """The recipe table the Retrain page accepts with the instrument export (see :func:`recipe_table_frame`)."""
        return recipe_table_frame(self.suggestions, self.colorants)

    def recipe_table_csv(self) -> bytes:
        """:meth:`recipe_table` as UTF-8 CSV bytes, for a download button or a file."""
        return to_csv_bytes(self.recipe_table())

    def measurement_note(self, rule: ThicknessRule | None = None) -> str:
        """How to name the readings so the upload matches them to this table, in words."""
        rule = rule or ThicknessRule()
        example = self.suggestions[0].recipe_id if self.suggestions else "PLAN1"
        named = measurement_names(example, self.thicknesses_um, rule)
        films = [f"{thickness:g} µm" for thickness in self.thicknesses_um]
        films_text = " and ".join([", ".join(films[:-1]), films[-1]] if len(films) > 1 else films)
        readings = " and ".join(f"`{name}`" for name in named)
        note = f"Draw each recipe down at {films_text}, and name the readings as the upload expects: {readings} for {example}, and likewise for the others."
        if len(named) < len(self.thicknesses_um):
            note += " A thickness with no name suffix must be uploaded as a tidy CSV with a thickness_um column."
        return note
