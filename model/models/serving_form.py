"""The serving form: a fitted model's prediction as plain arrays, in memory (numpy and pandas only).

Every MLP head a model fits (:mod:`model.models.mlp`, :mod:`model.models.fluorescence`,
:mod:`model.models.hybrid`) is kept, at the end of ``fit``, as a **program** of
:class:`Step` s, as scikit-learn runs it on predict:

- ``function``: a named feature map or inverse target transform
  (:data:`model.models.features.FUNCTIONS`);
- ``affine``: (X − mean) / scale (a ``StandardScaler``);
- ``network``: the layers of an ``MLPRegressor`` (activation between layers, linear output);
- ``inverse_affine``: Y · scale + mean (a target ``StandardScaler`` undone).

The models predict only through these programs (``predict``, ``predict_members``,
``predict_arrays``), so the CLI, the API, the pages and the optimiser give one answer,
and none of them pays scikit-learn's input checks (about 0.7 ms a head a call). A fitted
:class:`~model.models.hybrid.HybridModel` keeps its whole prediction as one
:class:`ServingSnapshot` (``serving_``): the physics constants, every head's programs, the
blend weights, the fluorescence head and the calibrated band. The export from fitted
scikit-learn objects is :func:`model.models.mlp_forward.head_program`; the file that holds
a snapshot (``serving.npz``) is :mod:`model.models.snapshot`, which this module does not know.

Scales: recipes are colorants in wt % then ``thickness_um`` in µm; reflectance factor 0–1
(may exceed 1); CIELAB L* 0–100; fluorescence in ct/s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.core import colorimetry
from model.core.film_optics import excitation_bands, fluorescent_film_reflectance
from model.core.prediction import Prediction, TrainingRange, build_prediction
from model.core.schema import THICKNESS_COLUMN
from model.models.difficulty import DifficultyBand
from model.models.features import FUNCTIONS, function_name
from model.models.recipe_values import check_recipe_values
from model.models.uncertainty import band_prediction, ensemble_uncertainty

__all__ = [
    "ServingSnapshot",
    "Step",
    "FilmPhysics",
    "FluorescencePrograms",
    "HEAD_GROUPS",
    "ACTIVATIONS",
    "run_program",
    "run_members",
    "candidate_paths",
    "recipe_inputs",
    "blended_prediction",
    "gated_fluorescence",
]

#: The hybrid's MLP heads by role, one program per ensemble member (see ``_Parts.head_groups`` in the hybrid).
HEAD_GROUPS = ("plain_spectral", "plain_lab", "residual_spectral", "residual_lab")

#: The hidden-layer activations of ``MLPRegressor`` the replay knows (its output layer is linear).
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda z: z,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
}

#: The activations above that can overwrite their input (the hidden layer a step has just made).
_IN_PLACE_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda z: z,
    "tanh": lambda z: np.tanh(z, out=z),
    "relu": lambda z: np.maximum(z, 0.0, out=z),
}


@dataclass(frozen=True, eq=False)
class Step:
    """One step of a head's forward pass (see the module notes).

    ``kind`` is ``"function"`` (``function`` applied; ``name`` its :data:`FUNCTIONS` name,
    None for a function that can be replayed but not saved), ``"affine"`` (arrays: mean,
    scale), ``"network"`` (``name`` the activation; arrays: weight 0, bias 0, weight 1, …)
    or ``"inverse_affine"`` (arrays: mean, scale).
    """

    kind: str
    name: str | None = None
    arrays: tuple[np.ndarray, ...] = ()
    function: Callable[[np.ndarray], np.ndarray] | None = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "function":
            return self.function(X)
        # Each operation after the first of a step writes into the array that step just made (never into the
        # caller's X): the same IEEE arithmetic as the expressions written out, without a new array per operation.
        if self.kind == "affine":
            mean, scale = self.arrays
            Y = X - mean
            Y /= scale
            return Y
        if self.kind == "inverse_affine":
            mean, scale = self.arrays
            Y = X * scale
            Y += mean
            return Y
        in_place = _IN_PLACE_ACTIVATIONS.get(self.name)
        activation = ACTIVATIONS[self.name]
        layers = len(self.arrays) // 2
        for layer in range(layers):
            X = X @ self.arrays[2 * layer]
            X += self.arrays[2 * layer + 1]
            if layer < layers - 1:
                X = in_place(X) if in_place is not None else activation(X)
        return X

    @property
    def savable(self) -> bool:
        """Whether the step can be written to a file (a function step needs a name in :data:`FUNCTIONS`)."""
        return self.kind != "function" or (self.name is not None and FUNCTIONS.get(self.name) is self.function)

    @classmethod
    def named_function(cls, function) -> Step:
        """A function step, named when ``function`` is one of :data:`FUNCTIONS`."""
        return cls("function", function_name(function), (), function)


def run_program(program: Sequence[Step], X: np.ndarray) -> np.ndarray:
    """Run a head's steps on X (n, inputs; wt % then µm): the head's prediction, on its output scale."""
    for step in program:
        X = step(X)
    return X


def run_members(programs: Sequence[Sequence[Step]], X: np.ndarray) -> np.ndarray:
    """Every member's output (m, n, outputs) of X (n, inputs): one program per ensemble member."""
    return np.stack([run_program(program, X) for program in programs])


@dataclass(frozen=True, eq=False)
class FilmPhysics:
    """The fitted constants of the fluorescent Kubelka–Munk film (see :func:`fluorescent_film_reflectance`).

    Unit k and s per µm per wt % (colorants, 31); binder K and S per µm (31,); the scattering
    exponent γ (colorants,); substrate reflectance 0–1 (31,); emission spectra (fluorescent,
    31); the input column of each fluorescent colorant; the excitation limit in nm; and
    Saunderson's surface constants (k1, k2).
    """

    unit_absorption: np.ndarray
    unit_scattering: np.ndarray
    binder_absorption: np.ndarray
    binder_scattering: np.ndarray
    scattering_exponent: np.ndarray
    substrate_reflectance: np.ndarray
    emission: np.ndarray
    fluorescent_index: tuple[int, ...]
    excitation_max_nm: float
    surface: tuple[float, float]

    _ARRAYS = (
        "unit_absorption", "unit_scattering", "binder_absorption", "binder_scattering", "scattering_exponent", "substrate_reflectance",
        "emission",
    )

    def reflectance(self, X: np.ndarray) -> np.ndarray:
        """The physics' reflectance factor (n, 31; may exceed 1) of X (n, colorants + 1; wt %, then µm)."""
        return fluorescent_film_reflectance(
            X, self.unit_absorption, self.unit_scattering, self.binder_absorption, self.binder_scattering, self.scattering_exponent,
            self.substrate_reflectance, self.emission, self.fluorescent_index, excitation_bands(self.excitation_max_nm), self.surface,
        )


@dataclass(frozen=True, eq=False)
class FluorescencePrograms:
    """The fluorescence head (ct/s) as programs: its gate, its networks (log target) and its constant.

    ``gate_index`` are the input columns of the fluorescent colorants; ``networks`` one
    program per member, each giving log(1 + I / 100 ct/s); ``constant_cts`` what a head
    without networks predicts wherever the gate opens (see :mod:`model.models.fluorescence`).
    """

    fluorescent_colorants: tuple[str, ...]
    gate_index: tuple[int, ...]
    networks: tuple[tuple[Step, ...], ...]
    constant_cts: float

    def mean_log(self, X: np.ndarray) -> np.ndarray:
        """The networks' mean log target (n, 1) of X."""
        return np.mean([run_program(network, X) for network in self.networks], axis=0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Fluorescence intensity (n,; ct/s, ≥ 0) of X; exactly 0 without a fluorescent colorant."""
        return gated_fluorescence(X, self.gate_index, self.mean_log if self.networks else None, self.constant_cts)


def gated_fluorescence(X: np.ndarray, gate_index: Sequence[int], mean_log, constant_cts: float) -> np.ndarray:
    """Fluorescence (n,; ct/s) behind the gate: 0 without a fluorescent colorant, else the networks or the constant.

    ``mean_log(X)`` gives the members' mean log target (n, 1) (a geometric mean: the members
    agree on ratios, not on differences); None for a head without networks.
    """
    X = np.asarray(X, dtype=float)
    out = np.zeros(len(X))
    gate = (X[:, list(gate_index)] > 0).any(axis=1) if len(gate_index) else np.zeros(len(X), dtype=bool)
    if gate.any():
        out[gate] = FUNCTIONS["_from_log"](mean_log(X[gate])[:, 0]) if mean_log is not None else constant_cts
    return out


def candidate_paths(physics: np.ndarray, head_outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Member-wise candidate spectra (3, m, n, 31) and CIELAB (5, m, n, 3) of the hybrid.

    ``physics`` is the physics' reflectance (n, 31); ``head_outputs`` maps each of
    :data:`HEAD_GROUPS` to its members' outputs (m, n, 31 or 3). The order is that of
    ``hybrid.SPECTRAL_CANDIDATES`` (physics, residual spectrum, plain spectrum) and
    ``hybrid.LAB_CANDIDATES`` (physics, residual head, residual spectrum, plain head, plain spectrum).
    """
    physics_Lab = colorimetry.reflectance_to_Lab(physics)
    plain_spectrum, plain_Lab = head_outputs["plain_spectral"], head_outputs["plain_lab"]
    residual_spectrum = physics[None] + head_outputs["residual_spectral"]
    residual_Lab = physics_Lab[None] + head_outputs["residual_lab"]
    members = len(plain_spectrum)
    physics_members = np.broadcast_to(physics, (members, *physics.shape))
    spectra = np.stack([physics_members, residual_spectrum, plain_spectrum])
    Labs = np.stack([
        np.broadcast_to(physics_Lab, (members, *physics_Lab.shape)),
        residual_Lab,
        colorimetry.reflectance_to_Lab(residual_spectrum),
        plain_Lab,
        colorimetry.reflectance_to_Lab(plain_spectrum),
    ])
    return spectra, Labs


def recipe_inputs(recipes: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The model's input columns of ``recipes`` as floats, re-indexed from 0.

    Raises ``TypeError`` for anything but a DataFrame and ``ValueError`` naming what to fix
    (:func:`model.models.recipe_values.check_recipe_values`: a missing column, a value out of range…).
    """
    if not isinstance(recipes, pd.DataFrame):
        raise TypeError(f"predict expects a pandas DataFrame of recipes; got {type(recipes).__name__}.")
    return pd.DataFrame(check_recipe_values(recipes, columns, "Recipes"), columns=columns)


def blended_prediction(
    inputs: pd.DataFrame, member_reflectance: np.ndarray, member_Lab: np.ndarray, physics: np.ndarray, headline: str,
    training_range: TrainingRange, band_scale: float, fluorescence_cts: np.ndarray | None,
    bands: dict[str, DifficultyBand] | None = None,
) -> Prediction:
    """The hybrid's :class:`Prediction` from its members' blended outputs: the members' mean, both CIELAB
    paths, the uncertainty and the physics path.

    The uncertainty is the calibrated band of ``bands`` (``{path: DifficultyBand}``,
    :mod:`model.models.difficulty`) when the model has one; a model saved without it states
    the members' spread times ``band_scale`` (uncalibrated: ``uncertainty_coverage`` None).
    """
    reflectance, Lab_head = member_reflectance.mean(axis=0), member_Lab.mean(axis=0)
    Lab_spectral = colorimetry.reflectance_to_Lab(reflectance)
    coverage = difficulty = None
    if bands:
        X = inputs.to_numpy(dtype=float)
        uncertainty, difficulty, coverage = band_prediction(
            bands, X, {"spectral": Lab_spectral, "head": Lab_head}, colorimetry.reflectance_to_Lab(physics), headline,
        )
    else:
        uncertainty = ensemble_uncertainty(member_reflectance, member_Lab, Lab_spectral, Lab_head, scale=band_scale)
    return build_prediction(
        inputs, reflectance, Lab_head, headline, training_range, uncertainty=uncertainty, Lab_spectral=Lab_spectral,
        reflectance_physics=physics, fluorescence_cts=fluorescence_cts, uncertainty_coverage=coverage, difficulty=difficulty,
    )


@dataclass(eq=False)
class ServingSnapshot:
    """A fitted hybrid's whole prediction as arrays: predicts like the model, needs only numpy and pandas.

    Attributes mirror the model's: ``colorants_`` (input colorants, in order),
    ``training_range_``, ``headline``; plus ``heads`` (each of :data:`HEAD_GROUPS` → one
    program per member), the blend weights ``lab_weights`` (5,) and ``spectral_weights``
    (3,), the ``physics``, the ``fluorescence`` head (None without one), the
    ``band_scale`` of the ensemble-spread uncertainty and ``bands``, the calibrated band of
    each CIELAB path (``{path: DifficultyBand}``; None for a model saved without one, which
    then states the spread).
    """

    colorants_: tuple[str, ...]
    training_range_: TrainingRange
    headline: str
    heads: dict[str, tuple[tuple[Step, ...], ...]]
    lab_weights: np.ndarray
    spectral_weights: np.ndarray
    physics: FilmPhysics
    band_scale: float
    fluorescence: FluorescencePrograms | None = None
    notes: dict = field(default_factory=dict)
    bands: dict[str, DifficultyBand] | None = None

    # ------------------------------------------------------------------ model-like
    @property
    def input_columns(self) -> list[str]:
        """The inputs in order: the colorant columns (wt %) then ``thickness_um`` (µm)."""
        return [*self.colorants_, THICKNESS_COLUMN]

    @property
    def has_fluorescence(self) -> bool:
        """Whether it predicts fluorescence (the model's training data had readings)."""
        return self.fluorescence is not None

    @property
    def fluorescent_colorants(self) -> tuple[str, ...]:
        """The colorants the fluorescence head's gate opens for; empty without a head."""
        return () if self.fluorescence is None else tuple(self.fluorescence.fluorescent_colorants)

    def members_and_physics(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each member's blended reflectance (m, n, 31) and CIELAB (m, n, 3), and the physics' reflectance (n, 31)."""
        X = np.asarray(X, dtype=float)
        physics = self.physics.reflectance(X)
        outputs = {group: run_members(programs, X) for group, programs in self.heads.items()}
        spectra, Labs = candidate_paths(physics, outputs)
        member_reflectance = np.einsum("c,cmnd->mnd", self.spectral_weights, spectra)
        member_Lab = np.einsum("c,cmnd->mnd", self.lab_weights, Labs)
        return member_reflectance, member_Lab, physics

    def predict_members(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each member's blended reflectance (m, n, 31) and blended CIELAB (m, n, 3) of X (n, inputs)."""
        member_reflectance, member_Lab, _ = self.members_and_physics(X)
        return member_reflectance, member_Lab

    def predict_arrays(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean reflectance (n, 31) and headline CIELAB (n, 3) of X, without building a Prediction."""
        member_reflectance, member_Lab = self.predict_members(X)
        reflectance = member_reflectance.mean(axis=0)
        if self.headline == "head":
            return reflectance, member_Lab.mean(axis=0)
        return reflectance, colorimetry.reflectance_to_Lab(reflectance)

    def predict_fluorescence(self, X: np.ndarray) -> np.ndarray | None:
        """Fluorescence intensity (n,; ct/s) of X (n, inputs); None without a head."""
        return None if self.fluorescence is None else self.fluorescence.predict(np.asarray(X, dtype=float))

    def predict(self, recipes: pd.DataFrame) -> Prediction:
        """Predict recipes (colorants in wt %, ``thickness_um`` in µm), as ``HybridModel.predict`` does.

        Raises ``TypeError`` for anything but a DataFrame, ``ValueError`` naming missing columns.
        """
        inputs = recipe_inputs(recipes, self.input_columns)
        X = inputs.to_numpy(dtype=float)
        member_reflectance, member_Lab, physics = self.members_and_physics(X)
        return blended_prediction(
            inputs, member_reflectance, member_Lab, physics, self.headline, self.training_range_, self.band_scale,
            self.predict_fluorescence(X), self.bands,
        )

    @property
    def savable(self) -> bool:
        """Whether every step can be written to a file (see :attr:`Step.savable`)."""
        programs = [program for group in self.heads.values() for program in group]
        programs += list(self.fluorescence.networks) if self.fluorescence is not None else []
        return all(step.savable for program in programs for step in program)
