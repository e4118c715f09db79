"""What a formulation search returns: candidate recipes, best first, and a verdict.

Scales: concentrations in wt % (0–100), thickness in µm, reflectance factor 0–1, L* 0–100,
ΔE00 in CIEDE2000 units, spectral RMS in reflectance percent (0–100 scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.core.schema import THICKNESS_COLUMN
from model.formulation.target import Target
from model.serving.explore import UNTRUSTED_UNCERTAINTY

__all__ = ["METAMERISM_ILLUMINANTS", "REACHED_DELTA_E00", "RISKY_UNCERTAINTY", "RISKY_PATH_DISAGREEMENT", "Candidate", "FormulationResult", "safest_first"]

#: Illuminants of the metamerism index (keys of ``colour.SDS_ILLUMINANTS``): incandescent
#: light (A) and a narrow-band triphosphor shop lamp (FL11, often written F11).
METAMERISM_ILLUMINANTS = ("A", "FL11")
#: A target is reported as reached when the best candidate is within this ΔE00 (hard to see).
REACHED_DELTA_E00 = 1.0
#: A candidate whose uncertainty band (ΔE00) is wider than this is risky: the Predict page
#: says "do not rely on this prediction" beyond the same value.
RISKY_UNCERTAINTY = UNTRUSTED_UNCERTAINTY
#: A candidate whose two prediction paths (spectrum and CIELAB head) differ by more than
#: this ΔE00 is risky: a colour difference anyone sees, inside the model itself.
RISKY_PATH_DISAGREEMENT = 2.0


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
    uncertainty : float
        The prediction's calibrated uncertainty band (ΔE00; NaN for a single network).
    delta_e00_paths : float
        ΔE00 between the model's two CIELAB paths, its built-in self-check (NaN when unknown).
    fluorescence_cts : float or None
        Predicted fluorescence intensity (ct/s); None when the model has no fluorescence head.
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
    uncertainty: float = math.nan
    delta_e00_paths: float = math.nan
    fluorescence_cts: float | None = None

    @property
    def risks(self) -> tuple[str, ...]:
        """Why this recipe's prediction should not be trusted, one plain sentence each (empty when none).

        Three risks: a wide uncertainty band (above :data:`RISKY_UNCERTAINTY`), the two
        prediction paths disagreeing (above :data:`RISKY_PATH_DISAGREEMENT`), and a
        recipe outside the training range.
        """
        risks = []
        if math.isfinite(self.uncertainty) and self.uncertainty > RISKY_UNCERTAINTY:
            risks.append(f"The model's networks disagree: the uncertainty band is ΔE00 {self.uncertainty:.1f} (above {RISKY_UNCERTAINTY:g}).")
        if math.isfinite(self.delta_e00_paths) and self.delta_e00_paths > RISKY_PATH_DISAGREEMENT:
            risks.append(
                f"The two prediction paths (spectrum and CIELAB head) disagree by ΔE00 {self.delta_e00_paths:.1f} (above {RISKY_PATH_DISAGREEMENT:g})."
            )
        if self.out_of_range:
            risks.append(f"Outside the training range: {self.out_of_range_detail}.")
        return tuple(risks)

    @property
    def is_risky(self) -> bool:
        """True when :attr:`risks` names anything: mix and measure before relying on it."""
        return bool(self.risks)

    @property
    def colorants_used(self) -> list[str]:
        """The colorants above 0 wt % in the recipe, in model order."""
        return [name for name, value in self.recipe.items() if name != THICKNESS_COLUMN and value > 0]


@dataclass(frozen=True)
class FormulationResult:
    """Candidates for one target, best first, and whether the target was reached.

    Attributes
    ----------
    target : Target
    candidates : list of Candidate, mutually distinct: the trustworthy ones first, best
        first within each group (:func:`safest_first`).
    reachable : bool
        The candidate with the best objective (risky or not) is within
        :data:`REACHED_DELTA_E00` of the target.
    explanation : str
        In words: reached, or how the closest recipe falls short (too dark, too weak in
        chroma, hue off…) and which limit it runs into.
    shortfalls : tuple of str, the individual reasons (empty when reached).
    seconds : float, wall time of the search.
    n_predictions : int, recipes predicted during the search.
    min_fluorescence_cts : float or None, the minimum fluorescence asked for (ct/s).
    fluorescence_met : bool or None
        Every candidate is predicted to reach ``min_fluorescence_cts``; None when no
        minimum was asked for or the model cannot predict fluorescence.
    """

    target: Target
    candidates: list[Candidate]
    reachable: bool
    explanation: str
    shortfalls: tuple[str, ...]
    seconds: float
    n_predictions: int
    min_fluorescence_cts: float | None = None
    fluorescence_met: bool | None = None

    @property
    def best(self) -> Candidate:
        """The first candidate shown: the best of the trustworthy ones, or the best if all are risky."""
        return self.candidates[0]

    def to_frame(self) -> pd.DataFrame:
        """The candidates as a table (one row each): recipe, ΔE00, spectral RMS, metamerism, flags,
        and ``fluorescence_cts`` (ct/s) when the model predicts fluorescence."""
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
                uncertainty_delta_e00=candidate.uncertainty, delta_e00_paths=candidate.delta_e00_paths,
                risky=candidate.is_risky, risks=" ".join(candidate.risks),
            )
            if candidate.fluorescence_cts is not None:
                row["fluorescence_cts"] = candidate.fluorescence_cts
            rows.append(row)
        return pd.DataFrame(rows)


def safest_first(candidates: list[Candidate]) -> list[Candidate]:
    """``candidates`` with the risky ones (:attr:`Candidate.is_risky`) moved below the others.

    The order within each group is kept (best objective first), so a risky recipe never
    comes before a trustworthy one, however close its predicted colour.
    """
    return sorted(candidates, key=lambda candidate: candidate.is_risky)  # stable
