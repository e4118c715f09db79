"""The two-head formulation model: recipe → spectrum, and recipe → CIELAB.

Both heads are scikit-learn pipelines around ``MLPRegressor`` (composed, never
subclassed): an input feature map and scaler, then the network, wrapped in a
``TransformedTargetRegressor`` so that the target transform is undone on predict.
An ensemble averages ``n_ensemble`` networks that differ in their seed and, with
``input_transform="mixed"``, in the feature map each one sees. The spread of the
members gives each prediction an uncertainty (see :mod:`model.models.uncertainty`).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from model.core import colorimetry
from model.core.prediction import Prediction, TrainingRange, build_prediction
from model.core.schema import THICKNESS_COLUMN, Dataset
from model.models.uncertainty import ensemble_uncertainty

__all__ = [
    "ModelConfig",
    "FormulationModel",
    "LEGACY_CONFIG",
    "INPUT_TRANSFORMS",
    "MIXED_INPUT_CYCLE",
    "SPECTRAL_TARGETS",
    "HEADLINE_PATHS",
    "member_input_transform",
]

INPUT_TRANSFORMS = ("raw", "sqrt", "amount", "mixed")
#: The feature maps that ``input_transform="mixed"`` cycles through, member by member.
MIXED_INPUT_CYCLE = ("raw", "sqrt", "amount")
SPECTRAL_TARGETS = ("reflectance", "log", "ks")
HEADLINE_PATHS = ("spectral", "head")

# Reflectance can touch 0 in strong absorption bands; the floor keeps log and K/S finite.
_REFLECTANCE_FLOOR = 1e-3


# Input feature maps. Columns arrive as [colorants (wt %)…, thickness (µm)].
def _features_raw(X):
    return np.asarray(X, dtype=float)


def _features_sqrt(X):
    # Colour responds roughly like the square root of loading at low concentration.
    X = np.asarray(X, dtype=float)
    return np.column_stack([np.sqrt(np.clip(X[:, :-1], 0, None)), X[:, -1:]])


def _features_amount(X):
    # Pigment per unit area (wt % × µm) is what Kubelka–Munk says a film's absorption
    # depends on; keep concentration, thickness and total load as well.
    X = np.asarray(X, dtype=float)
    concentration, thickness = X[:, :-1], X[:, -1:]
    amount = concentration * thickness / 10.0
    total = concentration.sum(axis=1, keepdims=True)
    return np.column_stack([np.sqrt(np.clip(amount, 0, None)), np.sqrt(np.clip(concentration, 0, None)), thickness, total])


_INPUT_FUNCTIONS = {"raw": _features_raw, "sqrt": _features_sqrt, "amount": _features_amount}


# Spectral target transforms (reflectance factor 0–1 in, network target out) and their inverses.
def _identity(R):
    return np.asarray(R, dtype=float)


def _log_reflectance(R):
    return np.log(np.clip(np.asarray(R, dtype=float), _REFLECTANCE_FLOOR, None))


def _exp(Y):
    return np.exp(np.asarray(Y, dtype=float))


def _ks(R):
    # Kubelka–Munk remission function K/S = (1 − R)² / 2R, on a log scale so that it is
    # well conditioned; fluorescent bands (R > 1) are mirrored so the map stays invertible.
    R = np.clip(np.asarray(R, dtype=float), _REFLECTANCE_FLOOR, None)
    return np.sign(1.0 - R) * np.log1p((1.0 - R) ** 2 / (2.0 * R))


def _ks_inverse(Y):
    Y = np.asarray(Y, dtype=float)
    ks = np.expm1(np.abs(Y))
    below_one = 1.0 + ks - np.sqrt(ks**2 + 2.0 * ks)
    above_one = 1.0 + ks + np.sqrt(ks**2 + 2.0 * ks)
    return np.where(Y >= 0, below_one, above_one)


_TARGET_FUNCTIONS = {
    "reflectance": (_identity, _identity),
    "log": (_log_reflectance, _exp),
    "ks": (_ks, _ks_inverse),
}


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of both heads.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Neurons per hidden layer, e.g. ``(64, 128, 64)``.
    activation : {"relu", "tanh", "logistic", "identity"}
    solver : {"lbfgs", "adam", "sgd"}
        lbfgs suits the ~100-row datasets a lab has; adam is the old system's choice.
    alpha : float
        L2 penalty.
    learning_rate_init, batch_size, early_stopping
        Used by adam and sgd only.
    max_iter : int
    input_transform : {"raw", "sqrt", "amount", "mixed"}
        Feature map of the recipe (see module source for the physics behind each).
        ``"mixed"`` gives ensemble member k the map ``MIXED_INPUT_CYCLE[k % 3]``: members
        that see the recipe differently disagree more usefully than members that differ
        only in seed, so both the average and the spread (the uncertainty) improve.
    spectral_target : {"reflectance", "log", "ks"}
        What the spectral head regresses: reflectance, log reflectance, or a log K/S.
    n_ensemble : int
        Networks per head, averaged; they differ in seed (and feature map, see above).
    headline : {"spectral", "head"}
        Which CIELAB path ``Prediction.Lab`` reports. ``python -m model train`` sets it
        from leave-recipe-out validation.
    random_state : int
    """

    # Chosen by leave-recipe-out CV on the real pp-inks data (bench/accuracy.py, README
    # "Accuracy"): one small tanh layer, light L2, three lbfgs members over three feature maps.
    hidden_layer_sizes: tuple[int, ...] = (32,)
    activation: str = "tanh"
    solver: str = "lbfgs"
    alpha: float = 0.1
    learning_rate_init: float = 1e-3
    batch_size: int | str = "auto"
    max_iter: int = 2000
    early_stopping: bool = False
    input_transform: str = "mixed"
    spectral_target: str = "reflectance"
    n_ensemble: int = 3
    headline: str = "spectral"
    random_state: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, the value and what is accepted."""
        choices = {
            "activation": ("relu", "tanh", "logistic", "identity"),
            "solver": ("lbfgs", "adam", "sgd"),
            "input_transform": INPUT_TRANSFORMS,
            "spectral_target": SPECTRAL_TARGETS,
            "headline": HEADLINE_PATHS,
        }
        for name, accepted in choices.items():
            value = getattr(self, name)
            if value not in accepted:
                raise ValueError(f"ModelConfig.{name}={value!r} is not accepted; use one of {list(accepted)}.")
        if not self.hidden_layer_sizes or any(int(n) < 1 for n in self.hidden_layer_sizes):
            raise ValueError(f"ModelConfig.hidden_layer_sizes={self.hidden_layer_sizes!r}: need one or more positive layer widths.")
        if self.n_ensemble < 1:
            raise ValueError(f"ModelConfig.n_ensemble={self.n_ensemble!r}: need at least 1.")
        if self.alpha < 0:
            raise ValueError(f"ModelConfig.alpha={self.alpha!r}: the L2 penalty cannot be negative.")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["hidden_layer_sizes"] = list(self.hidden_layer_sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown ModelConfig fields {sorted(unknown)}; known fields are {sorted(known)}.")
        values = dict(data)
        if "hidden_layer_sizes" in values:
            values["hidden_layer_sizes"] = tuple(int(n) for n in values["hidden_layer_sizes"])
        return cls(**values)

    def replace(self, **changes) -> "ModelConfig":
        return ModelConfig.from_dict({**self.to_dict(), **changes})


#: The old PyTorch system's architecture in scikit-learn terms: [64, 128, 64] ReLU,
#: adam, raw inputs and raw reflectance, one network. The reference row in comparisons.
LEGACY_CONFIG = ModelConfig(
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


def member_input_transform(config: ModelConfig, member: int) -> str:
    """The feature map ensemble member ``member`` (0-based) of ``config`` uses."""
    if config.input_transform == "mixed":
        return MIXED_INPUT_CYCLE[member % len(MIXED_INPUT_CYCLE)]
    return config.input_transform


def _make_head(config: ModelConfig, seed: int, target: tuple | None, input_transform: str | None = None) -> TransformedTargetRegressor:
    network = MLPRegressor(
        hidden_layer_sizes=tuple(config.hidden_layer_sizes),
        activation=config.activation,
        solver=config.solver,
        alpha=config.alpha,
        learning_rate_init=config.learning_rate_init,
        batch_size=config.batch_size,
        max_iter=config.max_iter,
        early_stopping=config.early_stopping,
        random_state=seed,
    )
    features: Pipeline = make_pipeline(
        FunctionTransformer(_INPUT_FUNCTIONS[input_transform or member_input_transform(config, 0)]), StandardScaler(), network
    )
    if target is None:
        target_transformer = StandardScaler()
    else:
        forward, inverse = target
        target_transformer = make_pipeline(
            FunctionTransformer(forward, inverse, check_inverse=False), StandardScaler()
        )
    return TransformedTargetRegressor(regressor=features, transformer=target_transformer, check_inverse=False)


@dataclass
class FormulationModel:
    """Predicts reflectance (31 bands) and CIELAB from a recipe.

    Parameters
    ----------
    config : ModelConfig

    Attributes
    ----------
    colorants_ : tuple of str
        Input colorant names, in order (set by ``fit``).
    spectral_heads_, lab_heads_ : list of fitted regressors (one per ensemble member).
    training_range_ : TrainingRange
    n_recipes_, n_samples_ : int

    Examples
    --------
    >>> model = FormulationModel(ModelConfig()).fit(dataset)          # doctest: +SKIP
    >>> model.predict(dataset.recipes.head(2)).Lab                     # doctest: +SKIP
    """

    config: ModelConfig = field(default_factory=ModelConfig)

    def fit(self, dataset: Dataset, progress=None) -> "FormulationModel":
        """Fit both heads on every row of ``dataset``.

        Parameters
        ----------
        dataset : Dataset
        progress : callable(fraction: float, message: str), optional
        """
        self.config.validate()
        if len(dataset) < 2:
            raise ValueError(f"Need at least 2 measurements to train; the dataset has {len(dataset)}.")
        X = dataset.recipes.to_numpy(dtype=float)
        reflectance = dataset.reflectance
        Lab = colorimetry.reflectance_to_Lab(reflectance)
        target = _TARGET_FUNCTIONS[self.config.spectral_target]
        spectral_heads, lab_heads = [], []
        total = 2 * self.config.n_ensemble
        # The matrices are tiny (~100 rows): threaded BLAS spends longer synchronising than
        # computing (a fit measured 29 s threaded against 6 s on one thread on a busy
        # machine), and cross-validation already runs folds in parallel through joblib.
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            # lbfgs on a small dataset often stops at max_iter; the CV score says whether it matters.
            warnings.simplefilter("ignore", ConvergenceWarning)
            for member in range(self.config.n_ensemble):
                seed = self.config.random_state + member
                features = member_input_transform(self.config, member)
                spectral_heads.append(_make_head(self.config, seed, target, features).fit(X, reflectance))
                if progress:
                    progress((2 * member + 1) / total, f"spectral head {member + 1}/{self.config.n_ensemble}")
                lab_heads.append(_make_head(self.config, seed, None, features).fit(X, Lab))
                if progress:
                    progress((2 * member + 2) / total, f"CIELAB head {member + 1}/{self.config.n_ensemble}")
        self.colorants_ = tuple(dataset.colorants)
        self.spectral_heads_ = spectral_heads
        self.lab_heads_ = lab_heads
        self.training_range_ = TrainingRange.from_recipes(dataset.recipes)
        self.n_recipes_ = dataset.n_recipes
        self.n_samples_ = len(dataset)
        return self

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "spectral_heads_"):
            raise NotFittedError("This FormulationModel is not fitted yet; call fit(dataset) first.")

    @property
    def input_columns(self) -> list[str]:
        self._check_is_fitted()
        return [*self.colorants_, THICKNESS_COLUMN]

    def _inputs(self, recipes: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.input_columns if c not in recipes.columns]
        if missing:
            raise ValueError(
                f"Recipes lack columns {missing}; this model takes {self.input_columns} "
                "(colorants in wt %, thickness in µm)."
            )
        return recipes[self.input_columns].astype(float).reset_index(drop=True)

    def predict_members(self, recipes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Every ensemble member's raw output: reflectance (m, n, 31) and CIELAB (m, n, 3)."""
        self._check_is_fitted()
        X = self._inputs(recipes).to_numpy(dtype=float)
        reflectance = np.stack([head.predict(X) for head in self.spectral_heads_])
        Lab = np.stack([head.predict(X) for head in self.lab_heads_])
        return reflectance, Lab

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
            Its ``uncertainty`` is the ensemble spread of the headline path in ΔE00
            (NaN for a single network), see :func:`model.models.uncertainty.ensemble_uncertainty`.
        """
        inputs = self._inputs(recipes)
        reflectance, Lab = self.predict_members(inputs)
        uncertainty = ensemble_uncertainty(reflectance, Lab, self.config.headline)
        return build_prediction(
            inputs, reflectance.mean(axis=0), Lab.mean(axis=0), self.config.headline, self.training_range_, uncertainty=uncertainty
        )

    @property
    def n_parameters(self) -> int:
        """Trainable weights and biases over both heads and all ensemble members."""
        self._check_is_fitted()
        total = 0
        for head in [*self.spectral_heads_, *self.lab_heads_]:
            network = head.regressor_[-1]
            total += sum(w.size for w in network.coefs_) + sum(b.size for b in network.intercepts_)
        return total
