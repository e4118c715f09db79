"""The fluorescence head: recipe → fluorescence intensity in counts per second (ct/s).

Every colour model carries one when its training data has readings in
:data:`~model.core.schema.FLUORESCENCE_COLUMN` (see ``ColourModel._fit_fluorescence``).
It is a small ensemble of scikit-learn ``MLPRegressor`` networks behind a gate:

- **The gate.** Only a fluorescent colorant glows, so a film without one reads exactly
  0 ct/s and the networks are never asked. Which colorants fluoresce is read from the
  readings themselves (:func:`fluorescent_from_readings`): the fewest colorants that
  account for every film reading above zero. This is the direct evidence (a reading);
  the colour models' :func:`~model.models.fluorescent_km.detect_fluorescent` has to use
  an indirect one (reflectance above 1) because it has no readings.
- **The networks** see the recipe as chemists and Kubelka–Munk do: the square root of
  each concentration, the amount per area (wt % × µm) and its square root, and the film
  thickness; they regress log(1 + I / 100 ct/s), so the output is never negative and a
  quencher's effect (a colorant that takes excitation light away) is a factor, as
  Beer–Lambert absorption is (Allen 1964; Fukshansky & Kazarinova 1980).
- **Training** uses only the films that have a reading (NaN means no reading) and carry
  a fluorescent colorant; the readings of films without one are 0 and teach nothing.

The physics model's absorbed-excitation share (:mod:`model.models.fluorescent_km`) was
tried as an extra input during development and did not improve the leave-recipe-out
accuracy on the real data, so the head does without it and costs no extra physics fit.
Accuracy: bench/fluorescence.py and the README ("Fluorescence").

References
----------
Allen, E. (1964). Fluorescent white dyes: calculation of fluorescence from reflectivity
values. *J. Opt. Soc. Am.* 54(4), 506–515.
Fukshansky, L., Kazarinova, N. (1980). Extension of the Kubelka–Munk theory of light
propagation in intensely scattering materials to fluorescent media. *J. Opt. Soc. Am.*
70(9), 1101–1111.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from model.core.schema import FLUORESCENCE_COLUMN, THICKNESS_COLUMN, Dataset
from model.core.threads import one_blas_thread

# The networks' features and log target live in a light module: the serving form replays them by name.
from model.models.features import _to_log, recipe_features
from model.models.mlp_forward import head_programs
from model.models.serving_form import FluorescencePrograms

__all__ = ["FLUORESCENCE_UNIT", "FluorescenceHead", "fit_fluorescence_head", "fluorescence_readings", "fluorescent_from_readings", "without_readings"]

#: How every page, table and report labels the value.
FLUORESCENCE_UNIT = "ct/s"
#: A colorant can be named fluorescent only when at least this share of the films holding it
#: read above 0 (one odd reading must not make a pigment ladder that reads 0 fluorescent).
_GLOWING_SHARE = 0.5


def fluorescence_readings(dataset: Dataset) -> np.ndarray | None:
    """The dataset's readings (n,; ct/s, NaN where a film has none), or None when it has none at all."""
    if FLUORESCENCE_COLUMN not in dataset.table.columns:
        return None
    readings = dataset.table[FLUORESCENCE_COLUMN].astype(float).to_numpy()
    return readings if np.isfinite(readings).any() else None


def without_readings(dataset: Dataset) -> Dataset:
    """The same dataset without the fluorescence column (for parts of a model that must not fit a head)."""
    if FLUORESCENCE_COLUMN not in dataset.table.columns:
        return dataset
    return Dataset(dataset.table.drop(columns=[FLUORESCENCE_COLUMN]), dataset.colorants, dataset.name)


def fluorescent_from_readings(concentrations: np.ndarray, readings: np.ndarray, colorants) -> tuple[str, ...]:
    """The fewest colorants that account for every film reading above 0 ct/s, in model order.

    Only a fluorescent colorant glows, so every film that reads above 0 holds one. Greedy
    set cover: take the colorant in the most glowing films not yet accounted for (ties: the
    larger share of its own films glowing), until all are, skipping a colorant fewer than
    half of whose films glow. A pigment that is also in many glowing mixtures but has films
    reading 0 on its own (BiVaO4 beside GXT-10 in the real data) is therefore not taken.

    ``concentrations`` (n, colorants; wt %) and ``readings`` (n,; ct/s) cover the films with a
    reading. Empty when no film reads above 0.
    """
    glowing = np.asarray(readings, dtype=float) > 0
    present = np.asarray(concentrations, dtype=float) > 0
    share = np.array([glowing[holds].mean() if holds.any() else 0.0 for holds in present.T])
    chosen: list[int] = []
    uncovered = glowing.copy()
    while uncovered.any():
        covers = present[uncovered].sum(axis=0)
        eligible = [j for j in range(len(share)) if j not in chosen and covers[j] > 0 and share[j] >= _GLOWING_SHARE]
        if not eligible:
            break
        best = max(eligible, key=lambda j: (covers[j], share[j]))
        chosen.append(best)
        uncovered &= ~present[:, best]
    return tuple(name for j, name in enumerate(colorants) if j in chosen)


class FluorescenceHead(BaseEstimator):
    """Gated MLP ensemble: recipe (wt %, µm) → fluorescence intensity (ct/s, ≥ 0). See the module notes.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (16,)
    alpha : float ≥ 0, default 1.0
        L2 penalty (strong: about 45 films with a fluorescent colorant train it).
    n_ensemble : int ≥ 1, default 2
        Networks averaged (in log space); member k is seeded ``random_state + k``. Two score as
        five did leave-recipe-out (bench/fluorescence.py --variants) at two fifths of the fit,
        which every cross-validation fold pays (a retrain fits the head 31 times).
    max_iter : int, default 3000
        lbfgs iterations.
    random_state : int, default 0

    The defaults were chosen by leave-recipe-out CV on the real pp-inks data (bench/fluorescence.py).

    Attributes
    ----------
    colorants_ : tuple of str, input colorants in order (then ``thickness_um``).
    fluorescent_colorants_ : tuple of str, the gate (see :func:`fluorescent_from_readings`).
    networks_ : list of fitted regressors (empty when no training film is fluorescent).
    n_readings_ : int, films with a reading used to decide the gate.
    n_trained_ : int, films the networks were fitted on.
    programs_ : FluorescencePrograms
        The gate, the networks as plain-numpy programs and the constant: what ``predict`` runs
        (:mod:`model.models.serving_form`; the hybrid's serving snapshot holds it too).
    """

    def __init__(self, hidden_layer_sizes=(16,), alpha=1.0, n_ensemble=2, max_iter=3000, random_state=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.n_ensemble = n_ensemble
        self.max_iter = max_iter
        self.random_state = random_state

    def _network(self, seed: int) -> TransformedTargetRegressor:
        network = MLPRegressor(
            hidden_layer_sizes=tuple(self.hidden_layer_sizes), activation="tanh", solver="lbfgs", alpha=self.alpha,
            max_iter=self.max_iter, random_state=seed,
        )
        pipeline = make_pipeline(FunctionTransformer(recipe_features), StandardScaler(), network)
        # It regresses the log target (see _to_log), as a 1-column matrix so that
        # mlp_forward.head_program can replay it and check the replay against predict.
        return TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler(), check_inverse=False)

    def fit(self, X: np.ndarray, readings: np.ndarray, colorants) -> FluorescenceHead:
        """Fit on recipes X (n, colorants + 1; wt %, then µm) and ``readings`` (n,; ct/s, NaN = no reading).

        Films without a reading are left out. Raises ``ValueError`` when no film has one,
        or a reading is negative.
        """
        X, readings = np.asarray(X, dtype=float), np.asarray(readings, dtype=float)
        measured = np.isfinite(readings)
        if not measured.any():
            raise ValueError(f"No film has a {FLUORESCENCE_COLUMN} reading; give at least one value in ct/s.")
        if np.any(readings[measured] < 0):
            row = int(np.flatnonzero(measured & (readings < 0))[0])
            raise ValueError(f"Row {row}: {FLUORESCENCE_COLUMN} is {readings[row]:g}; expected a reading ≥ 0 ct/s.")
        self.colorants_ = tuple(colorants)
        self.fluorescent_colorants_ = fluorescent_from_readings(X[measured, :-1], readings[measured], self.colorants_)
        self.n_readings_ = int(measured.sum())
        train = measured & self._gate(X)
        self.n_trained_ = int(train.sum())
        self.networks_ = []
        if self.n_trained_ >= 2:
            target = _to_log(readings[train])[:, None]
            with warnings.catch_warnings(), one_blas_thread():
                warnings.simplefilter("ignore", ConvergenceWarning)  # lbfgs at max_iter; the CV says whether it matters
                warnings.simplefilter("ignore", DataConversionWarning)  # the 1-column target, on purpose (see _network)
                self.networks_ = [self._network(self.random_state + k).fit(X[train], target) for k in range(self.n_ensemble)]
        # One fluorescent film (or none) cannot train a network: predict its reading (or 0) wherever the gate opens.
        self.constant_cts_ = float(readings[train].mean()) if self.n_trained_ == 1 else 0.0
        self.programs_ = FluorescencePrograms(
            tuple(self.fluorescent_colorants_), tuple(self._gate_index()), head_programs(self.networks_, "fluorescence networks"),
            self.constant_cts_,
        )
        return self

    def _gate(self, X: np.ndarray) -> np.ndarray:
        """(n,) bool: the recipe holds at least one fluorescent colorant."""
        columns = self._gate_index()
        return (np.asarray(X, dtype=float)[:, columns] > 0).any(axis=1) if columns else np.zeros(len(X), dtype=bool)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Fluorescence intensity (n,; ct/s, ≥ 0) of recipes X (n, colorants + 1; wt %, then µm); exactly 0 without a fluorescent colorant.

        Runs :attr:`programs_`: the members' mean in log space (a geometric mean: they agree on
        ratios, not on differences), verified at fit against the networks' own ``predict``.
        """
        return self.programs_.predict(X)

    def _gate_index(self) -> list[int]:
        return [self.colorants_.index(name) for name in self.fluorescent_colorants_]

    @property
    def n_parameters(self) -> int:
        """Weights and biases over the ensemble."""
        networks = [network.regressor_[-1] for network in self.networks_]
        return int(sum(sum(w.size for w in n.coefs_) + sum(b.size for b in n.intercepts_) for n in networks))


def fit_fluorescence_head(dataset: Dataset, random_state: int = 0) -> FluorescenceHead | None:
    """A head fitted on ``dataset``'s readings, or None when it has none (a model without fluorescence)."""
    readings = fluorescence_readings(dataset)
    if readings is None:
        return None
    X = dataset.table[[*dataset.colorants, THICKNESS_COLUMN]].astype(float).to_numpy()
    return FluorescenceHead(random_state=random_state).fit(X, readings, dataset.colorants)
