"""How far to trust a prediction: the ensemble spread of each CIELAB path, in ΔE00.

A :class:`~model.models.mlp.FormulationModel` averages several networks. Where
they disagree, the data did not pin the answer down (a ladder end point, a mixture
unlike any in training), and that is where the real error is large. The uncertainty of
a prediction is the root-mean-square CIEDE2000 distance of the members' CIELAB from the
ensemble's CIELAB, times :data:`BAND_SCALE`, so that it reads as a band: "the measured
colour should lie within this many ΔE00 of the prediction, about two times in three".

Whether it does is an empirical question, answered leave-recipe-out by
:func:`model.evaluation.calibration.calibration_table` (``bench/accuracy.py`` prints the
result on the real data).

Scales: CIELAB L* 0–100; ΔE00 and the uncertainty are in CIEDE2000 units.
"""

from __future__ import annotations

import numpy as np

from model.core import colorimetry

__all__ = [
    "BAND_SCALE",
    "member_spread",
    "ensemble_uncertainty",
]

#: Factor from the members' RMS spread (ΔE00) to the stated band. Members share the
#: training data, so they agree more than the truth warrants; the factor was chosen on
#: the real pp-inks data, leave-recipe-out (bench/accuracy.py: 2× the spread held 41 % of
#: real errors, 3× 63 %, 4× 75 %), so that about two thirds of real errors fall inside
#: the band, the reading of a one-sigma error bar.
BAND_SCALE = 3.5


def member_spread(member_Lab, Lab) -> np.ndarray:
    """RMS CIEDE2000 distance of each member's CIELAB from the ensemble CIELAB.

    Parameters
    ----------
    member_Lab : array_like, shape (m, n, 3)
        CIELAB of m ensemble members for n recipes (L* 0–100).
    Lab : array_like, shape (n, 3)
        The ensemble's CIELAB (L* 0–100).

    Returns
    -------
    numpy.ndarray, shape (n,)
        Spread in ΔE00; NaN when there are fewer than two members.
    """
    member_Lab = np.asarray(member_Lab, dtype=float)
    Lab = np.asarray(Lab, dtype=float)
    if member_Lab.shape[0] < 2:
        return np.full(Lab.shape[0], np.nan)
    # One broadcast call for all members (m, n): ΔE00 is elementwise, so the numbers are those of m calls.
    distances = np.asarray(colorimetry.delta_E00(member_Lab, Lab[None])).reshape(member_Lab.shape[0], -1)
    return np.sqrt(np.mean(distances**2, axis=0))


def ensemble_uncertainty(member_reflectance, member_Lab, Lab_spectral, Lab_head, scale: float = BAND_SCALE) -> dict[str, np.ndarray]:
    """The stated uncertainty (ΔE00 band) of an ensemble's prediction on each CIELAB path.

    Parameters
    ----------
    member_reflectance : array_like, shape (m, n, 31)
        Each member's predicted reflectance factor (0–1, may exceed 1).
    member_Lab : array_like, shape (m, n, 3)
        Each member's CIELAB head output (L* 0–100).
    Lab_spectral : array_like, shape (n, 3)
        CIELAB of the ensemble's mean spectrum (L* 0–100); passed in because the
        prediction computes it anyway.
    Lab_head : array_like, shape (n, 3)
        The ensemble's mean CIELAB head output (L* 0–100).
    scale : float
        Spread-to-band factor, default :data:`BAND_SCALE`.

    Returns
    -------
    dict
        ``{"spectral": (n,), "head": (n,)}``, ΔE00 bands; NaN for a single network, which
        has no spread to report.
    """
    member_reflectance = np.asarray(member_reflectance, dtype=float)
    members_spectral = colorimetry.reflectance_to_Lab(member_reflectance)  # one matrix product for all members
    return {
        "spectral": scale * member_spread(members_spectral, Lab_spectral),
        "head": scale * member_spread(member_Lab, Lab_head),
    }
