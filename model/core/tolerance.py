"""Colour-difference tolerance bands: how a ΔE00 error is judged and shown (green, amber, red).

Numbers and words only (numpy), so the figures and swatches that colour an error by its band
(:mod:`model.presentation`) load without the review stack (:mod:`model.registry.review`) and the
models behind it.

Scale: ΔE00 in CIEDE2000 units (CIE 142-2001; Sharma, Wu & Dalal 2005). Below about 1 most
people cannot see the difference side by side; below 2 is close enough for most commercial work.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DELTA_E00_EXPLANATION", "TOLERANCE_COLOURS", "UNTRUSTED_UNCERTAINTY", "tolerance_band"]

DELTA_E00_EXPLANATION = (
    "ΔE00 (CIEDE2000) is the standard measure of how different two colours look: below about 1 most "
    "people cannot see the difference side by side, and below 2 it is close enough for most commercial work."
)
#: Tolerance bands of a colour error: (upper ΔE00 bound, name, display colour).
TOLERANCE_COLOURS = ((1.0, "green", "#2e9d4a"), (2.0, "amber", "#e6a019"), (float("inf"), "red", "#d0342c"))
#: Beyond a band of 3 ΔE00 the difference is obvious to anyone: say not to rely on the prediction
#: (Predict, Batch, the API) or call a recipe risky (Formulate).
UNTRUSTED_UNCERTAINTY = 3.0


def tolerance_band(delta_e00) -> np.ndarray:
    """``"green"`` (< 1), ``"amber"`` (< 2) or ``"red"`` (≥ 2) per ΔE00 value (CIEDE2000 units)."""
    values = np.atleast_1d(np.asarray(delta_e00, dtype=float))
    names = np.full(values.shape, TOLERANCE_COLOURS[-1][1], dtype=object)
    for bound, name, _ in reversed(TOLERANCE_COLOURS):
        names[values < bound] = name
    return names
