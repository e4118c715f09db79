"""The MLP formulation model: recipe → spectrum, and recipe → CIELAB.

Both heads are scikit-learn pipelines around ``MLPRegressor`` (composed, never
subclassed): an input feature map and scaler, then the network, wrapped in a
``TransformedTargetRegressor`` so that the target transform is undone on predict.
An ensemble averages ``n_ensemble`` networks that differ in their seed and, with
``input_transform="mixed"``, in the feature map each one sees. The spread of the
members gives each prediction an uncertainty (see :mod:`model.models.uncertainty`).

It follows the colour-model contract of :mod:`model.models.base`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions  # see ColourModel._parameter_constraints

from model.core import colorimetry
from model.core.prediction import Prediction, TrainingRange, build_prediction
from model.core.schema import Dataset
from model.core.threads import one_blas_thread
from model.models.base import ColourModel, Progress

# The heads' feature maps and target transforms live in a light module: the serving form replays them by name.
from model.models.features import _INPUT_FUNCTIONS, _exp, _identity, _ks, _ks_inverse, _log_reflectance
from model.models.mlp_forward import head_programs
from model.models.serving_form import recipe_inputs, run_members
from model.models.uncertainty import ensemble_uncertainty

__all__ = [
    "FormulationModel",
    "legacy_model",
    "INPUT_TRANSFORMS",
    "MIXED_INPUT_CYCLE",
    "SPECTRAL_TARGETS",
    "HEADLINE_PATHS",
    "member_rows",
    "fit_heads",
]

INPUT_TRANSFORMS = ("raw", "sqrt", "amount", "mixed")
#: The feature maps that ``input_transform="mixed"`` cycles through, member by member.
MIXED_INPUT_CYCLE = ("raw", "sqrt", "amount")
SPECTRAL_TARGETS = ("reflectance", "log", "ks")
HEADLINE_PATHS = ("spectral", "head")

#: Hyperparameters passed to each MLPRegressor unchanged (the others shape the ensemble).
_NETWORK_PARAMETERS = ("activation", "solver", "alpha", "learning_rate_init", "batch_size", "max_iter", "early_stopping")

_TARGET_FUNCTIONS = {
    "reflectance": (_identity, _identity),
    "log": (_log_reflectance, _exp),
    "ks": (_ks, _ks_inverse),
}


class FormulationModel(ColourModel):
    """Predicts reflectance (31 bands) and CIELAB from a recipe with ensembles of MLPs.

    Two heads per ensemble member, each a scikit-learn pipeline around ``MLPRegressor``:
    the spectral head regresses the reflectance (or a transform of it), the CIELAB head
    regresses L*, a*, b* directly.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (32,)
        Neurons per hidden layer, e.g. ``(64, 128, 64)``.
    activation : {"relu", "tanh", "logistic", "identity"}, default "tanh"
    solver : {"lbfgs", "adam", "sgd"}, default "lbfgs"
        lbfgs suits the ~100-row datasets a lab has; adam is the old system's choice.
    alpha : float ≥ 0, default 0.1
        L2 penalty.
    learning_rate_init, batch_size, early_stopping
        Used by adam and sgd only.
    max_iter : int ≥ 1, default 2000
    input_transform : {"raw", "sqrt", "amount", "mixed"}, default "mixed"
        Feature map of the recipe (see module source for the physics behind each).
        ``"mixed"`` gives ensemble member k the map ``MIXED_INPUT_CYCLE[k % 3]``: members
        that see the recipe differently disagree more usefully than members that differ
        only in seed, so both the average and the spread (the uncertainty) improve.
    spectral_target : {"reflectance", "log", "ks"}, default "reflectance"
        What the spectral head regresses: reflectance, log reflectance, or a log K/S.
    n_ensemble : int ≥ 1, default 3
        Networks per head, averaged; they differ in seed (and feature map, see above).
    headline : {"spectral", "head"}, default "spectral"
        Which CIELAB path ``Prediction.Lab`` reports. ``model.jobs.training`` sets it from
        leave-recipe-out validation.
    random_state : int, default 0
        Member k is seeded ``random_state + k``.
    max_samples : int ≥ 2 or None, default None
        Each member's heads fit on a random draw of at most this many rows, a different
        draw per member (seeded like the member): bagging (Breiman 1996, *Bagging
        predictors*, Machine Learning 24, 123–140). It caps the cost of a head on a large
        database; None fits every member on every row.
    n_jobs : int or None, default None
        Heads fitted in parallel, in joblib's sense (None: one, unless inside a
        ``joblib.parallel_config`` context; -1: every core). The fitted heads are the same
        either way; inside cross-validation's own parallel folds leave it at None.

    Attributes
    ----------
    colorants_ : tuple of str
        Input colorant names, in order.
    spectral_heads_, lab_heads_ : list of fitted regressors (one per ensemble member).
    spectral_programs_, lab_programs_ : tuple of programs, one per member
        The same heads as plain-numpy programs (:mod:`model.models.serving_form`), made and
        verified against the heads' ``predict`` at the end of ``fit``: what every prediction runs.
    training_range_ : TrainingRange
    n_recipes_, n_samples_ : int

    Examples
    --------
    >>> model = FormulationModel(n_ensemble=3).fit(dataset)          # doctest: +SKIP
    >>> model.predict(dataset.recipes.head(2)).Lab                     # doctest: +SKIP
    """

    serving_attributes = ("spectral_programs_", "lab_programs_")

    # The defaults were chosen by leave-recipe-out CV on the real pp-inks data
    # (bench/accuracy.py, README "Accuracy"): one small tanh layer, light L2, three lbfgs
    # members over three feature maps.
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions({"relu", "tanh", "logistic", "identity"})],
        "solver": [StrOptions({"lbfgs", "adam", "sgd"})],
        "alpha": [Interval(Real, 0.0, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0.0, None, closed="neither")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "input_transform": [StrOptions(set(INPUT_TRANSFORMS))],
        "spectral_target": [StrOptions(set(SPECTRAL_TARGETS))],
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "headline": [StrOptions(set(HEADLINE_PATHS))],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "max_samples": [Interval(Integral, 2, None, closed="left"), None],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(32,),
        activation="tanh",
        solver="lbfgs",
        alpha=0.1,
        learning_rate_init=1e-3,
        batch_size="auto",
        max_iter=2000,
        early_stopping=False,
        input_transform="mixed",
        spectral_target="reflectance",
        n_ensemble=3,
        headline="spectral",
        random_state=0,
        max_samples=None,
        n_jobs=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.input_transform = input_transform
        self.spectral_target = spectral_target
        self.n_ensemble = n_ensemble
        self.headline = headline
        self.random_state = random_state
        self.max_samples = max_samples
        self.n_jobs = n_jobs

    def _validate_hyperparameters(self) -> None:
        self._validate_params()  # scikit-learn's check against _parameter_constraints
        layers = tuple(self.hidden_layer_sizes)
        if not layers or any(int(width) < 1 for width in layers):
            raise ValueError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r}: need one or more positive layer widths, e.g. (32,)."
            )

    def member_input_transform(self, member: int) -> str:
        """The feature map ensemble member ``member`` (0-based) uses."""
        if self.input_transform == "mixed":
            return MIXED_INPUT_CYCLE[member % len(MIXED_INPUT_CYCLE)]
        return self.input_transform

    def _make_head(self, seed: int, target: tuple | None, input_transform: str) -> TransformedTargetRegressor:
        network = MLPRegressor(
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            random_state=seed,
            **{name: getattr(self, name) for name in _NETWORK_PARAMETERS},
        )
        features: Pipeline = make_pipeline(FunctionTransformer(_INPUT_FUNCTIONS[input_transform]), StandardScaler(), network)
        if target is None:
            target_transformer = StandardScaler()
        else:
            forward, inverse = target
            target_transformer = make_pipeline(FunctionTransformer(forward, inverse, check_inverse=False), StandardScaler())
        return TransformedTargetRegressor(regressor=features, transformer=target_transformer, check_inverse=False)

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> "FormulationModel":
        """Fit both heads of every member on every row of ``dataset``.

        Parameters
        ----------
        dataset : Dataset
        progress : callable(fraction: float, message: str), optional
        """
        self._validate_hyperparameters()
        if len(dataset) < 2:
            raise ValueError(f"Need at least 2 measurements to train; the dataset has {len(dataset)}.")
        X = dataset.recipes.to_numpy(dtype=float)
        reflectance = dataset.reflectance
        Lab = colorimetry.reflectance_to_Lab(reflectance)
        target = _TARGET_FUNCTIONS[self.spectral_target]
        tasks = []
        for member in range(self.n_ensemble):
            seed = self.random_state + member
            features = self.member_input_transform(member)
            rows = member_rows(len(X), self.max_samples, seed)
            tasks += [(self._make_head(seed, target, features), X[rows], reflectance[rows]), (self._make_head(seed, None, features), X[rows], Lab[rows])]
        fitted = fit_heads(tasks, self.n_jobs)
        spectral_heads, lab_heads = fitted[0::2], fitted[1::2]
        if progress:
            progress(1.0, f"{len(fitted)} heads fitted")
        self.colorants_ = tuple(dataset.colorants)
        self.spectral_heads_ = spectral_heads
        self.lab_heads_ = lab_heads
        self.training_range_ = TrainingRange.from_recipes(dataset.recipes)
        self.n_recipes_ = dataset.n_recipes
        self.n_samples_ = len(dataset)
        self.n_features_in_ = X.shape[1]
        self._fit_fluorescence(dataset)
        self.spectral_programs_ = head_programs(spectral_heads, "spectral heads")
        self.lab_programs_ = head_programs(lab_heads, "CIELAB heads")
        return self

    def predict_members(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every ensemble member's raw output for X (n, inputs): reflectance (m, n, 31) and CIELAB (m, n, 3)."""
        self.check_fitted()
        X = np.asarray(X, dtype=float)
        return run_members(self.spectral_programs_, X), run_members(self.lab_programs_, X)

    def predict(self, recipes: pd.DataFrame) -> Prediction:
        """Predict a batch of recipes.

        Parameters
        ----------
        recipes : DataFrame
            Columns ``<colorants…>`` (wt %, 0–100) and ``thickness_um`` (µm). Extra
            columns are ignored.

        Returns
        -------
        Prediction
            Its uncertainty is the ensemble spread of each CIELAB path in ΔE00 (NaN for a
            single network), see :func:`model.models.uncertainty.ensemble_uncertainty`.
        """
        self.check_fitted()
        inputs = recipe_inputs(recipes, self.input_columns)
        member_reflectance, member_Lab = self.predict_members(inputs.to_numpy(dtype=float))
        reflectance = member_reflectance.mean(axis=0)
        Lab_head = member_Lab.mean(axis=0)
        Lab_spectral = colorimetry.reflectance_to_Lab(reflectance)  # once, shared with the uncertainty
        uncertainty = ensemble_uncertainty(member_reflectance, member_Lab, Lab_spectral, Lab_head)
        return build_prediction(
            inputs, reflectance, Lab_head, self.headline, self.training_range_, uncertainty=uncertainty, Lab_spectral=Lab_spectral,
            fluorescence_cts=self.predict_fluorescence(inputs.to_numpy(dtype=float)),
        )

    @property
    def n_parameters(self) -> int:
        """Trainable weights and biases over both heads and all ensemble members."""
        self.check_fitted()
        total = 0
        for head in [*self.spectral_heads_, *self.lab_heads_]:
            network = head.regressor_[-1]
            total += sum(w.size for w in network.coefs_) + sum(b.size for b in network.intercepts_)
        return total


def _fit_head(head, X: np.ndarray, y: np.ndarray):
    # The matrices are small: threaded BLAS spends longer synchronising than computing (a
    # fit measured 29 s threaded against 6 s on one thread on a busy machine), and heads
    # and cross-validation folds already run in parallel through joblib (model.core.threads).
    with warnings.catch_warnings(), one_blas_thread():
        # lbfgs on a small dataset often stops at max_iter; the CV score says whether it matters.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return head.fit(X, y)


def fit_heads(tasks: list[tuple], n_jobs: int | None = None) -> list:
    """Fit each ``(head, X, y)`` of ``tasks``, ``n_jobs`` at a time through joblib; the fitted heads, in order."""
    if n_jobs in (None, 1):
        return [_fit_head(head, X, y) for head, X, y in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs)(delayed(_fit_head)(head, X, y) for head, X, y in tasks)


def member_rows(n_rows: int, max_samples: int | None, seed: int) -> slice | np.ndarray:
    """The rows an ensemble member fits on: all of them, or a sorted random draw of ``max_samples`` seeded by ``seed``."""
    if max_samples is None or n_rows <= max_samples:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=max_samples, replace=False))


def legacy_model(**changes) -> FormulationModel:
    """The old PyTorch system's architecture in scikit-learn terms: [64, 128, 64] ReLU,
    adam, raw inputs and raw reflectance, one network. The reference row in comparisons."""
    params = dict(
        hidden_layer_sizes=(64, 128, 64),
        activation="relu",
        solver="adam",
        alpha=1e-4,
        learning_rate_init=1e-3,
        batch_size=16,
        max_iter=2000,
        input_transform="raw",
        spectral_target="reflectance",
        n_ensemble=1,
    )
    return FormulationModel(**{**params, **changes})
