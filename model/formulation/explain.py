"""Formulation results in words and numbers: each candidate's scores, and why a target is out of reach.

Scales: concentrations in wt % (0–100), thickness in µm, reflectance factor 0–1, CIELAB
under D65 (L* 0–100, C* and ΔH* in CIELAB units, hue angle in degrees), ΔE00 in
CIEDE2000 units, spectral RMS in reflectance percent (0–100 scale).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.core import colorimetry
from model.core.schema import THICKNESS_COLUMN
from model.formulation.result import METAMERISM_ILLUMINANTS, REACHED_DELTA_E00, Candidate
from model.formulation.target import Target

__all__ = ["describe_candidates", "explain_fluorescence", "explain_outcome"]

#: Hue angles (CIELAB h, degrees) of the named directions a hue can turn toward; red
#: appears at both ends so that a search either way around the circle finds a name.
_CARDINAL_HUES = ((0.0, "redder"), (90.0, "yellower"), (180.0, "greener"), (270.0, "bluer"), (360.0, "redder"))
# Differences below one CIELAB unit in L*, C* or ΔH* are too small to be worth naming.
_NAMED_DIFFERENCE = 1.0


def describe_candidates(model, target: Target, colorants: list[str], recipes: np.ndarray) -> list[Candidate]:
    """Full predictions of the chosen recipes (with swatch and range flags) and their scores.

    Parameters
    ----------
    model : fitted ColourModel
    target : Target
    colorants : list of str, the model's colorants in input order.
    recipes : numpy.ndarray, shape (n, colorants + 1)
        Concentrations in wt %, then thickness in µm; kept in the order given.

    Returns
    -------
    list of Candidate, one per recipe.
    """
    frame = pd.DataFrame(recipes, columns=[*colorants, THICKNESS_COLUMN])
    prediction = model.predict(frame)
    delta_e00 = np.atleast_1d(colorimetry.delta_E00(prediction.Lab, target.Lab))
    candidates = []
    for i in range(len(frame)):
        spectral_rms = metamerism = None
        if target.is_spectral:
            spectral_rms = float(100.0 * np.sqrt(np.mean((prediction.reflectance[i] - target.reflectance) ** 2)))
            metamerism = _metamerism(prediction.reflectance[i], target.reflectance)
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
                uncertainty=float(prediction.uncertainty[i]),
                uncertainty_coverage=prediction.uncertainty_coverage,
                delta_e00_paths=float(prediction.delta_e00_paths[i]),
                fluorescence_cts=float(prediction.fluorescence_cts[i]) if prediction.has_fluorescence else None,
            )
        )
    return candidates


def _metamerism(reflectance: np.ndarray, target_reflectance: np.ndarray) -> dict[str, float]:
    """ΔE00 between two spectra (31 bands, 0–1) under each of :data:`METAMERISM_ILLUMINANTS`."""
    return {
        illuminant: float(
            colorimetry.delta_E00(
                colorimetry.reflectance_to_Lab(reflectance, illuminant),
                colorimetry.reflectance_to_Lab(target_reflectance, illuminant),
            )
        )
        for illuminant in METAMERISM_ILLUMINANTS
    }


def explain_outcome(
    target: Target, candidates: list[Candidate], colorants: list[str], lower: np.ndarray, upper: np.ndarray, max_total: float | None
) -> tuple[bool, list[str], str]:
    """Whether a recipe found reaches the target and, in words, how the best falls short if not.

    Parameters
    ----------
    target : Target
    candidates : list of Candidate, the recipes found, the best (closest predicted) first.
    colorants : list of str, the model's colorants in input order.
    lower, upper : numpy.ndarray, the allowed wt % per colorant (equal for fixed ones).
    max_total : float or None, the maximum total in wt %.

    Returns
    -------
    reachable : bool
        A recipe inside the trained range is predicted within :data:`REACHED_DELTA_E00` of
        the target. One outside it does not count: there the model extrapolates, and a
        small predicted ΔE00 is not a match the model can stand behind.
    shortfalls : list of str
        How the best recipe's colour differs, biggest difference first (empty when reached).
    explanation : str
        One paragraph for the chemist: the ΔE00, the shortfalls, the limits it runs into
        and what to try.
    """
    best = candidates[0]
    trusted = [c for c in candidates if c.delta_e00 <= REACHED_DELTA_E00 and not c.out_of_range]
    if trusted:
        return True, [], f"Reached: the best recipe is predicted {trusted[0].delta_e00:.2f} ΔE00 from the target (below 1 is hard to see)."
    if best.delta_e00 <= REACHED_DELTA_E00:
        return False, [], (
            f"Not a reliable match: the closest recipe is predicted {best.delta_e00:.2f} ΔE00 from the target, but only outside the "
            f"trained range ({best.out_of_range_detail}), where the model extrapolates. Keep the colorants within their trained "
            "range under Constraints, or make and measure this recipe and retrain to extend the range."
        )
    shortfalls = _shortfalls(target.Lab, best.Lab)
    best_vector = np.array([best.recipe[c] for c in [*colorants, THICKNESS_COLUMN]])
    limits = _limit_notes(best_vector, colorants, lower, upper, max_total)
    explanation = (
        f"Not reachable within these constraints: the closest recipe is predicted {best.delta_e00:.1f} ΔE00 from the target. "
        + (f"It is {'; '.join(shortfalls)}." if shortfalls else "")
        + (f" It runs into a limit: {'; '.join(limits)}." if limits else "")
        + " Allow more colorants, raise their limits, or accept the closest recipe."
    )
    return False, shortfalls, explanation


def explain_fluorescence(minimum_cts: float | None, candidates: list[Candidate], has_head: bool, highest: tuple[float, dict] | None) -> tuple[bool | None, str]:
    """Whether every candidate reaches the minimum fluorescence (ct/s) and, in words, why not.

    Parameters
    ----------
    minimum_cts : float or None, the minimum asked for (None: nothing to say).
    candidates : list of Candidate, each with its predicted ``fluorescence_cts``.
    has_head : bool, the model predicts fluorescence.
    highest : (ct/s, recipe) or None, the highest fluorescence any recipe tried within the
        constraints was predicted to reach, and that recipe (wt %, µm).

    Returns
    -------
    met : bool or None, None when no minimum was asked for or it cannot be checked.
    sentence : str, empty when there is nothing to say.
    """
    if minimum_cts is None:
        return None, ""
    if not has_head:
        return None, (
            f"The minimum fluorescence of {minimum_cts:,.0f} ct/s could not be checked: this model was trained without "
            "fluorescence readings, so it has no fluorescence head. Retrain it with a fluorescence file to use this constraint."
        )
    below = [c for c in candidates if c.fluorescence_cts is None or c.fluorescence_cts < minimum_cts]
    if not below:
        return True, f"Every candidate is predicted to reach the minimum fluorescence of {minimum_cts:,.0f} ct/s."
    if highest is not None and highest[0] < minimum_cts:
        value, recipe = highest
        used = ", ".join(f"{name} {amount:.3g}" for name, amount in recipe.items() if name != THICKNESS_COLUMN and amount > 0) or "no colorant"
        return False, (
            f"No recipe within these constraints reaches {minimum_cts:,.0f} ct/s: the highest predicted fluorescence found is "
            f"{value:,.0f} ct/s ({used} wt %, {recipe[THICKNESS_COLUMN]:g} µm). Allow more of a fluorescent colorant, a thicker "
            "film or less of the colorants that absorb its excitation light, or lower the minimum."
        )
    return False, (
        f"{len(below)} of {len(candidates)} candidates are predicted below the minimum fluorescence of {minimum_cts:,.0f} ct/s: "
        "near the target colour the fluorescence falls short. Relax the colour target or lower the minimum."
    )


def _hue_direction(target_hue: float, hue_difference: float) -> str:
    """Which way a hue is turned from the target: toward the next named hue on that side.

    ``target_hue`` is the CIELAB hue angle h (degrees, 0–360); ``hue_difference`` the
    signed turn of the candidate from it (degrees, −180–180, positive toward larger h).
    """
    if hue_difference > 0:
        return next(name for angle, name in _CARDINAL_HUES if angle > target_hue)
    return next(name for angle, name in reversed(_CARDINAL_HUES) if angle < target_hue or (angle == 0 and target_hue == 0))


def _shortfalls(target_Lab: np.ndarray, predicted_Lab: np.ndarray) -> list[str]:
    """How the closest colour differs from the target (CIELAB, L* 0–100), biggest difference first."""
    L_t, C_t, h_t = colorimetry.Lab_to_LCh(target_Lab)
    L_p, C_p, h_p = colorimetry.Lab_to_LCh(predicted_Lab)
    hue_difference = (h_p - h_t + 180.0) % 360.0 - 180.0
    # ΔH* (CIELAB units) weighs a hue angle by chroma: near-grey colours have no real hue error.
    delta_H = 2.0 * np.sqrt(C_t * C_p) * np.sin(np.radians(hue_difference) / 2.0)
    parts = []
    if abs(L_p - L_t) >= _NAMED_DIFFERENCE:
        word = "too dark" if L_p < L_t else "too light"
        parts.append((abs(L_p - L_t), f"{word} (L* {L_p:.1f} where {L_t:.1f} is wanted)"))
    if abs(C_p - C_t) >= _NAMED_DIFFERENCE:
        word = "too weak in chroma (too dull)" if C_p < C_t else "too strong in chroma (too vivid)"
        parts.append((abs(C_p - C_t), f"{word} (C* {C_p:.1f} where {C_t:.1f} is wanted)"))
    if abs(delta_H) >= _NAMED_DIFFERENCE:
        parts.append((abs(delta_H), f"hue off by {abs(hue_difference):.0f}° ({_hue_direction(h_t, hue_difference)} than the target)"))
    return [text for _, text in sorted(parts, key=lambda item: -item[0])]


def _limit_notes(recipe: np.ndarray, colorants: list[str], lower: np.ndarray, upper: np.ndarray, max_total: float | None) -> list[str]:
    """The limits a recipe (wt %…, then µm) sits on: a colorant at its maximum, or the total at its cap."""
    notes = []
    for i, name in enumerate(colorants):
        # A fixed colorant (lower == upper) is not free to move, so its maximum is no shortfall.
        if upper[i] > lower[i] and recipe[i] >= upper[i] - 1e-3 * max(upper[i], 1e-9):
            notes.append(f"{name} is at its allowed maximum of {upper[i]:g} wt %")
    if max_total is not None and recipe[:-1].sum() >= max_total - 1e-3 * max_total:
        notes.append(f"the total is at its maximum of {max_total:g} wt %")
    return notes
