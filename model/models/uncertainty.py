"""How far to trust a prediction: the calibrated band, and the ensemble spread it replaced.

A :class:`~model.models.hybrid.HybridModel` states a **calibrated** band
(:func:`calibrated_bands`, :func:`band_prediction`): a difficulty score fitted on its inner
leave-recipe-out residuals and calibrated by conformal prediction so that 9 in 10 recipes
like the one predicted come within it (:mod:`model.models.difficulty`). The rest of this
module is the older ensemble spread, still what a plain
:class:`~model.models.mlp.FormulationModel` (and a hybrid saved before the calibrated band)
states; on pp-inks it does not rank errors (Spearman 0.06–0.09 leave-recipe-out).

A :class:`~model.models.mlp.FormulationModel` averages several networks. Where
they disagree, the data did not pin the answer down (a ladder end point, a mixture
unlike any in training), and that is where the real error is large. The uncertainty of
a prediction is the root-mean-square CIEDE2000 distance of the members' CIELAB from the
ensemble's CIELAB, times :data:`BAND_SCALE`, so that it reads as a band: "the measured
colour should lie within this many ΔE00 of the prediction, about two times in three".

Whether it does is an empirical question, answered leave-recipe-out by
:func:`model.evaluation.calibration.calibration_table` (``bench/accuracy.py`` prints the
result on the real data).

Scales: CIELAB L* 0–100; ΔE00 and the uncertainty are in CIEDE2000 units.
"""

from __future__ import annotations

import numpy as np

from model.core import colorimetry
from model.models.difficulty import COVERAGE, DifficultyBand, DifficultyReference, difficulty_features, fit_difficulty_band, nearest_trained

__all__ = [
    "BAND_SCALE",
    "member_spread",
    "ensemble_uncertainty",
    "calibrated_bands",
    "band_prediction",
]

#: Factor from the members' RMS spread (ΔE00) to the stated band. Members share the
#: training data, so they agree more than the truth warrants; the factor was chosen on
#: the real pp-inks data, leave-recipe-out (bench/accuracy.py: 2× the spread held 41 % of
#: real errors, 3× 63 %, 4× 75 %), so that about two thirds of real errors fall inside
#: the band, the reading of a one-sigma error bar.
BAND_SCALE = 3.5


def member_spread(member_Lab, Lab) -> np.ndarray:
    """RMS CIEDE2000 distance of each member's CIELAB from the ensemble CIELAB.

    Parameters
    ----------
    member_Lab : array_like, shape (m, n, 3)
        CIELAB of m ensemble members for n recipes (L* 0–100).
    Lab : array_like, shape (n, 3)
        The ensemble's CIELAB (L* 0–100).

    Returns
    -------
    numpy.ndarray, shape (n,)
        Spread in ΔE00; NaN when there are fewer than two members.
    """
    member_Lab = np.asarray(member_Lab, dtype=float)
    Lab = np.asarray(Lab, dtype=float)
    if member_Lab.shape[0] < 2:
        return np.full(Lab.shape[0], np.nan)
    # One broadcast call for all members (m, n): ΔE00 is elementwise, so the numbers are those of m calls.
    distances = np.asarray(colorimetry.delta_E00(member_Lab, Lab[None])).reshape(member_Lab.shape[0], -1)
    return np.sqrt(np.mean(distances**2, axis=0))


def ensemble_uncertainty(member_reflectance, member_Lab, Lab_spectral, Lab_head, scale: float = BAND_SCALE) -> dict[str, np.ndarray]:
    """The stated uncertainty (ΔE00 band) of an ensemble's prediction on each CIELAB path.

    Parameters
    ----------
    member_reflectance : array_like, shape (m, n, 31)
        Each member's predicted reflectance factor (0–1, may exceed 1).
    member_Lab : array_like, shape (m, n, 3)
        Each member's CIELAB head output (L* 0–100).
    Lab_spectral : array_like, shape (n, 3)
        CIELAB of the ensemble's mean spectrum (L* 0–100); passed in because the
        prediction computes it anyway.
    Lab_head : array_like, shape (n, 3)
        The ensemble's mean CIELAB head output (L* 0–100).
    scale : float
        Spread-to-band factor, default :data:`BAND_SCALE`.

    Returns
    -------
    dict
        ``{"spectral": (n,), "head": (n,)}``, ΔE00 bands; NaN for a single network, which
        has no spread to report.
    """
    member_reflectance = np.asarray(member_reflectance, dtype=float)
    members_spectral = colorimetry.reflectance_to_Lab(member_reflectance)  # one matrix product for all members
    return {
        "spectral": scale * member_spread(members_spectral, Lab_spectral),
        "head": scale * member_spread(member_Lab, Lab_head),
    }


def calibrated_bands(
    X, folds, validated, Lab_paths: dict[str, np.ndarray], Lab_physics, measured_Lab, fluorescent_index=(), coverage: float = COVERAGE,
) -> dict[str, DifficultyBand]:
    """A calibrated band for each CIELAB path, from a model's inner out-of-fold predictions.

    Parameters
    ----------
    X : array_like, shape (n, c + 1)
        Every training input (wt %, then µm).
    folds : sequence of (train, held_out) index arrays into X
        The inner leave-recipe-out folds that produced the out-of-fold predictions.
    validated : array_like of int, shape (v,)
        The rows of X that were predicted out of fold (every row, or those of the folds fitted), sorted.
    Lab_paths : dict
        ``{"head": (v, 3), "spectral": (v, 3)}``: each path's out-of-fold CIELAB (L* 0–100) of
        the validated rows, each predicted by parts fitted without its recipe.
    Lab_physics : array_like, shape (v, 3)
        The physics path's out-of-fold CIELAB.
    measured_Lab : array_like, shape (v, 3)
    fluorescent_index : tuple of int
        Input columns of the fluorescent colorants.
    coverage : float

    Returns
    -------
    dict
        ``{path: DifficultyBand}``. Each validated row's features are computed against the
        recipes its own fold trained on (what it really extrapolated from). The scale that
        normalises a row's score is refitted without its fold (cross-fitting, CV+); with a
        single fold the validated recipes are split in two for that. The final band is
        referenced to all of X, with each recipe's out-of-fold error where known.
    """
    X = np.asarray(X, dtype=float)
    validated = np.asarray(validated)
    Lab_physics = np.asarray(Lab_physics, dtype=float)
    position = np.full(len(X), -1)
    position[validated] = np.arange(len(validated))
    fold_of = np.full(len(validated), -1)
    for number, (_, held) in enumerate(folds):
        fold_of[position[np.asarray(held)]] = number
    if (fold_of < 0).any() or len(fold_of) != len(validated):
        raise ValueError("Every validated row must be held out by exactly one inner fold.")
    if len(folds) < 2:  # one fitted fold (large data): cross-fit over two halves of its recipes
        _, recipe_number = np.unique(X[validated], axis=0, return_inverse=True)
        fold_of = np.asarray(recipe_number).ravel() % 2
    bands = {}
    for path, Lab in Lab_paths.items():
        errors = np.full(len(X), np.nan)
        errors[validated] = colorimetry.delta_E00(Lab, measured_Lab)
        features = np.zeros((len(validated), 0))
        for number, (train, held) in enumerate(folds):
            reference = DifficultyReference.from_inputs(X[train], fluorescent_index, errors[train])
            rows = position[np.asarray(held)]
            values = difficulty_features(reference, X[held], np.asarray(Lab)[rows], Lab_physics[rows])
            if features.shape[1] == 0:
                features = np.zeros((len(validated), values.shape[1]))
            features[rows] = values
        reference = DifficultyReference.from_inputs(X, fluorescent_index, errors)
        bands[path] = fit_difficulty_band(reference, features, errors[validated], fold_of, coverage=coverage)
    return bands


def band_prediction(bands: dict[str, DifficultyBand], X, Lab_paths: dict[str, np.ndarray], Lab_physics, headline: str):
    """The calibrated band of each path (n,; ΔE00), the headline's difficulty σ (n,) and the stated coverage.

    ``Lab_paths`` maps ``"spectral"`` and ``"head"`` to the predicted CIELAB (n, 3); a path
    without a band of its own uses the headline's.
    """
    uncertainty, difficulty = {}, None
    searched = []  # (trained recipes, their Neighbours): the search depends only on the trained recipes, so once for both paths
    for path, Lab in Lab_paths.items():
        band = bands.get(path, bands[headline])
        neighbours = next((found for recipes, found in searched if np.array_equal(recipes, band.reference.recipes)), None)
        if neighbours is None:
            neighbours = nearest_trained(band.reference, X)
            searched.append((band.reference.recipes, neighbours))
        uncertainty[path], sigma = band.band_of(X, Lab, Lab_physics, neighbours=neighbours)
        if path == headline:
            difficulty = sigma
    return uncertainty, difficulty, float(bands[headline].coverage)
