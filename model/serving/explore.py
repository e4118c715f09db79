"""Look around one recipe: the measured training samples nearest to it, and its two CIELAB paths.

The nearest samples need the measurements the model was trained on. A saved model
keeps only its weights and training range, and its card keeps the dataset's
fingerprint, not the data; :func:`model.ops.review.find_training_dataset` finds the data
again (store or demo data) by that fingerprint, so a chemist is never shown "nearest
measured samples" from some other dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from model.core import colorimetry
from model.core.prediction import Prediction, TrainingRange
from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, Dataset

__all__ = ["TrainingSamples", "nearest_samples", "recipe_frame", "lab_paths_table"]


def recipe_frame(concentrations: Mapping[str, float], thickness_um: float, colorants: Sequence[str]) -> pd.DataFrame:
    """One recipe as the one-row frame ``model.predict`` takes (colorants in wt %, thickness in µm).

    Colorants missing from ``concentrations`` are 0 wt %.
    """
    row = {name: float(concentrations.get(name, 0.0)) for name in colorants}
    row[THICKNESS_COLUMN] = float(thickness_um)
    return pd.DataFrame([row], columns=[*colorants, THICKNESS_COLUMN])


class TrainingSamples:
    """Measured training samples prepared once for repeated nearest-recipe look-ups.

    The Predict page looks up neighbours on every widget change; holding the inputs,
    spectra and colours as arrays keeps that to a few array operations.

    Parameters
    ----------
    dataset : Dataset
        Training measurements (colorants in wt %, thickness in µm, reflectance 0–1).
    """

    def __init__(self, dataset: Dataset) -> None:
        self.columns = [*dataset.colorants, THICKNESS_COLUMN]
        self.sample_ids = dataset.table[SAMPLE_ID_COLUMN].astype(str).to_numpy()
        self.recipe_ids = dataset.table[RECIPE_ID_COLUMN].astype(str).to_numpy()
        self.inputs = dataset.table[self.columns].to_numpy(dtype=float)
        self.reflectance = dataset.reflectance
        self.Lab = colorimetry.reflectance_to_Lab(self.reflectance)
        self.hex = np.atleast_1d(colorimetry.sRGB_to_hex(colorimetry.Lab_to_sRGB(self.Lab)[0]))

    def __len__(self) -> int:
        return len(self.inputs)

    def nearest(self, recipe: pd.DataFrame, training_range: TrainingRange, k: int = 3) -> pd.DataFrame:
        """The ``k`` samples nearest to ``recipe``; see :func:`nearest_samples`."""
        span = np.array([max(training_range.maximum[c] - training_range.minimum[c], 1e-9) for c in self.columns])
        wanted = recipe[self.columns].to_numpy(dtype=float)[0]
        distance = np.sqrt((((self.inputs - wanted) / span) ** 2).sum(axis=1))
        order = np.argsort(distance, kind="stable")[:k]
        numbers = np.column_stack([self.inputs[order], distance[order], self.Lab[order], self.reflectance[order]])
        table = pd.DataFrame(numbers, columns=[*self.columns, "distance", "L", "a", "b", *BAND_COLUMNS])
        table.insert(0, RECIPE_ID_COLUMN, self.recipe_ids[order])
        table.insert(0, SAMPLE_ID_COLUMN, self.sample_ids[order])
        table.insert(len(self.columns) + 6, "hex", self.hex[order])
        return table


def nearest_samples(dataset: Dataset, recipe: pd.DataFrame, training_range: TrainingRange, k: int = 3) -> pd.DataFrame:
    """The ``k`` measured samples whose recipes are nearest to ``recipe``.

    Distance is Euclidean over the colorants and thickness, each divided by its trained
    span (max − min), so that 1 wt % of a colorant used up to 2 % counts as much as 10 %
    of one used up to 20 %. For repeated look-ups build a :class:`TrainingSamples` once.

    Parameters
    ----------
    dataset : Dataset
        Training measurements (colorants in wt %, thickness in µm).
    recipe : DataFrame
        One row with the dataset's colorant columns and ``thickness_um``.
    training_range : TrainingRange
    k : int

    Returns
    -------
    DataFrame
        ``sample_id, recipe_id, <colorants>, thickness_um, distance, L, a, b, hex,
        R400 … R700`` (reflectance factor 0–1), nearest first.
    """
    return TrainingSamples(dataset).nearest(recipe, training_range, k)


def lab_paths_table(prediction: Prediction, row: int = 0) -> pd.DataFrame:
    """CIELAB of one predicted recipe by both paths, for display.

    Returns
    -------
    DataFrame
        Index ``From the spectrum``, ``From the CIELAB head``; columns ``L*`` (0–100),
        ``a*``, ``b*``, ``C*`` and ``h°`` (degrees, 0–360, derived from a*, b*) and
        ``headline`` (True for the path the model reports, chosen on validation).
    """
    paths = {
        "From the spectrum": (prediction.Lab_spectral[row], prediction.headline == "spectral"),
        "From the CIELAB head": (prediction.Lab_head[row], prediction.headline == "head"),
    }
    records = {}
    for label, (Lab, is_headline) in paths.items():
        LCh = colorimetry.Lab_to_LCh(Lab)
        records[label] = {"L*": Lab[0], "a*": Lab[1], "b*": Lab[2], "C*": LCh[1], "h°": LCh[2], "headline": is_headline}
    return pd.DataFrame.from_dict(records, orient="index")
