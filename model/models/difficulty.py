"""How hard a recipe is for a fitted model: a difficulty score, and the calibrated band built on it.

The ensemble's spread barely ranks the real errors (Spearman ρ 0.06–0.10 leave-recipe-out
on pp-inks). Other signals rank them a little better, each on its own weakly (ρ 0.13–0.22,
``bench/uncertainty.py``): where a recipe lies relative to what the model was trained on,
whether the model's paths agree, and how well the model did near it.
:func:`difficulty_features` measures them for any recipe, from plain arrays the model
keeps (:class:`DifficultyReference`):

=====================  =====================================================================
``nearest_distance``   distance to the nearest trained recipe, each input scaled by its
                       trained span
``beyond_range``       how far the inputs lie beyond their trained min–max, in spans
``ladder_gap``         how far a colorant's level lies beyond the levels trained for it
                       (of any recipe that holds it), in spans
``path_disagreement``  ΔE00 between the physics-only CIELAB and the headline CIELAB
``thickness_gap``      distance to the nearest measured film thickness, in spans
``fluorescent_share``  the fluorescent colorants' share of the colorant total (0–1)
``n_colorants``        how many colorants the recipe holds
``local_error``        the out-of-fold ΔE00 of the two nearest trained recipes (on a
                       log-concentration scale): where the model missed, it misses again
``lightness``          the predicted L* / 100
=====================  =====================================================================

:class:`DifficultyBand` combines them into one scale σ(x) = exp(w · f(x) + c), fitted
by ridge regression of log ΔE00 on the standardised features of **out-of-fold**
residuals (the hybrid's inner leave-recipe-out validation, so the scored fold of an outer
cross-validation is never touched), with the weights of the distance signals held
non-negative (:data:`NON_NEGATIVE`), and calibrates it by split-conformal prediction with
normalised (locally weighted) scores: the band at coverage 1 − α is
``q̂ · σ(x)``, where q̂ is the ⌈(n + 1)(1 − α)⌉-th smallest of the scores ``eᵢ / σ₋ₖ(xᵢ)``
and σ₋ₖ was fitted without residual i's inner fold (cross-fitting, as in CV+).
The inner residuals come from parts trained on two thirds of the training recipes, so they
are, if anything, larger than the final model's: the band errs wide, not narrow.

References: Lei, G'Sell, Rinaldo, Tibshirani and Wasserman (2018), "Distribution-free
predictive inference for regression", JASA 113(523), §5.2 (locally weighted conformal);
Barber, Candès, Ramdas and Tibshirani (2021), "Predictive inference with the
jackknife+", Ann. Statist. 49(1) (CV+, out-of-fold scores).

Everything here is numpy: the band travels in the serving snapshot as plain arrays.

Scales: wt %, µm; CIELAB L* 0–100; ΔE00 in CIEDE2000 units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.core import colorimetry

__all__ = [
    "FEATURES",
    "NON_NEGATIVE",
    "COVERAGE",
    "DifficultyReference",
    "DifficultyBand",
    "Neighbours",
    "difficulty_features",
    "nearest_trained",
    "fit_difficulty_band",
    "conformal_quantile",
]

FEATURES = (
    "nearest_distance", "beyond_range", "ladder_gap", "path_disagreement", "thickness_gap", "fluorescent_share", "n_colorants",
    "local_error", "lightness",
)
#: Signals whose weight may not be negative: being farther from the trained recipes, or the
#: model's paths disagreeing more, can never make a recipe easier. (The others, the
#: fluorescent share, the number of colorants and the lightness, may go either way.)
NON_NEGATIVE = ("nearest_distance", "beyond_range", "ladder_gap", "path_disagreement", "thickness_gap", "local_error")
#: The coverage the band states: "9 in 10 recipes like this come within the band".
COVERAGE = 0.9
# A film's error is never exactly 0 (the instrument repeats to about 0.75 ΔE00 on pp-inks);
# this floor keeps log ΔE00 finite and stops near-perfect predictions from dominating the fit.
_ERROR_FLOOR = 0.2
# Ridge penalty on the standardised weights: with a few dozen recipes, seven free weights overfit.
_RIDGE = 20.0
# Floor of the log-concentration scale, as a share of each input's trained span.
_LOG_FLOOR = 0.05
# How many nearest trained recipes the local out-of-fold error averages.
_NEIGHBOURS = 2
# A span below this (wt % or µm) is a constant input: its distances are not scaled up from nothing.
_MIN_SPAN = 1e-6
#: The most recipe-to-trained-recipe distances one block may hold (16 MB of float64).
_BLOCK_ELEMENTS = 2_000_000
#: How far the matrix-product form of a squared distance, ‖a‖² + ‖b‖² − 2 a·b, may be from the
#: exact one, as a share of ‖a‖² + ‖b‖²: float64 errs by a few 1e-16 over the few inputs here.
_PRODUCT_SLACK = 1e-12
#: The widest band stated (ΔE00): about the distance from black to white, so a wider one says nothing more.
MAX_BAND_DELTA_E00 = 100.0
#: log σ is held within ±this: a signal constant in training and not in a new recipe must not overflow exp.
_MAX_LOG_SCALE = 30.0


@dataclass(frozen=True, eq=False)
class DifficultyReference:
    """What a new recipe's difficulty is measured against: the trained recipes, as plain arrays.

    Attributes
    ----------
    recipes : ndarray (r, c + 1), the distinct trained inputs (colorants in wt %, then µm).
    errors : ndarray (r,), the out-of-fold ΔE00 of each trained recipe (0 when unknown).
    minimum, maximum : ndarray (c + 1,), the trained range of each input.
    thicknesses : ndarray, the distinct measured film thicknesses (µm).
    fluorescent_index : tuple of int, the input columns of the fluorescent colorants.
    """

    recipes: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    thicknesses: np.ndarray
    fluorescent_index: tuple[int, ...] = ()
    errors: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.errors is None:
            object.__setattr__(self, "errors", np.zeros(len(self.recipes)))

    @classmethod
    def from_inputs(cls, X, fluorescent_index=(), errors=None) -> DifficultyReference:
        """The reference of trained inputs X (n, c + 1; wt %, then ``thickness_um`` in µm).

        ``errors`` (n,; ΔE00) are the out-of-fold errors of those rows, averaged per distinct
        recipe; NaN marks a row without one (its recipe gets the mean of the known errors), and
        None means none is known (0 everywhere: no local signal).
        """
        X = np.asarray(X, dtype=float)
        recipes, inverse = np.unique(X, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).ravel()
        mean_errors = None
        if errors is not None:
            errors = np.asarray(errors, dtype=float)
            known = np.isfinite(errors)
            counts = np.bincount(inverse[known], minlength=len(recipes))
            sums = np.bincount(inverse[known], weights=errors[known], minlength=len(recipes))
            fallback = float(errors[known].mean()) if known.any() else 0.0
            mean_errors = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
        return cls(recipes, recipes.min(axis=0), recipes.max(axis=0), np.unique(recipes[:, -1]), tuple(int(j) for j in fluorescent_index), mean_errors)

    @property
    def span(self) -> np.ndarray:
        """The trained span of each input (max − min), floored so a constant input scales nothing."""
        return np.maximum(self.maximum - self.minimum, _MIN_SPAN)


def _log_inputs(X: np.ndarray, reference: DifficultyReference) -> np.ndarray:
    # Colour responds to ratios of concentration (Kubelka–Munk K/S is linear in concentration,
    # reflectance is not): 1 → 2 wt % is a bigger step than 10 → 11. A floor of 5 % of the span
    # keeps "absent" (0 wt %) a finite, large step from "present".
    floor = _LOG_FLOOR * reference.span
    return np.log(np.clip(X, 0.0, None) + floor)


def difficulty_features(reference: DifficultyReference, X, Lab_headline, Lab_physics, neighbours: "Neighbours | None" = None) -> np.ndarray:
    """The difficulty features (n, len(FEATURES)) of recipes X, in the order of :data:`FEATURES`.

    Parameters
    ----------
    reference : DifficultyReference
    X : array_like, shape (n, c + 1)
        Recipes: colorants in wt %, then ``thickness_um`` in µm.
    Lab_headline, Lab_physics : array_like, shape (n, 3)
        The model's headline CIELAB and its physics-only CIELAB (L* 0–100); a model
        without physics passes the headline twice (no disagreement).
    neighbours : Neighbours, optional
        :func:`nearest_trained` of X against a reference with the same trained recipes, when
        the caller already has it (the two CIELAB paths of one prediction share their search).

    Returns
    -------
    numpy.ndarray, shape (n, len(FEATURES)), every entry ≥ 0.
    """
    X = np.atleast_2d(np.asarray(X, dtype=float))
    Lab_headline = np.atleast_2d(np.asarray(Lab_headline, dtype=float))
    span = reference.span
    neighbours = nearest_trained(reference, X) if neighbours is None else neighbours
    nearest, local_error = neighbours.distance, reference.errors[neighbours.indices].mean(axis=1)
    beyond = ((np.clip(X - reference.maximum, 0, None) + np.clip(reference.minimum - X, 0, None)) / span).sum(axis=1)
    colorants = X[:, :-1]
    ladder = np.zeros(len(X))
    for j in range(colorants.shape[1]):
        levels = reference.recipes[reference.recipes[:, j] > 0, j]
        if len(levels) == 0:
            ladder += colorants[:, j] > 0  # a colorant never trained with: a whole span away
            continue
        present = colorants[:, j] > 0
        ladder += (np.clip(colorants[:, j] - levels.max(), 0, None) + np.where(present, np.clip(levels.min() - colorants[:, j], 0, None), 0.0)) / span[j]
    thickness_gap = np.abs(X[:, -1:] - reference.thicknesses[None, :]).min(axis=1) / span[-1]
    total = colorants.sum(axis=1)
    fluorescent = colorants[:, list(reference.fluorescent_index)].sum(axis=1) if reference.fluorescent_index else np.zeros(len(X))
    share = np.divide(fluorescent, total, out=np.zeros(len(X)), where=total > 0)
    disagreement = np.nan_to_num(np.atleast_1d(colorimetry.delta_E00(Lab_physics, Lab_headline)))
    return np.column_stack([
        nearest, beyond, ladder, disagreement, thickness_gap, share, (colorants > 0).sum(axis=1), local_error, Lab_headline[:, 0] / 100.0,
    ])


@dataclass(frozen=True)
class Neighbours:
    """Per recipe: the scaled distance to the nearest trained recipe (n,), and the indices (n, k) of
    its :data:`_NEIGHBOURS` nearest trained recipes on the log scale, whose mean out-of-fold error
    is the local-error signal (where the model already missed nearby recipes it is likely to miss
    again). Depends only on the trained recipes, not on their errors, so one search serves both
    CIELAB paths of a prediction."""

    distance: np.ndarray
    indices: np.ndarray


def nearest_trained(reference: DifficultyReference, X) -> Neighbours:
    """The :class:`Neighbours` of recipes X among ``reference``'s trained recipes.

    A lab database has thousands of trained recipes and a batch a hundred thousand recipes, so
    the search goes a block of rows at a time (at most :data:`_BLOCK_ELEMENTS` distances) and
    finds each row's candidates by the matrix-product form of the squared distance,
    ‖a‖² + ‖b‖² − 2 a·b (one BLAS call per block, instead of a rows × recipes × inputs array of
    differences); the candidates' distances are then computed exactly from their differences,
    and ties go to the lower index (:func:`_exact_nearest`). A row's figures therefore come from
    that row alone, whatever batch it came in.
    """
    X = np.atleast_2d(np.asarray(X, dtype=float))
    span = reference.span
    scaled, trained_scaled = X / span, reference.recipes / span
    logged, trained_logged = _log_inputs(X, reference), _log_inputs(reference.recipes, reference)
    k = min(_NEIGHBOURS, len(reference.recipes))
    nearest, indices = np.empty(len(X)), np.empty((len(X), k), dtype=np.intp)
    rows = max(1, _BLOCK_ELEMENTS // max(1, len(reference.recipes)))
    for start in range(0, len(X), rows):
        block = slice(start, start + rows)
        closest = _exact_nearest(scaled[block], trained_scaled, 1)
        nearest[block] = np.sqrt(((scaled[block, None, :] - trained_scaled[closest]) ** 2).sum(axis=2))[:, 0]
        indices[block] = _exact_nearest(logged[block], trained_logged, k)
    return Neighbours(nearest, indices)


def _exact_nearest(rows: np.ndarray, trained: np.ndarray, k: int) -> np.ndarray:
    """The indices (len(rows), k) of the k trained points nearest each row, nearest first (Euclidean; ties to the lower index).

    The matrix-product form gives each row's k smallest squared distances to within
    :data:`_PRODUCT_SLACK` of ‖a‖² + ‖b‖². When the next point is farther than twice that from
    the k-th, those k are the nearest, and their exact distances only order them. A row with a
    tie or near-tie at the k-th is decided by the exact distances of every point within twice
    the slack of it. (A fixed shortlist of ten per row, found by partitioning every row, took a
    third of a 10,000-recipe prediction: bench/speed.py.)
    """
    row_norms, trained_norms = (rows ** 2).sum(axis=1), (trained ** 2).sum(axis=1)
    approximate = row_norms[:, None] + trained_norms[None, :] - 2.0 * rows @ trained.T
    every_row = np.arange(len(rows))
    picked = np.empty((len(rows), k), dtype=np.intp)
    remaining = approximate.copy()
    for j in range(k):  # the k smallest, one at a time (k is 1 or 2 here)
        picked[:, j] = remaining.argmin(axis=1)
        remaining[every_row, picked[:, j]] = np.inf
    kth = approximate[every_row, picked[:, -1]]
    slack = 2.0 * _PRODUCT_SLACK * (row_norms + trained_norms.max())
    exact = ((rows[:, None, :] - trained[picked]) ** 2).sum(axis=2)
    nearest = np.take_along_axis(picked, np.lexsort((picked, exact), axis=1), axis=1)
    crowded = np.flatnonzero(remaining.min(axis=1) <= kth + slack)
    if len(crowded):
        nearest[crowded] = _nearest_among_near(rows[crowded], trained, approximate[crowded], kth[crowded] + slack[crowded], k)
    return nearest


def _nearest_among_near(rows: np.ndarray, trained: np.ndarray, approximate: np.ndarray, limit: np.ndarray, k: int) -> np.ndarray:
    """The k nearest of each row by exact distance among the trained points whose approximate one is ≤ its ``limit``."""
    row_of, column = np.nonzero(approximate <= limit[:, None])  # row by row, columns ascending
    exact = ((rows[row_of] - trained[column]) ** 2).sum(axis=1)
    order = np.lexsort((column, exact, row_of))  # by row, then exact distance, then index
    first = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=len(rows)))[:-1]))
    return column[order][first[:, None] + np.arange(k)[None, :]]


def conformal_quantile(scores, coverage: float) -> float:
    """The split-conformal quantile: the ⌈(n + 1)·coverage⌉-th smallest score (Lei et al. 2018, §2.2).

    Infinite when there are too few scores to promise ``coverage`` (n < 1/(1 − coverage) − 1).
    """
    scores = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    rank = math.ceil((len(scores) + 1) * coverage)
    return float(scores[rank - 1]) if 1 <= rank <= len(scores) else math.inf


def _fit_scale(features: np.ndarray, errors: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Centre, scale, weights and intercept of log σ = w · (f − centre)/scale + c, by ridge on log ΔE00."""
    centre = features.mean(axis=0)
    scale = features.std(axis=0)
    # A signal (nearly) constant in training carries no information: scaled by 1, not by its rounding noise.
    scale = np.where(scale > 1e-9 * (np.abs(centre) + 1.0), scale, 1.0)
    Z = (features - centre) / scale
    target = np.log(np.maximum(errors, _ERROR_FLOOR))
    intercept = float(target.mean())
    # Ridge with the NON_NEGATIVE weights held at ≥ 0: an active set (a signal whose weight
    # comes out negative is fixed at 0 and the rest refitted), at most one pass per signal.
    bounded = np.array([name in NON_NEGATIVE for name in FEATURES])
    free = np.ones(Z.shape[1], dtype=bool)
    weights = np.zeros(Z.shape[1])
    for _ in range(Z.shape[1]):
        Zf = Z[:, free]
        weights = np.zeros(Z.shape[1])
        weights[free] = np.linalg.solve(Zf.T @ Zf + ridge * np.eye(Zf.shape[1]), Zf.T @ (target - intercept))
        wrong = bounded & free & (weights < 0)
        if not wrong.any():
            break
        free &= ~wrong
    return centre, scale, weights, intercept


@dataclass(frozen=True, eq=False)
class DifficultyBand:
    """A fitted difficulty scale and its conformal scores: the calibrated uncertainty band.

    Attributes
    ----------
    reference : DifficultyReference
    centre, scale, weights : ndarray (len(FEATURES),); intercept : float
        log σ(x) = weights · (features − centre) / scale + intercept.
    scores : ndarray, the sorted out-of-fold normalised scores eᵢ / σ₋ₖ(xᵢ).
    coverage : float, the coverage :meth:`band` states by default (:data:`COVERAGE`).
    """

    reference: DifficultyReference
    centre: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    scores: np.ndarray
    coverage: float = COVERAGE
    #: The out-of-fold ``features``, ``errors`` and ``fold_of`` it was fitted on (diagnostics and
    #: bench/uncertainty.py; not written to the serving snapshot). None for a band read from a file.
    training: dict | None = None

    def difficulty(self, features) -> np.ndarray:
        """σ(x) (n,): the expected typical ΔE00 of recipes with these features (the difficulty score)."""
        Z = (np.atleast_2d(np.asarray(features, dtype=float)) - self.centre) / self.scale
        return np.exp(np.clip(Z @ self.weights + self.intercept, -_MAX_LOG_SCALE, _MAX_LOG_SCALE))

    def quantile(self, coverage: float | None = None) -> float:
        """q̂: the conformal multiple of σ that covers ``coverage`` (default :attr:`coverage`).

        With too few scores to promise ``coverage`` (a model trained on a handful of recipes)
        the largest score is used: the band is then as wide as the data can say, not infinite.
        """
        quantile = conformal_quantile(self.scores, self.coverage if coverage is None else coverage)
        return quantile if math.isfinite(quantile) else float(np.max(self.scores))

    def band(self, features, coverage: float | None = None) -> np.ndarray:
        """The calibrated band (n,; ΔE00): the measured colour lies within it for ``coverage`` of such recipes."""
        return np.minimum(self.quantile(coverage) * self.difficulty(features), MAX_BAND_DELTA_E00)

    def band_of(self, X, Lab_headline, Lab_physics, coverage: float | None = None, neighbours: Neighbours | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The band (n,; ΔE00) and the difficulty σ (n,; ΔE00) of recipes X (see :func:`difficulty_features`;
        ``neighbours``, when given, is X's :func:`nearest_trained` against this band's trained recipes)."""
        features = difficulty_features(self.reference, X, Lab_headline, Lab_physics, neighbours)
        sigma = self.difficulty(features)
        return np.minimum(self.quantile(coverage) * sigma, MAX_BAND_DELTA_E00), sigma

    # ------------------------------------------------------------------ plain arrays
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The band as named plain arrays (for the serving snapshot's ``.npz``; no pickle)."""
        reference = self.reference
        return {
            "recipes": reference.recipes, "minimum": reference.minimum, "maximum": reference.maximum,
            "thicknesses": reference.thicknesses, "errors": reference.errors, "fluorescent_index": np.asarray(reference.fluorescent_index, dtype=float),
            "centre": self.centre, "scale": self.scale, "weights": self.weights,
            "intercept": np.asarray(self.intercept), "scores": self.scores, "coverage": np.asarray(self.coverage),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> DifficultyBand:
        """The inverse of :meth:`to_arrays`; raises ``KeyError``/``ValueError`` on a damaged set."""
        weights = np.asarray(arrays["weights"], dtype=float)
        if weights.shape != (len(FEATURES),):
            raise ValueError(f"the band has {weights.shape} weights; this Huecast computes {len(FEATURES)} features")
        reference = DifficultyReference(
            np.atleast_2d(np.asarray(arrays["recipes"], dtype=float)), np.asarray(arrays["minimum"], dtype=float),
            np.asarray(arrays["maximum"], dtype=float), np.asarray(arrays["thicknesses"], dtype=float),
            tuple(int(j) for j in np.asarray(arrays["fluorescent_index"]).ravel()), np.asarray(arrays["errors"], dtype=float),
        )
        return cls(
            reference, np.asarray(arrays["centre"], dtype=float), np.asarray(arrays["scale"], dtype=float), weights,
            float(arrays["intercept"]), np.sort(np.asarray(arrays["scores"], dtype=float)), float(arrays["coverage"]),
        )


def fit_difficulty_band(
    reference: DifficultyReference, features, errors, fold_of, *, coverage: float = COVERAGE, ridge: float = _RIDGE,
) -> DifficultyBand:
    """Fit the difficulty scale on out-of-fold residuals and calibrate it by cross-fitted conformal scores.

    Parameters
    ----------
    reference : DifficultyReference
        The model's trained recipes (what a new recipe will be compared with).
    features : array_like, shape (n, len(FEATURES))
        :func:`difficulty_features` of each out-of-fold prediction, each computed against
        the recipes its own fold was trained on.
    errors : array_like, shape (n,)
        The real ΔE00 of each out-of-fold prediction.
    fold_of : array_like of int, shape (n,)
        The fold each prediction was held out in: the scale that normalises a residual is
        refitted without its fold, so no score judges a σ that saw it.
    coverage : float in (0, 1)
    ridge : float ≥ 0

    Returns
    -------
    DifficultyBand

    Raises
    ------
    ValueError
        Shapes disagree, a value is not finite, or there are fewer than two folds.
    """
    features = np.atleast_2d(np.asarray(features, dtype=float))
    errors = np.asarray(errors, dtype=float)
    fold_of = np.asarray(fold_of)
    if features.shape != (len(errors), len(FEATURES)) or fold_of.shape != errors.shape:
        raise ValueError(f"features {features.shape}, errors {errors.shape} and fold_of {fold_of.shape} must describe the same n predictions.")
    if not (np.isfinite(features).all() and np.isfinite(errors).all()):
        raise ValueError("The out-of-fold features and errors must be finite; a NaN means a prediction failed upstream.")
    if not 0 < coverage < 1:
        raise ValueError(f"coverage={coverage!r}: give a fraction between 0 and 1, e.g. 0.9.")
    folds = np.unique(fold_of)
    if len(folds) < 2:
        raise ValueError(f"Cross-fitted scores need at least 2 folds; got {len(folds)}.")
    scores = np.empty(len(errors))
    for fold in folds:
        held = fold_of == fold
        centre, scale, weights, intercept = _fit_scale(features[~held], errors[~held], ridge)
        scores[held] = errors[held] / np.exp(np.clip(((features[held] - centre) / scale) @ weights + intercept, -_MAX_LOG_SCALE, _MAX_LOG_SCALE))
    centre, scale, weights, intercept = _fit_scale(features, errors, ridge)
    training = {"features": features, "errors": errors, "fold_of": fold_of}
    return DifficultyBand(reference, centre, scale, weights, intercept, np.sort(scores), float(coverage), training)
