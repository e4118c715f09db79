"""Is the stated uncertainty honest? How often real leave-recipe-out errors fall inside it.

The per-sample frame of :func:`model.evaluation.cross_validation.cross_validate` carries
each prediction's real ΔE00 and its stated band (``uncertainty_spectral``,
``uncertainty_head`` and the headline's ``uncertainty``); this module tabulates them.
Scales: ΔE00 and bands in CIEDE2000 units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["calibration_table"]


def calibration_table(errors, uncertainty, multiples=(0.5, 1.0, 1.5, 2.0)) -> pd.DataFrame:
    """How often the real error falls inside k times the stated band.

    Parameters
    ----------
    errors : array_like, shape (n,)
        Real ΔE00 of each prediction against the measurement.
    uncertainty : array_like, shape (n,)
        The stated band of each prediction, ΔE00.
    multiples : iterable of float
        The k to tabulate.

    Returns
    -------
    DataFrame
        ``multiple``, ``fraction_within`` (0–1) and ``n``; a further row ``rank
        correlation`` holds the Spearman correlation of band and error in
        ``fraction_within`` (whether larger bands go with larger errors).
    """
    errors = np.asarray(errors, dtype=float)
    uncertainty = np.asarray(uncertainty, dtype=float)
    known = np.isfinite(errors) & np.isfinite(uncertainty)
    errors, uncertainty = errors[known], uncertainty[known]
    rows = [
        {"multiple": float(k), "fraction_within": float(np.mean(errors <= k * uncertainty)) if len(errors) else np.nan, "n": int(len(errors))}
        for k in multiples
    ]
    table = pd.DataFrame(rows)
    # A constant band (or error) has no ranking to correlate; say so with NaN, not a warning.
    if len(errors) > 2 and np.ptp(errors) > 0 and np.ptp(uncertainty) > 0:
        correlation = pd.Series(errors).corr(pd.Series(uncertainty), method="spearman")
    else:
        correlation = np.nan
    table.attrs["spearman"] = float(correlation)
    return table
