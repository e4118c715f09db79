"""What a prediction carries, shared by every model (the MLP heads, Kubelka–Munk and the hybrid)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.core import colorimetry
from model.core.schema import BAND_COLUMNS, FLUORESCENCE_COLUMN, THICKNESS_COLUMN

__all__ = ["TrainingRange", "Prediction", "build_prediction", "PREDICTION_COLUMNS"]

#: Columns a prediction table adds to the input recipes, in order (the CLI's output shape).
PREDICTION_COLUMNS = ["L", "a", "b", "C", "h", *BAND_COLUMNS, "delta_e00_paths", "uncertainty_delta_e00", "uncertainty_coverage", "hex", "out_of_gamut", "out_of_range", "out_of_range_detail", FLUORESCENCE_COLUMN]


@dataclass(frozen=True)
class TrainingRange:
    """Per-input min and max seen in training (colorants in wt %, thickness in µm)."""

    minimum: dict[str, float]
    maximum: dict[str, float]

    @classmethod
    def from_recipes(cls, recipes: pd.DataFrame) -> "TrainingRange":
        return cls(
            {c: float(recipes[c].min()) for c in recipes.columns},
            {c: float(recipes[c].max()) for c in recipes.columns},
        )

    def violations(self, recipes: pd.DataFrame, tolerance: float = 1e-9) -> list[str]:
        """One human-readable string per row: empty when the row is inside the range."""
        messages: list[list[str]] = [[] for _ in range(len(recipes))]
        for name, low in self.minimum.items():
            high = self.maximum[name]
            values = recipes[name].to_numpy(dtype=float)
            unit = "µm" if name == THICKNESS_COLUMN else "%"
            for row in np.flatnonzero((values < low - tolerance) | (values > high + tolerance)):
                messages[row].append(f"{name}={values[row]:g}{unit} outside trained {low:g}–{high:g}{unit}")
        return ["; ".join(parts) for parts in messages]


@dataclass(frozen=True)
class Prediction:
    """Predictions for a batch of n recipes.

    Attributes
    ----------
    recipes : DataFrame, the inputs (colorants in wt %, ``thickness_um`` in µm).
    reflectance : (n, 31) predicted reflectance factor (0–1, may exceed 1).
    Lab_spectral : (n, 3) CIELAB computed from the predicted spectrum (L* 0–100).
    Lab_head : (n, 3) CIELAB from the CIELAB head (equal to ``Lab_spectral`` for models without one).
    headline : ``"spectral"`` or ``"head"``, which path ``Lab`` reports (chosen on validation).
    delta_e00_paths : (n,) ΔE00 between the two paths, a built-in self-check.
    sRGB : (n, 3) display sRGB (0–1) of the headline CIELAB; ``out_of_gamut`` where clipped.
    out_of_range : (n,) bool, the recipe lies outside the training range; ``out_of_range_detail`` says how.
    uncertainty_paths : ``{"spectral": (n,), "head": (n,)}``, the stated uncertainty band of
        each CIELAB path in ΔE00; NaN where the model cannot say (a single network, the
        Kubelka–Munk baseline). ``uncertainty`` is the headline path's. For a hybrid fitted
        with a calibrated band it is the out-of-sample calibrated band
        (:mod:`model.models.difficulty`): the measured colour lies within it for
        ``uncertainty_coverage`` of such recipes; otherwise the ensemble spread times a
        factor (:mod:`model.models.uncertainty`), which does not rank errors.
    uncertainty_coverage : float or None, the coverage the band is calibrated to (0.9: "9
        in 10 recipes like this come within the band"); None when the band is the
        uncalibrated ensemble spread.
    difficulty : (n,) the model's difficulty score of each recipe, the typical ΔE00 it
        expects for such a recipe (:meth:`~model.models.difficulty.DifficultyBand.difficulty`);
        NaN without a calibrated band.
    reflectance_physics : (n, 31) what the physics backbone alone predicts (reflectance
        factor, may exceed 1), so a chemist can see what the physics says beside the
        headline; NaN for a model without physics (the MLP heads).
    Lab_physics : (n, 3) CIELAB of ``reflectance_physics`` (L* 0–100); NaN likewise.
    fluorescence_cts : (n,) predicted fluorescence intensity in counts per second (ct/s,
        ≥ 0) from the model's fluorescence head (:mod:`model.models.fluorescence`); None
        when the model has none (it was trained on data without readings).
    """

    recipes: pd.DataFrame
    reflectance: np.ndarray
    Lab_spectral: np.ndarray
    Lab_head: np.ndarray
    headline: str
    delta_e00_paths: np.ndarray
    sRGB: np.ndarray
    out_of_gamut: np.ndarray
    out_of_range: np.ndarray
    out_of_range_detail: list[str]
    uncertainty_paths: dict[str, np.ndarray] | None = None
    reflectance_physics: np.ndarray | None = None
    Lab_physics: np.ndarray | None = None
    fluorescence_cts: np.ndarray | None = None
    uncertainty_coverage: float | None = None
    difficulty: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Callers that have no uncertainty (or no physics) leave it out; downstream code can rely on arrays.
        unknown = np.full(len(self.reflectance), np.nan)
        given = self.uncertainty_paths or {}
        paths = {path: np.atleast_1d(np.asarray(given.get(path, unknown), dtype=float)) for path in ("spectral", "head")}
        object.__setattr__(self, "uncertainty_paths", paths)
        if self.reflectance_physics is None:
            object.__setattr__(self, "reflectance_physics", np.full(np.shape(self.reflectance), np.nan))
        if self.Lab_physics is None:
            object.__setattr__(self, "Lab_physics", np.full((len(self.reflectance), 3), np.nan))
        difficulty = unknown if self.difficulty is None else np.atleast_1d(np.asarray(self.difficulty, dtype=float))
        object.__setattr__(self, "difficulty", difficulty)
        if self.fluorescence_cts is not None:
            object.__setattr__(self, "fluorescence_cts", np.atleast_1d(np.asarray(self.fluorescence_cts, dtype=float)))

    @property
    def has_fluorescence(self) -> bool:
        """Whether the model predicted fluorescence (it has a fluorescence head)."""
        return self.fluorescence_cts is not None

    @property
    def has_physics(self) -> bool:
        """Whether the model has a physics path (its ``reflectance_physics`` is not NaN)."""
        return bool(np.isfinite(self.reflectance_physics).all()) and len(self) > 0

    @property
    def hex_physics(self) -> np.ndarray:
        """Display swatch (``#rrggbb``) of the physics-only CIELAB; meaningful where :attr:`has_physics`."""
        sRGB, _ = colorimetry.Lab_to_sRGB(np.nan_to_num(self.Lab_physics))
        return np.atleast_1d(colorimetry.sRGB_to_hex(sRGB))

    @property
    def delta_e00_physics(self) -> np.ndarray:
        """(n,) ΔE00 between the physics-only CIELAB and the headline CIELAB; NaN without physics."""
        return np.atleast_1d(colorimetry.delta_E00(self.Lab_physics, self.Lab))

    @property
    def uncertainty(self) -> np.ndarray:
        """(n,) stated uncertainty of the headline CIELAB in ΔE00 (NaN where unknown)."""
        return self.uncertainty_paths[self.headline]

    @property
    def uncertainty_is_calibrated(self) -> bool:
        """Whether the band is calibrated out of sample (see ``uncertainty_coverage``)."""
        return self.uncertainty_coverage is not None

    def __len__(self) -> int:
        return len(self.reflectance)

    @property
    def Lab(self) -> np.ndarray:
        """The headline CIELAB path."""
        return self.Lab_head if self.headline == "head" else self.Lab_spectral

    @property
    def LCh(self) -> np.ndarray:
        """(L*, C*, h°) derived from the headline a*, b*."""
        return colorimetry.Lab_to_LCh(self.Lab)

    @property
    def hex(self) -> np.ndarray:
        return np.atleast_1d(colorimetry.sRGB_to_hex(self.sRGB))

    def to_frame(self) -> pd.DataFrame:
        """Inputs plus ``L, a, b, C, h``, ``R400 … R700``, the flags and ``fluorescence_cts`` (the CLI's output shape).

        ``fluorescence_cts`` (ct/s) is always there, empty (NaN) when the model has no fluorescence head.
        """
        LCh = self.LCh
        columns = {"L": self.Lab[:, 0], "a": self.Lab[:, 1], "b": self.Lab[:, 2], "C": LCh[:, 1], "h": LCh[:, 2], **dict(zip(BAND_COLUMNS, self.reflectance.T))}
        columns["delta_e00_paths"] = self.delta_e00_paths
        columns["uncertainty_delta_e00"] = self.uncertainty
        columns["uncertainty_coverage"] = np.full(len(self), np.nan if self.uncertainty_coverage is None else float(self.uncertainty_coverage))
        columns["hex"] = self.hex
        columns["out_of_gamut"] = self.out_of_gamut
        columns["out_of_range"] = self.out_of_range
        columns["out_of_range_detail"] = self.out_of_range_detail
        columns[FLUORESCENCE_COLUMN] = self.fluorescence_cts if self.has_fluorescence else np.full(len(self), np.nan)
        # Built at once: inserting the columns one by one rebuilt pandas' column index each time,
        # about 2.5 ms for one recipe, half of a one-recipe API request (bench/api_load.py).
        recipes = self.recipes.reset_index(drop=True)
        clashing = [name for name in columns if name in recipes.columns]  # an input named like an output: the output wins
        return pd.concat([recipes.drop(columns=clashing) if clashing else recipes, pd.DataFrame(columns)], axis=1)


def build_prediction(
    recipes: pd.DataFrame,
    reflectance: np.ndarray,
    Lab_head: np.ndarray | None,
    headline: str,
    training_range: TrainingRange,
    uncertainty: dict[str, np.ndarray] | None = None,
    Lab_spectral: np.ndarray | None = None,
    reflectance_physics: np.ndarray | None = None,
    fluorescence_cts: np.ndarray | None = None,
    uncertainty_coverage: float | None = None,
    difficulty: np.ndarray | None = None,
) -> Prediction:
    """Assemble a :class:`Prediction` from raw head outputs (one matrix product for colour).

    ``uncertainty`` maps each CIELAB path (``"spectral"``, ``"head"``) to its stated band
    in ΔE00, shape (n,); None gives NaN. ``Lab_spectral`` is the CIELAB of ``reflectance``
    when the caller has already computed it. ``reflectance_physics`` (n, 31; 0–1, may
    exceed 1) is the physics backbone's own prediction, None for a model without one.
    ``fluorescence_cts`` (n,; ct/s) is the fluorescence head's prediction, None for a model without one.
    ``uncertainty_coverage`` (0–1) is the coverage a calibrated band states, None for an
    uncalibrated one; ``difficulty`` (n,; ΔE00) the model's difficulty score, None when unknown.
    """
    reflectance = np.asarray(reflectance, dtype=float)
    if Lab_spectral is None:
        Lab_spectral = colorimetry.reflectance_to_Lab(reflectance)
    Lab_head = Lab_spectral if Lab_head is None else np.asarray(Lab_head, dtype=float)
    Lab = Lab_head if headline == "head" else Lab_spectral
    sRGB, out_of_gamut = colorimetry.Lab_to_sRGB(Lab)
    detail = training_range.violations(recipes)
    return Prediction(
        recipes=recipes.reset_index(drop=True),
        reflectance=reflectance,
        Lab_spectral=Lab_spectral,
        Lab_head=Lab_head,
        headline=headline,
        delta_e00_paths=np.atleast_1d(colorimetry.delta_E00(Lab_spectral, Lab_head)),
        sRGB=sRGB,
        out_of_gamut=np.atleast_1d(out_of_gamut),
        out_of_range=np.array([bool(d) for d in detail]),
        out_of_range_detail=detail,
        uncertainty_paths=uncertainty,
        reflectance_physics=None if reflectance_physics is None else np.asarray(reflectance_physics, dtype=float),
        Lab_physics=None if reflectance_physics is None else colorimetry.reflectance_to_Lab(np.asarray(reflectance_physics, dtype=float)),
        fluorescence_cts=fluorescence_cts,
        uncertainty_coverage=uncertainty_coverage,
        difficulty=difficulty,
    )
