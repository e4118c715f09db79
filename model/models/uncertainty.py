"""How far to trust a prediction: the ensemble spread in ΔE00, and how well it is calibrated.

A :class:`~model.models.mlp.FormulationModel` averages several networks. Where
they disagree, the data did not pin the answer down (a ladder end point, a mixture
unlike any in training), and that is where the real error is large. The uncertainty of
a prediction is the root-mean-square CIEDE2000 distance of the members' CIELAB from the
ensemble's CIELAB, times :data:`BAND_SCALE`, so that it reads as a band: "the measured
colour should lie within this many ΔE00 of the prediction, about two times in three".

Whether it does is an empirical question, answered leave-recipe-out by
:func:`cross_validate_uncertainty` and :func:`calibration_table` (``bench/accuracy.py``
prints the result on the real data).

Scales: CIELAB L* 0–100; ΔE00 and the uncertainty are in CIEDE2000 units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from model.core import colorimetry
from model.core.schema import Dataset

__all__ = [
    "BAND_SCALE",
    "member_spread",
    "ensemble_uncertainty",
    "calibration_table",
    "cross_validate_uncertainty",
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
    distances = np.stack([np.atleast_1d(colorimetry.delta_E00(member, Lab)) for member in member_Lab])
    return np.sqrt(np.mean(distances**2, axis=0))


def ensemble_uncertainty(member_reflectance, member_Lab, path: str = "spectral", scale: float = BAND_SCALE) -> np.ndarray:
    """The stated uncertainty (ΔE00 band) of an ensemble's prediction on one CIELAB path.

    Parameters
    ----------
    member_reflectance : array_like, shape (m, n, 31)
        Each member's predicted reflectance factor (0–1, may exceed 1).
    member_Lab : array_like, shape (m, n, 3)
        Each member's CIELAB head output (L* 0–100).
    path : {"spectral", "head"}
        Which CIELAB path the band is for (the model's headline).
    scale : float
        Spread-to-band factor, default :data:`BAND_SCALE`.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ΔE00 band; NaN for a single network, which has no spread to report.
    """
    if path not in ("spectral", "head"):
        raise ValueError(f"path={path!r}: use 'spectral' or 'head'.")
    if path == "spectral":
        member_reflectance = np.asarray(member_reflectance, dtype=float)
        members = np.stack([colorimetry.reflectance_to_Lab(reflectance) for reflectance in member_reflectance])
        Lab = colorimetry.reflectance_to_Lab(member_reflectance.mean(axis=0))
    else:
        members = np.asarray(member_Lab, dtype=float)
        Lab = members.mean(axis=0)
    return scale * member_spread(members, Lab)


def calibration_table(errors, uncertainty, multiples=(0.5, 1.0, 1.5, 2.0)) -> pd.DataFrame:
    """How often the real error falls inside k times the stated band.

    Parameters
    ----------
    errors : array_like, shape (n,)
        Real ΔE00 of each prediction against the measurement.
    uncertainty : array_like, shape (n,)
        The stated band of each prediction, ΔE00.
    multiples : iterable of float
        The k to tabulate.

    Returns
    -------
    DataFrame
        ``multiple``, ``fraction_within`` (0–1) and ``n``; a further row ``rank
        correlation`` holds the Spearman correlation of band and error in
        ``fraction_within`` (whether larger bands go with larger errors).
    """
    errors = np.asarray(errors, dtype=float)
    uncertainty = np.asarray(uncertainty, dtype=float)
    known = np.isfinite(errors) & np.isfinite(uncertainty)
    errors, uncertainty = errors[known], uncertainty[known]
    rows = [
        {"multiple": float(k), "fraction_within": float(np.mean(errors <= k * uncertainty)) if len(errors) else np.nan, "n": int(len(errors))}
        for k in multiples
    ]
    table = pd.DataFrame(rows)
    # A constant band (or error) has no ranking to correlate; say so with NaN, not a warning.
    if len(errors) > 2 and np.ptp(errors) > 0 and np.ptp(uncertainty) > 0:
        correlation = pd.Series(errors).corr(pd.Series(uncertainty), method="spearman")
    else:
        correlation = np.nan
    table.attrs["spearman"] = float(correlation)
    return table


def _fold_with_uncertainty(config, dataset: Dataset, seed: int, fold: int, train, test) -> pd.DataFrame:
    from model.evaluation.cross_validation import score_prediction
    from model.models.mlp import FormulationModel

    model = FormulationModel(config.replace(random_state=config.random_state + 1000 * seed)).fit(dataset.subset(train))
    held_out = dataset.subset(test)
    per_sample = score_prediction(held_out, model.predict(held_out.recipes))
    member_reflectance, member_Lab = model.predict_members(held_out.recipes)
    for path in ("spectral", "head"):
        per_sample[f"uncertainty_{path}"] = ensemble_uncertainty(member_reflectance, member_Lab, path)
    per_sample.insert(0, "fold", fold)
    per_sample.insert(0, "seed", seed)
    return per_sample


def cross_validate_uncertainty(dataset: Dataset, config, *, n_splits: int = 5, seeds=(0,), n_jobs: int = 1) -> pd.DataFrame:
    """Leave-recipe-out predictions with the stated band of both CIELAB paths.

    The folds and model seeds are those of :func:`model.evaluation.cross_validation.cross_validate`, so
    the errors are the same ones its table summarises.

    Parameters
    ----------
    dataset : Dataset
    config : ModelConfig
    n_splits, seeds, n_jobs : see :func:`model.evaluation.cross_validation.cross_validate`.

    Returns
    -------
    DataFrame
        The per-sample frame of :func:`model.evaluation.cross_validation.score_prediction` with ``seed``,
        ``fold``, ``uncertainty_spectral`` and ``uncertainty_head`` (ΔE00).
    """
    from model.evaluation.cross_validation import grouped_folds

    tasks = [
        (seed, fold, train, test)
        for seed in seeds
        for fold, (train, test) in enumerate(grouped_folds(dataset.recipe_ids, n_splits, seed))
    ]
    frames = Parallel(n_jobs=n_jobs)(delayed(_fold_with_uncertainty)(config, dataset, *task) for task in tasks)
    return pd.concat(frames, ignore_index=True)
