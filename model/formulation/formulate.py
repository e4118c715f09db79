"""Inverse formulation: find recipes whose predicted colour matches a target.

The forward model (``FormulationModel`` or any model with the same ``predict``) maps a
recipe to a spectrum and CIELAB. Formulation runs it backwards by bounded multi-start
optimisation:

1. **Screening.** A few hundred recipes are drawn inside the constraints, on every
   allowed thickness and on the faces of the concentration box (subsets of the allowed
   colorants, because real recipes use two or three pigments, not all of them). They
   are predicted in one batch.
2. **Refinement.** The best distinct screening recipes start a bounded quasi-Newton
   search (``scipy.optimize.minimize``, L-BFGS-B). All starts are optimised at once:
   their objectives are independent, so their sum is minimised, and its gradient comes
   from forward differences evaluated as one batch prediction per step. A Python loop
   of single predictions would be a hundred times slower.
3. **Tidying.** Concentrations within a few percent of their allowed range of zero are
   set to zero when that costs (almost) no colour accuracy, so that a candidate names
   the pigments it really needs.

The objective is CIEDE2000 to the target for a colour target (CIELAB, hex, sRGB). For a
spectral target it is the spectral RMS plus a metamerism term: the ΔE00 under D65, A
and F11, so that a recipe that matches under daylight but not under a shop's lamps
ranks lower.

Scales: concentrations in wt % (0–100), thickness in µm, reflectance factor 0–1 (may
exceed 1 for fluorescent colorants), L* 0–100, ΔE00 CIEDE2000 units, spectral RMS in
reflectance percent (0–100 scale, so 1.0 means 0.01 reflectance).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.compose import TransformedTargetRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from model.core import colorimetry
from model.core.schema import BAND_COLUMNS, THICKNESS_COLUMN, WAVELENGTHS_NM, Dataset

__all__ = [
    "SpectrumParseError",
    "parse_spectrum",
    "Target",
    "Constraints",
    "Candidate",
    "FormulationResult",
    "formulate",
    "METAMERISM_ILLUMINANTS",
    "REACHED_DELTA_E00",
]

#: Illuminants of the metamerism index (keys of ``colour.SDS_ILLUMINANTS``): incandescent
#: light (A) and a narrow-band triphosphor shop lamp (FL11, often written F11).
METAMERISM_ILLUMINANTS = ("A", "FL11")
#: A target is reported as reached when the best candidate is within this ΔE00 (hard to see).
REACHED_DELTA_E00 = 1.0

_N_BANDS = len(WAVELENGTHS_NM)
# Relative step of the forward-difference gradient, as a fraction of each colorant's
# allowed span: big enough to rise above the networks' float noise, small enough to be local.
_GRADIENT_STEP = 1e-3
# Weight of the daylight (D65) ΔE00² against the spectral RMS² (in %²) and the mean
# metamerism ΔE00² under A and F11 in a spectral target's objective. The model cannot
# reproduce a measured curve exactly, and a chemist first judges the match in daylight,
# so the colour under D65 must not be traded away for a slightly closer curve.
_DAYLIGHT_WEIGHT = 10.0
# ... and in the final polish, which must not leave a visible daylight difference behind.
_POLISH_DAYLIGHT_WEIGHT = 1000.0
# Penalty weight on exceeding the maximum total (per wt %², in objective units).
_TOTAL_PENALTY = 1e3
# A candidate's concentration is tried at zero when below this fraction of its allowed span.
_SNAP_FRACTION = 0.05
# ... and set to zero when that raises its ΔE00 to the target by at most this much.
_SNAP_TOLERANCE_DELTA_E00 = 0.05


# --------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------


from model.io.spectrum_text import SpectrumParseError, parse_spectrum  # noqa: E402  (moved; re-exported)




@dataclass(frozen=True)
class Target:
    """The colour to formulate for.

    Attributes
    ----------
    Lab : numpy.ndarray, shape (3,)
        CIELAB under D65, 10° observer (L* 0–100).
    reflectance : numpy.ndarray of shape (31,), or None
        The target spectrum (reflectance factor 0–1) when one was given; it enables the
        spectral objective, the spectral RMS and the metamerism index.
    label : str
        What the target is, for display (``"hex #c0392b"``, ``"sample OPTI7H"``).
    notes : tuple of str
        Assumptions made while reading it.
    """

    Lab: np.ndarray
    reflectance: np.ndarray | None = None
    label: str = "target"
    notes: tuple[str, ...] = ()

    @property
    def is_spectral(self) -> bool:
        return self.reflectance is not None

    @property
    def hex(self) -> str:
        sRGB, _ = colorimetry.Lab_to_sRGB(self.Lab)
        return colorimetry.sRGB_to_hex(sRGB)

    @classmethod
    def from_Lab(cls, L: float, a: float, b: float, label: str | None = None) -> "Target":
        """A CIELAB target (D65, 10°; L* 0–100)."""
        Lab = np.array([L, a, b], dtype=float)
        if not np.all(np.isfinite(Lab)):
            raise ValueError(f"CIELAB target {Lab.tolist()} is not finite; give three numbers L*, a*, b*.")
        return cls(Lab=Lab, label=label or f"L* {L:.1f}, a* {a:.1f}, b* {b:.1f}")

    @classmethod
    def from_sRGB(cls, sRGB, label: str | None = None) -> "Target":
        """A display colour (gamma-encoded sRGB, 0–1), read as if seen under D65."""
        sRGB = np.asarray(sRGB, dtype=float)
        if sRGB.shape != (3,) or np.any((sRGB < 0) | (sRGB > 1)):
            raise ValueError(f"sRGB target {sRGB.tolist()} must be three values between 0 and 1.")
        hex_code = colorimetry.sRGB_to_hex(sRGB)
        return cls(Lab=np.asarray(colorimetry.sRGB_to_Lab(sRGB), dtype=float), label=label or f"colour {hex_code}")

    @classmethod
    def from_hex(cls, hex_code: str) -> "Target":
        """A ``#rrggbb`` colour (a colour picker's value)."""
        sRGB = colorimetry.hex_to_sRGB(hex_code)
        return cls.from_sRGB(sRGB, label=f"colour #{hex_code.strip().lstrip('#').lower()}")

    @classmethod
    def from_spectrum(cls, reflectance, label: str = "pasted spectrum", notes: Sequence[str] = ()) -> "Target":
        """A measured spectrum (31 bands, 400–700 nm, reflectance factor 0–1)."""
        reflectance = np.asarray(reflectance, dtype=float).reshape(-1)
        if reflectance.shape != (_N_BANDS,):
            raise ValueError(f"A target spectrum needs {_N_BANDS} values (400–700 nm, 10 nm steps); got {reflectance.size}.")
        return cls(Lab=colorimetry.reflectance_to_Lab(reflectance), reflectance=reflectance, label=label, notes=tuple(notes))

    @classmethod
    def from_pasted(cls, text: str) -> "Target":
        """A spectrum pasted as text; see :func:`parse_spectrum` for the accepted shapes."""
        reflectance, notes = parse_spectrum(text)
        return cls.from_spectrum(reflectance, "pasted spectrum", notes)

    @classmethod
    def from_sample(cls, dataset: Dataset, sample_id: str) -> "Target":
        """The measured spectrum of one sample of a :class:`Dataset` (or the measurement store)."""
        matches = np.flatnonzero(dataset.sample_ids == str(sample_id))
        if not len(matches):
            raise ValueError(f"Sample {sample_id!r} is not in dataset {dataset.name!r}; pick one of its sample ids.")
        row = dataset.table.iloc[matches[0]]
        return cls.from_spectrum(row[BAND_COLUMNS].to_numpy(dtype=float), label=f"sample {sample_id}")


# --------------------------------------------------------------------------------------
# Constraints
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraints:
    """What the search may use.

    Parameters
    ----------
    colorants : sequence of str, optional
        Allowed colorants; default every colorant of the model. The others stay at 0.
    minimum, maximum : mapping colorant → wt %, optional
        Per-colorant limits. Default 0 and the highest level seen in training (going
        beyond the training range is allowed but the candidate is flagged).
    max_total : float, optional
        Maximum sum of all concentrations, wt %.
    thicknesses_um : sequence of float, optional
        Allowed film thicknesses in µm; default the lowest and highest trained thickness.
    """

    colorants: Sequence[str] | None = None
    minimum: Mapping[str, float] = field(default_factory=dict)
    maximum: Mapping[str, float] = field(default_factory=dict)
    max_total: float | None = None
    thicknesses_um: Sequence[float] | None = None

    def resolve(self, model) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Bounds in the model's terms.

        Returns
        -------
        colorants : list of str, every model colorant in model order.
        lower, upper : numpy.ndarray, wt % per colorant (both 0 for disallowed ones).
        thicknesses : numpy.ndarray, µm.

        Raises
        ------
        ValueError
            A name is not one of the model's colorants, or the limits contradict each other.
        """
        colorants = list(model.colorants_)
        known = set(colorants)
        trained = model.training_range_
        allowed = list(self.colorants) if self.colorants is not None else colorants
        for name in [*allowed, *self.minimum, *self.maximum]:
            if name not in known:
                raise ValueError(f"Colorant {name!r} is not one this model knows; it knows {colorants}.")
        if not allowed:
            raise ValueError("No colorant is allowed; allow at least one.")
        lower = np.zeros(len(colorants))
        upper = np.zeros(len(colorants))
        for i, name in enumerate(colorants):
            if name not in allowed:
                continue
            lower[i] = float(self.minimum.get(name, 0.0))
            upper[i] = float(self.maximum.get(name, trained.maximum[name]))
            if lower[i] < 0:
                raise ValueError(f"Minimum of {name} is {lower[i]:g} wt %; concentrations cannot be negative.")
            if upper[i] < lower[i]:
                raise ValueError(f"Maximum of {name} ({upper[i]:g} wt %) is below its minimum ({lower[i]:g} wt %); raise the maximum.")
        if self.max_total is not None:
            if self.max_total <= 0:
                raise ValueError(f"max_total={self.max_total:g} wt %: give a positive maximum total, or none.")
            if lower.sum() > self.max_total + 1e-9:
                raise ValueError(
                    f"The minimums add up to {lower.sum():g} wt %, above the maximum total of {self.max_total:g} wt %; "
                    "lower a minimum or raise the maximum total."
                )
        if self.thicknesses_um is None:
            thicknesses = np.unique([trained.minimum[THICKNESS_COLUMN], trained.maximum[THICKNESS_COLUMN]])
        else:
            thicknesses = np.unique(np.asarray(list(self.thicknesses_um), dtype=float))
        if not len(thicknesses) or np.any(~np.isfinite(thicknesses)) or np.any(thicknesses <= 0):
            raise ValueError(f"Allowed thicknesses {list(thicknesses)} µm: give one or more positive thicknesses.")
        return colorants, lower, upper, thicknesses


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One proposed recipe and how well its prediction matches the target.

    Attributes
    ----------
    recipe : dict
        Every model colorant in wt % plus ``thickness_um`` in µm.
    delta_e00 : float
        Predicted CIEDE2000 to the target under D65.
    spectral_rms : float or None
        RMS difference between predicted and target spectra, in reflectance percent
        (0–100 scale); None for a colour-only target.
    metamerism : dict or None
        ΔE00 between prediction and target under each of :data:`METAMERISM_ILLUMINANTS`
        (a spectral target only). Large values mean the pair matches in daylight but
        parts under that light.
    Lab : numpy.ndarray, predicted CIELAB (D65, L* 0–100); hex : str, its swatch.
    reflectance : numpy.ndarray, predicted spectrum (31 bands, 0–1).
    out_of_range : bool; out_of_range_detail : str
        The recipe lies outside what the model was trained on: trust it less.
    """

    recipe: dict[str, float]
    delta_e00: float
    spectral_rms: float | None
    metamerism: dict[str, float] | None
    Lab: np.ndarray
    hex: str
    reflectance: np.ndarray
    out_of_range: bool
    out_of_range_detail: str

    @property
    def colorants_used(self) -> list[str]:
        return [name for name, value in self.recipe.items() if name != THICKNESS_COLUMN and value > 0]


@dataclass(frozen=True)
class FormulationResult:
    """Candidates for one target, best first, and whether the target was reached.

    Attributes
    ----------
    target : Target
    candidates : list of Candidate, best first, mutually distinct.
    reachable : bool
        The best candidate is within :data:`REACHED_DELTA_E00` of the target.
    explanation : str
        In words: reached, or how the closest recipe falls short (too dark, too weak in
        chroma, hue off…) and which limit it runs into.
    shortfalls : tuple of str, the individual reasons (empty when reached).
    seconds : float, wall time of the search.
    n_predictions : int, recipes predicted during the search.
    """

    target: Target
    candidates: list[Candidate]
    reachable: bool
    explanation: str
    shortfalls: tuple[str, ...]
    seconds: float
    n_predictions: int

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def to_frame(self) -> pd.DataFrame:
        """The candidates as a table (one row each): recipe, ΔE00, spectral RMS, metamerism, flags."""
        rows = []
        for rank, candidate in enumerate(self.candidates, start=1):
            row = {"rank": rank, **candidate.recipe, "delta_e00": candidate.delta_e00}
            if candidate.spectral_rms is not None:
                row["spectral_rms_percent"] = candidate.spectral_rms
            for illuminant, value in (candidate.metamerism or {}).items():
                row[f"delta_e00_{illuminant}"] = value
            row.update(
                L=candidate.Lab[0], a=candidate.Lab[1], b=candidate.Lab[2], hex=candidate.hex,
                out_of_range=candidate.out_of_range, out_of_range_detail=candidate.out_of_range_detail,
            )
            rows.append(row)
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------------------


_ACTIVATIONS = {
    "identity": lambda z: z,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


def _forward_function(step):
    """A plain-numpy stand-in for one fitted pipeline step, or None when the step is unfamiliar."""
    if isinstance(step, FunctionTransformer):
        if step.kw_args or step.func is None:
            return None
        return step.func
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else 0.0
        scale = step.scale_ if step.with_std else 1.0
        return lambda X: (X - mean) / scale
    if isinstance(step, MLPRegressor):
        activation = _ACTIVATIONS.get(step.activation)
        if activation is None:
            return None
        weights, biases = step.coefs_, step.intercepts_

        def network(X):
            for layer, (weight, bias) in enumerate(zip(weights, biases)):
                X = X @ weight + bias
                if layer < len(weights) - 1:
                    X = activation(X)
            return X

        return network
    return None


def _inverse_function(step):
    if isinstance(step, FunctionTransformer):
        if step.inv_kw_args or step.inverse_func is None:
            return None
        return step.inverse_func
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else 0.0
        scale = step.scale_ if step.with_std else 1.0
        return lambda Y: Y * scale + mean
    return None


def _compile_head(head):
    """The forward pass of one fitted head as plain numpy, or None if its shape is unfamiliar.

    scikit-learn's ``predict`` validates its input on every call, which costs about 3 ms
    per head; the search predicts thousands of tiny batches, so it would spend most of its
    time there. The compiled function uses only the fitted attributes (``coefs_``,
    ``mean_``…), and :func:`_fast_spectral_predictor` checks it against ``predict``.
    """
    if not isinstance(head, TransformedTargetRegressor) or not isinstance(head.regressor_, Pipeline):
        return None
    forward = [_forward_function(step) for _, step in head.regressor_.steps]
    transformer = head.transformer_
    inverse_steps = [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    inverse = [_inverse_function(step) for step in reversed(inverse_steps)]
    if any(function is None for function in [*forward, *inverse]):
        return None

    def predict(X):
        for function in [*forward, *inverse]:
            X = function(X)
        return X

    return predict


def _fast_spectral_predictor(model, probe: np.ndarray):
    """Mean reflectance of the spectral heads as plain numpy, verified on ``probe``; else None."""
    heads = getattr(model, "spectral_heads_", None)
    if not heads or getattr(getattr(model, "config", None), "headline", None) != "spectral":
        return None
    compiled = [_compile_head(head) for head in heads]
    if any(function is None for function in compiled):
        return None

    def predict(X):
        return np.mean([function(X) for function in compiled], axis=0)

    reference = np.mean([head.predict(probe) for head in heads], axis=0)
    if not np.allclose(predict(probe), reference, rtol=1e-9, atol=1e-9):
        return None  # a pipeline this code does not know: use the model's own predict
    return predict


class _Scorer:
    """Predicts a batch of recipes and scores each against the target (one predict call)."""

    def __init__(self, model, target: Target, colorants: list[str], probe: np.ndarray):
        self.model = model
        self.target = target
        self.columns = [*colorants, THICKNESS_COLUMN]
        self.n_predictions = 0
        self.fast_reflectance = _fast_spectral_predictor(model, probe)
        self.daylight_weight = _DAYLIGHT_WEIGHT
        illuminants = ("D65", *METAMERISM_ILLUMINANTS)
        if target.is_spectral:
            self.target_Lab_by_illuminant = {
                name: colorimetry.reflectance_to_Lab(target.reflectance, name) for name in illuminants
            }

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance (n, 31) and headline CIELAB (n, 3) of recipes X (n, colorants + thickness)."""
        self.n_predictions += len(X)
        if self.fast_reflectance is not None:
            # The headline colour comes from the spectrum, so the CIELAB heads and the
            # swatch and range bookkeeping of a full Prediction are not needed here.
            reflectance = self.fast_reflectance(X)
            return reflectance, colorimetry.reflectance_to_Lab(reflectance)
        frame = pd.DataFrame(X, columns=self.columns)
        if hasattr(self.model, "predict_members"):
            reflectance, Lab_head = (member.mean(axis=0) for member in self.model.predict_members(frame))
            Lab = Lab_head if self.model.config.headline == "head" else colorimetry.reflectance_to_Lab(reflectance)
            return reflectance, Lab
        prediction = self.model.predict(frame)
        return prediction.reflectance, prediction.Lab

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Objective (n,) and ΔE00 under D65 (n,) of recipes X."""
        reflectance, Lab = self.predict(X)
        if not self.target.is_spectral:
            delta_e00 = colorimetry.delta_E00(Lab, self.target.Lab)
            return delta_e00**2, delta_e00
        # Spectral target: match the curve, and the colour under each illuminant, so that
        # metameric pairs (same colour in daylight, different under a lamp) rank lower.
        rms_percent = 100.0 * np.sqrt(np.mean((reflectance - self.target.reflectance) ** 2, axis=1))
        predicted_Lab = np.stack(
            [Lab if illuminant == "D65" else colorimetry.reflectance_to_Lab(reflectance, illuminant) for illuminant in self.target_Lab_by_illuminant]
        )
        target_Lab = np.stack(list(self.target_Lab_by_illuminant.values()))[:, None, :]
        colour_terms = colorimetry.delta_E00(predicted_Lab, np.broadcast_to(target_Lab, predicted_Lab.shape))  # one call, 3 illuminants
        delta_e00 = colour_terms[0]
        objective = rms_percent**2 + self.daylight_weight * colour_terms[0] ** 2 + np.mean(np.square(colour_terms[1:]), axis=0)
        return objective, delta_e00


def _total_penalty(concentrations: np.ndarray, max_total: float | None) -> tuple[np.ndarray, np.ndarray]:
    if max_total is None:
        return np.zeros(len(concentrations)), np.zeros_like(concentrations)
    excess = np.clip(concentrations.sum(axis=1) - max_total, 0, None)
    return _TOTAL_PENALTY * excess**2, np.repeat((2 * _TOTAL_PENALTY * excess)[:, None], concentrations.shape[1], axis=1)


def _cap_total(concentrations: np.ndarray, lower: np.ndarray, max_total: float | None) -> np.ndarray:
    """Scale the part above the minimums down so the total fits (a penalty leaves a hair over)."""
    if max_total is None:
        return concentrations
    concentrations = concentrations.copy()
    totals = concentrations.sum(axis=1)
    over = totals > max_total
    if np.any(over):
        free = concentrations[over] - lower
        room = max_total - lower.sum()
        concentrations[over] = lower + free * (room / np.maximum(free.sum(axis=1, keepdims=True), 1e-12))
    return concentrations


def _screening_recipes(lower, upper, free, thicknesses, rng, per_face: int) -> np.ndarray:
    """Random recipes on every face of the box spanned by the free colorants, at every thickness."""
    free_indices = np.flatnonzero(free)
    faces = [subset for size in range(1, len(free_indices) + 1) for subset in itertools.combinations(free_indices, size)]
    if len(faces) > 64:  # many colorants: sample faces of up to three colorants plus the full box
        small = [face for face in faces if len(face) <= 3]
        faces = [small[i] for i in rng.choice(len(small), size=min(63, len(small)), replace=False)] + [tuple(free_indices)]
    rows = []
    for face in faces:
        sample = np.tile(lower, (per_face, 1))
        columns = list(face)
        # Square-root spacing: colour changes fastest at low loadings.
        sample[:, columns] = lower[columns] + (upper[columns] - lower[columns]) * rng.uniform(0, 1, (per_face, len(columns))) ** 2
        rows.append(sample)
    concentrations = np.vstack(rows)
    return np.vstack([np.column_stack([concentrations, np.full(len(concentrations), t)]) for t in thicknesses])


def _distinct(X: np.ndarray, order: np.ndarray, span: np.ndarray, limit: int) -> list[int]:
    """Indices (in ``order``) of up to ``limit`` recipes that differ meaningfully from each other."""
    chosen: list[int] = []
    scale = np.where(span > 0, span, 1.0)
    for index in order:
        recipe = X[index]
        is_new = True
        for other in chosen:
            same_thickness = np.isclose(recipe[-1], X[other][-1])
            same_set = np.array_equal(recipe[:-1] > 0, X[other][:-1] > 0)
            close = np.max(np.abs(recipe[:-1] - X[other][:-1]) / scale) < _SNAP_FRACTION
            if same_thickness and same_set and close:
                is_new = False
                break
        if is_new:
            chosen.append(int(index))
            if len(chosen) == limit:
                break
    return chosen


def _refine(scorer: _Scorer, starts: np.ndarray, lower, upper, free, max_total, max_iterations: int) -> np.ndarray:
    """Bounded L-BFGS-B from every start at once; thickness stays at each start's value."""
    n_starts, n_inputs = starts.shape
    free_indices = np.flatnonzero(free)
    n_free = len(free_indices)
    if n_free == 0:
        return starts
    span = upper[free_indices] - lower[free_indices]
    steps = np.maximum(_GRADIENT_STEP * span, 1e-6)

    def unpack(vector: np.ndarray) -> np.ndarray:
        X = starts.copy()
        X[:, free_indices] = vector.reshape(n_starts, n_free)
        return X

    def objective_and_gradient(vector: np.ndarray) -> tuple[float, np.ndarray]:
        X = unpack(vector)
        # Forward differences, stepping backwards where a variable sits at its upper bound.
        base = X[:, free_indices]
        direction = np.where(base + steps > upper[free_indices], -1.0, 1.0)
        batch = [X]
        for k, column in enumerate(free_indices):
            shifted = X.copy()
            shifted[:, column] += direction[:, k] * steps[k]
            batch.append(shifted)
        stacked = np.vstack(batch)
        objective, _ = scorer.score(stacked)
        penalty, _ = _total_penalty(stacked[:, :-1], max_total)
        values = (objective + penalty).reshape(n_free + 1, n_starts)
        gradient = (values[1:] - values[0]).T / (direction * steps)
        return float(values[0].sum()), gradient.reshape(-1)

    bounds = [(lower[column], upper[column]) for _ in range(n_starts) for column in free_indices]
    result = minimize(
        objective_and_gradient,
        starts[:, free_indices].reshape(-1),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iterations, "ftol": 1e-10, "gtol": 1e-8},
    )
    X = unpack(np.clip(result.x, np.tile(lower[free_indices], n_starts), np.tile(upper[free_indices], n_starts)))
    X[:, :-1] = _cap_total(X[:, :-1], lower, max_total)
    return X


def _snap_small_to_zero(scorer: _Scorer, X: np.ndarray, lower, upper) -> np.ndarray:
    """Drop near-zero colorants from each recipe when that costs (almost) no accuracy."""
    _, delta_e00 = scorer.score(X)
    snapped = X.copy()
    small = (X[:, :-1] < lower + _SNAP_FRACTION * (upper - lower)) & (lower == 0) & (X[:, :-1] > 0)
    snapped[:, :-1][small] = 0.0
    changed = np.any(small, axis=1)
    if not np.any(changed):
        return X
    _, snapped_delta_e00 = scorer.score(snapped[changed])
    accept = snapped_delta_e00 <= delta_e00[changed] + _SNAP_TOLERANCE_DELTA_E00
    result = X.copy()
    result[np.flatnonzero(changed)[accept]] = snapped[changed][accept]
    return result


# --------------------------------------------------------------------------------------
# Explanation of a shortfall
# --------------------------------------------------------------------------------------

_CARDINAL_HUES = ((0.0, "redder"), (90.0, "yellower"), (180.0, "greener"), (270.0, "bluer"), (360.0, "redder"))


def _hue_direction(target_hue: float, hue_difference: float) -> str:
    """Which way a hue is turned from the target: toward the next named hue on that side."""
    if hue_difference > 0:
        return next(name for angle, name in _CARDINAL_HUES if angle > target_hue)
    return next(name for angle, name in reversed(_CARDINAL_HUES) if angle < target_hue or (angle == 0 and target_hue == 0))


def _shortfalls(target_Lab: np.ndarray, predicted_Lab: np.ndarray) -> list[str]:
    """How the closest colour differs from the target, biggest difference first."""
    L_t, C_t, h_t = colorimetry.Lab_to_LCh(target_Lab)
    L_p, C_p, h_p = colorimetry.Lab_to_LCh(predicted_Lab)
    hue_difference = (h_p - h_t + 180.0) % 360.0 - 180.0
    # ΔH* (CIELAB units) weighs a hue angle by chroma: near-grey colours have no real hue error.
    delta_H = 2.0 * np.sqrt(C_t * C_p) * np.sin(np.radians(hue_difference) / 2.0)
    parts = []
    if abs(L_p - L_t) >= 1.0:
        word = "too dark" if L_p < L_t else "too light"
        parts.append((abs(L_p - L_t), f"{word} (L* {L_p:.1f} where {L_t:.1f} is wanted)"))
    if abs(C_p - C_t) >= 1.0:
        word = "too weak in chroma (too dull)" if C_p < C_t else "too strong in chroma (too vivid)"
        parts.append((abs(C_p - C_t), f"{word} (C* {C_p:.1f} where {C_t:.1f} is wanted)"))
    if abs(delta_H) >= 1.0:
        parts.append((abs(delta_H), f"hue off by {abs(hue_difference):.0f}° ({_hue_direction(h_t, hue_difference)} than the target)"))
    return [text for _, text in sorted(parts, key=lambda item: -item[0])]


def _limit_notes(recipe: np.ndarray, colorants: list[str], lower, upper, free, max_total) -> list[str]:
    notes = []
    for i, name in enumerate(colorants):
        if free[i] and upper[i] > lower[i] and recipe[i] >= upper[i] - 1e-3 * max(upper[i], 1e-9):
            notes.append(f"{name} is at its allowed maximum of {upper[i]:g} wt %")
    if max_total is not None and recipe[:-1].sum() >= max_total - 1e-3 * max_total:
        notes.append(f"the total is at its maximum of {max_total:g} wt %")
    return notes


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def formulate(
    model,
    target: Target,
    constraints: Constraints | None = None,
    *,
    n_candidates: int = 3,
    n_starts: int = 8,
    screening_per_face: int = 16,
    max_iterations: int = 40,
    seed: int = 0,
) -> FormulationResult:
    """Find recipes whose predicted colour matches ``target`` within ``constraints``.

    Parameters
    ----------
    model : fitted FormulationModel (or any model with ``colorants_``, ``training_range_``
        and ``predict``), usually the champion.
    target : Target
    constraints : Constraints, optional; default every colorant within its trained range,
        at the lowest and highest trained thickness.
    n_candidates : int
        How many distinct recipes to return (fewer when the search finds fewer distinct ones).
    n_starts : int
        Starting points refined per allowed thickness.
    screening_per_face : int
        Random recipes per subset of colorants in the screening batch.
    max_iterations : int
        L-BFGS-B iterations (each is one batch prediction of ``starts × (colorants + 1)`` recipes).
    seed : int
        Seeds the screening sample, so a search is repeatable.

    Returns
    -------
    FormulationResult
        Never raises because a target is out of reach: ``reachable`` is False and
        ``explanation`` says which way the closest recipe falls short.

    Raises
    ------
    ValueError
        The constraints contradict each other or name unknown colorants.

    Examples
    --------
    >>> result = formulate(model, Target.from_hex("#2e8b57"))            # doctest: +SKIP
    >>> result.best.recipe, result.best.delta_e00                       # doctest: +SKIP
    """
    if n_candidates < 1:
        raise ValueError(f"n_candidates={n_candidates!r}: ask for at least one recipe.")
    started = time.perf_counter()
    constraints = constraints or Constraints()
    colorants, lower, upper, thicknesses = constraints.resolve(model)
    free = upper > lower
    rng = np.random.default_rng(seed)
    screening = _screening_recipes(lower, upper, free, thicknesses, rng, screening_per_face)
    scorer = _Scorer(model, target, colorants, probe=screening[:: max(1, len(screening) // 16)])
    screening[:, :-1] = _cap_total(screening[:, :-1], lower, constraints.max_total)
    objective, _ = scorer.score(screening)
    span = np.append(upper - lower, 1.0)
    starts = []
    for thickness in thicknesses:
        at_thickness = np.flatnonzero(np.isclose(screening[:, -1], thickness))
        order = at_thickness[np.argsort(objective[at_thickness])]
        starts.extend(_distinct(screening, order, span[:-1], n_starts))
    refined = _refine(scorer, screening[starts], lower, upper, free, constraints.max_total, max_iterations)
    if target.is_spectral:
        # Polish: from the best spectral matches, close the remaining daylight colour gap
        # (the curve and metamerism terms stay in, at a hundredth of the weight).
        scorer.daylight_weight = _POLISH_DAYLIGHT_WEIGHT
        refined = _refine(scorer, refined, lower, upper, free, constraints.max_total, max_iterations // 2)
    refined = _snap_small_to_zero(scorer, refined, lower, upper)

    final_objective, _ = scorer.score(refined)
    chosen = _distinct(refined, np.argsort(final_objective), span[:-1], n_candidates)
    recipes = refined[chosen]
    candidates = _describe(model, target, colorants, recipes)  # best objective first

    best = candidates[0]
    reachable = best.delta_e00 <= REACHED_DELTA_E00
    if reachable:
        shortfalls: list[str] = []
        explanation = f"Reached: the best recipe is predicted {best.delta_e00:.2f} ΔE00 from the target (below 1 is hard to see)."
    else:
        shortfalls = _shortfalls(target.Lab, best.Lab)
        best_vector = np.array([best.recipe[c] for c in [*colorants, THICKNESS_COLUMN]])
        limits = _limit_notes(best_vector, colorants, lower, upper, free, constraints.max_total)
        explanation = (
            f"Not reachable within these constraints: the closest recipe is predicted {best.delta_e00:.1f} ΔE00 from the target. "
            + (f"It is {'; '.join(shortfalls)}." if shortfalls else "")
            + (f" It runs into a limit: {'; '.join(limits)}." if limits else "")
            + " Allow more colorants, raise their limits, or accept the closest recipe."
        )
    return FormulationResult(
        target=target,
        candidates=candidates,
        reachable=reachable,
        explanation=explanation,
        shortfalls=tuple(shortfalls),
        seconds=time.perf_counter() - started,
        n_predictions=scorer.n_predictions,
    )


def _describe(model, target: Target, colorants: list[str], recipes: np.ndarray) -> list[Candidate]:
    """Full predictions of the chosen recipes (with swatch and range flags) and their scores."""
    frame = pd.DataFrame(recipes, columns=[*colorants, THICKNESS_COLUMN])
    prediction = model.predict(frame)
    delta_e00 = np.atleast_1d(colorimetry.delta_E00(prediction.Lab, target.Lab))
    candidates = []
    for i in range(len(frame)):
        spectral_rms = metamerism = None
        if target.is_spectral:
            spectral_rms = float(100.0 * np.sqrt(np.mean((prediction.reflectance[i] - target.reflectance) ** 2)))
            metamerism = {
                illuminant: float(
                    colorimetry.delta_E00(
                        colorimetry.reflectance_to_Lab(prediction.reflectance[i], illuminant),
                        colorimetry.reflectance_to_Lab(target.reflectance, illuminant),
                    )
                )
                for illuminant in METAMERISM_ILLUMINANTS
            }
        candidates.append(
            Candidate(
                recipe={name: float(value) for name, value in frame.iloc[i].items()},
                delta_e00=float(delta_e00[i]),
                spectral_rms=spectral_rms,
                metamerism=metamerism,
                Lab=prediction.Lab[i],
                hex=str(prediction.hex[i]),
                reflectance=prediction.reflectance[i],
                out_of_range=bool(prediction.out_of_range[i]),
                out_of_range_detail=prediction.out_of_range_detail[i],
            )
        )
    return candidates
