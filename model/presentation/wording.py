"""What the uncertainty band says, in words a chemist or a manager reads the same way.

The band (:mod:`model.models.difficulty`) is calibrated so that a stated share of recipes
like the one predicted come within it; these sentences say exactly that, and say so when a
model saved before the calibration states only its ensemble spread. Scales: ΔE00 in
CIEDE2000 units; coverage 0–1.
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["coverage_words", "band_sentence", "UNCALIBRATED_NOTE"]

#: Said beside the band of a model saved before the calibrated band (the ensemble spread).
UNCALIBRATED_NOTE = (
    "This model was saved before Huecast calibrated its uncertainty: the band is its networks' spread, "
    "which does not rank errors. Retrain (or promote a model trained since) for a calibrated band."
)


def coverage_words(coverage: float) -> str:
    """A coverage as a plain share: 0.9 → ``"9 in 10"``, 0.95 → ``"19 in 20"``, 0.8 → ``"4 in 5"``."""
    share = Fraction(coverage).limit_denominator(100)
    return f"{share.numerator} in {share.denominator}"


def band_sentence(uncertainty: float, coverage: float | None) -> str:
    """One sentence for a prediction's band (ΔE00) and its calibrated coverage (None: uncalibrated).

    Examples
    --------
    >>> band_sentence(1.84, 0.9)
    '9 in 10 recipes like this come within ΔE00 1.8 of the prediction (calibrated on recipes the model never saw).'
    >>> band_sentence(float("nan"), 0.9)
    'This model states no uncertainty for this recipe.'
    """
    if not math.isfinite(uncertainty):
        return "This model states no uncertainty for this recipe."
    if coverage is None:
        return f"The model's networks spread by about ΔE00 {uncertainty:.1f} here (not calibrated: {UNCALIBRATED_NOTE})"
    return f"{coverage_words(coverage)} recipes like this come within ΔE00 {uncertainty:.1f} of the prediction (calibrated on recipes the model never saw)."
