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
from model.core.tolerance import UNTRUSTED_UNCERTAINTY
from model.formulation.target import Target

__all__ = [
    "METAMERISM_ILLUMINANTS", "REACHED_DELTA_E00", "RISKY_UNCERTAINTY", "LOW_RISK_UNCERTAINTY", "RISKY_PATH_DISAGREEMENT", "BAND_TO_RMS",
    "Candidate", "FormulationResult", "safest_first", "expected_delta_e00",
]

#: Illuminants of the metamerism index (keys of ``colour.SDS_ILLUMINANTS``): incandescent
#: light (A) and a narrow-band triphosphor shop lamp (FL11, often written F11).
METAMERISM_ILLUMINANTS = ("A", "FL11")
#: A target is reported as reached when the best candidate is within this ΔE00 (hard to see).
REACHED_DELTA_E00 = 1.0
#: A candidate whose uncertainty band (ΔE00) is wider than this is risky: the Predict page
#: says "do not rely on this prediction" beyond the same value.
RISKY_UNCERTAINTY = UNTRUSTED_UNCERTAINTY
#: "Low risk" needs a band (ΔE00, 90 %) at most this wide: 9 in 10 such recipes come within
#: about 2 ΔE00, a difference a trained eye only just sees side by side. Wider (up to
#: :data:`RISKY_UNCERTAINTY`) reads "some risk".
LOW_RISK_UNCERTAINTY = 2.0
#: The 90 % band over the root-mean-square error it implies. For an error vector of three
#: independent normal components of equal spread, its length follows Maxwell's distribution,
#: whose 90th percentile is 2.500 σ and whose RMS is √3 σ = 1.732 σ: ratio 1.443.
BAND_TO_RMS = 1.443
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
        The prediction's uncertainty band (ΔE00; NaN for a single network).
    uncertainty_coverage : float or None
        The share of such recipes the band is calibrated to hold (0.9); None when the band is
        an uncalibrated ensemble spread (a model saved before the calibrated band).
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
    uncertainty_coverage: float | None = None

    @property
    def risks(self) -> tuple[str, ...]:
        """Why this recipe's prediction should not be trusted, one plain sentence each (empty when none).

        Three risks: a wide uncertainty band (above :data:`RISKY_UNCERTAINTY`), the two
        prediction paths disagreeing (above :data:`RISKY_PATH_DISAGREEMENT`), and a
        recipe outside the training range.
        """
        risks = []
        if math.isfinite(self.uncertainty) and self.uncertainty > RISKY_UNCERTAINTY:
            risks.append(
                f"The model finds recipes like this hard: its uncertainty band is ΔE00 {self.uncertainty:.1f} (above {RISKY_UNCERTAINTY:g})."
            )
        if math.isfinite(self.delta_e00_paths) and self.delta_e00_paths > RISKY_PATH_DISAGREEMENT:
            risks.append(
                f"The two prediction paths (spectrum and CIELAB head) disagree by ΔE00 {self.delta_e00_paths:.1f} (above {RISKY_PATH_DISAGREEMENT:g})."
            )
        if self.out_of_range:
            risks.append(f"Outside the training range: {self.out_of_range_detail}.")
        return tuple(risks)

    @property
    def expected_delta_e00(self) -> float:
        """The expected ΔE00 between the mixed film and the target: the predicted ΔE00 combined with the band.

        See :func:`expected_delta_e00`; equal to :attr:`delta_e00` when the band is unknown (NaN).
        """
        return expected_delta_e00(self.delta_e00, self.uncertainty)

    @property
    def risk_label(self) -> str:
        """``"risky"`` (a named risk), ``"low risk"`` (a band of at most :data:`LOW_RISK_UNCERTAINTY`) or ``"some risk"``."""
        if self.is_risky:
            return "risky"
        return "low risk" if math.isfinite(self.uncertainty) and self.uncertainty <= LOW_RISK_UNCERTAINTY else "some risk"

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
    candidates : list of Candidate, mutually distinct: the trustworthy ones first, each
        group by expected ΔE00 to the target (:func:`safest_first`).
    reachable : bool
        A candidate inside the trained range is within :data:`REACHED_DELTA_E00` of the
        target (one that matches only outside it does not count: the model extrapolates there).
    explanation : str
        In words: reached, matched only outside the trained range, or how the closest recipe
        falls short (too dark, too weak in chroma, hue off…) and which limit it runs into.
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
            row = {"rank": rank, **candidate.recipe, "delta_e00": candidate.delta_e00, "expected_delta_e00": candidate.expected_delta_e00}
            if candidate.spectral_rms is not None:
                row["spectral_rms_percent"] = candidate.spectral_rms
            for illuminant, value in (candidate.metamerism or {}).items():
                row[f"delta_e00_{illuminant}"] = value
            row.update(
                L=candidate.Lab[0], a=candidate.Lab[1], b=candidate.Lab[2], hex=candidate.hex,
                out_of_range=candidate.out_of_range, out_of_range_detail=candidate.out_of_range_detail,
                uncertainty_delta_e00=candidate.uncertainty, delta_e00_paths=candidate.delta_e00_paths,
                risky=candidate.is_risky, risk=candidate.risk_label, risks=" ".join(candidate.risks),
            )
            if candidate.fluorescence_cts is not None:
                row["fluorescence_cts"] = candidate.fluorescence_cts
            rows.append(row)
        return pd.DataFrame(rows)


def expected_delta_e00(delta_e00: float, uncertainty: float) -> float:
    """The expected ΔE00 between a mixed film and the target, from the predicted ΔE00 and the 90 % band.

    If the film's colour is the prediction plus an error e, then (treating ΔE00 as locally
    Euclidean) E|p + e − t|² = |p − t|² + E|e|²: the predicted difference and the error add
    in quadrature. E|e|² is read from the band as (band / :data:`BAND_TO_RMS`)². So a recipe
    predicted at ΔE00 0.0 with a band of 2.7 expects about 1.9, and one at 0.3 with a band
    of 0.8 about 0.6: the second is the better bet.

    Parameters
    ----------
    delta_e00 : float, predicted ΔE00 to the target.
    uncertainty : float, the 90 % band (ΔE00); NaN when unknown (the ΔE00 is returned).
    """
    if not math.isfinite(uncertainty):
        return float(delta_e00)
    return float(math.hypot(delta_e00, uncertainty / BAND_TO_RMS))


def safest_first(candidates: list[Candidate]) -> list[Candidate]:
    """``candidates`` ordered by what Huecast can stand behind: the risky ones
    (:attr:`Candidate.is_risky`) below the others, and each group by
    :attr:`Candidate.expected_delta_e00` (ties keep the given order, best objective first).

    A recipe predicted a hair closer but with a wide band therefore comes after one whose
    band is narrow, and a risky recipe never comes before a trustworthy one.
    """
    return sorted(candidates, key=lambda candidate: (candidate.is_risky, candidate.expected_delta_e00))  # stable
