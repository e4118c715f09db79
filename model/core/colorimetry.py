"""Colorimetry on the 31-band grid: reflectance → XYZ → CIELAB / LCh, ΔE00 and sRGB.

All colour maths is delegated to colour-science. Tristimulus integration follows
ASTM E308 (CIE 1964 10° observer, illuminant D65). Because that integration is linear
in reflectance, it is done here as one matrix product with a 31 × 3 weight matrix,
built once by passing the 31 unit spectra through ``colour.sd_to_XYZ``.

Scales
------
- reflectance: factor, 0–1 (values above 1 are legal: fluorescence);
- XYZ: 0–100 (perfect reflecting diffuser has Y = 100);
- L*: 0–100 (may exceed 100 for fluorescent samples); a*, b* unbounded, about ±128;
- C*: ≥ 0; h°: degrees in [0, 360);
- sRGB: 0–1 floats, or ``#rrggbb`` hex.

References
----------
ASTM E308-22, *Standard Practice for Computing the Colors of Objects by Using the CIE
System*. Sharma, Wu and Dalal (2005), *The CIEDE2000 color-difference formula*.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache

import numpy as np

# colour-science warns at import that Matplotlib is absent; plots are Plotly here. Its own
# switch silences that usage warning (and a user who sets it otherwise keeps their choice).
os.environ.setdefault("COLOUR_SCIENCE__FILTER_USAGE_WARNINGS", "True")
import colour  # noqa: E402

from model.core.schema import WAVELENGTHS_NM

__all__ = [
    "OBSERVER",
    "ILLUMINANT",
    "weight_matrix",
    "reflectance_to_XYZ",
    "XYZ_to_Lab",
    "Lab_to_LCh",
    "reflectance_to_Lab",
    "reflectance_to_LCh",
    "delta_E00",
    "Lab_to_sRGB",
    "sRGB_to_hex",
    "hex_to_sRGB",
    "sRGB_to_Lab",
]

OBSERVER = "CIE 1964 10 Degree Standard Observer"
ILLUMINANT = "D65"


@lru_cache(maxsize=8)
def _weights(illuminant: str) -> np.ndarray:
    cmfs = colour.MSDS_CMFS[OBSERVER]
    sd_illuminant = colour.SDS_ILLUMINANTS[illuminant]
    basis = np.eye(len(WAVELENGTHS_NM))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour warns that 400–700 nm is narrower than the CMFs.
        for unit in basis:
            sd = colour.SpectralDistribution(dict(zip(WAVELENGTHS_NM.tolist(), unit)))
            rows.append(colour.sd_to_XYZ(sd, cmfs, sd_illuminant, method="ASTM E308"))
    matrix = np.asarray(rows, dtype=float)
    matrix.setflags(write=False)
    return matrix


def weight_matrix(illuminant: str = ILLUMINANT) -> np.ndarray:
    """The 31 × 3 ASTM E308 weights mapping reflectance (0–1) to XYZ (0–100).

    Parameters
    ----------
    illuminant : str
        A key of ``colour.SDS_ILLUMINANTS`` (``"D65"``, ``"A"``, ``"FL11"`` …).

    Returns
    -------
    numpy.ndarray
        Read-only array of shape (31, 3).
    """
    return _weights(illuminant)


def _white_XYZ(illuminant: str) -> np.ndarray:
    return weight_matrix(illuminant).sum(axis=0)


def reflectance_to_XYZ(reflectance, illuminant: str = ILLUMINANT) -> np.ndarray:
    """Tristimulus values of reflectance spectra.

    Parameters
    ----------
    reflectance : array_like, shape (..., 31)
        Reflectance factor, 0–1, on 400–700 nm in 10 nm steps.
    illuminant : str

    Returns
    -------
    numpy.ndarray, shape (..., 3)
        XYZ, 0–100.
    """
    reflectance = np.asarray(reflectance, dtype=float)
    if reflectance.shape[-1] != len(WAVELENGTHS_NM):
        raise ValueError(
            f"reflectance must have {len(WAVELENGTHS_NM)} bands (400–700 nm, 10 nm steps) "
            f"in its last axis; got shape {reflectance.shape}."
        )
    return reflectance @ weight_matrix(illuminant)


def XYZ_to_Lab(XYZ, illuminant: str = ILLUMINANT) -> np.ndarray:
    """CIELAB from XYZ (0–100) relative to the illuminant's white; L* 0–100."""
    white = _white_XYZ(illuminant)
    xy_white = colour.XYZ_to_xy(white / 100.0)
    return colour.XYZ_to_Lab(np.asarray(XYZ, dtype=float) / 100.0, xy_white)


def Lab_to_LCh(Lab) -> np.ndarray:
    """(L*, C*, h°) from (L*, a*, b*); h° in degrees, 0–360. Derived, never regressed."""
    return colour.Lab_to_LCHab(np.asarray(Lab, dtype=float))


def reflectance_to_Lab(reflectance, illuminant: str = ILLUMINANT) -> np.ndarray:
    """CIELAB (L* 0–100) of reflectance spectra (0–1), shape (..., 31) → (..., 3)."""
    return XYZ_to_Lab(reflectance_to_XYZ(reflectance, illuminant), illuminant)


def reflectance_to_LCh(reflectance, illuminant: str = ILLUMINANT) -> np.ndarray:
    return Lab_to_LCh(reflectance_to_Lab(reflectance, illuminant))


def delta_E00(Lab_1, Lab_2) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma et al. 2005) between CIELAB arrays (L* 0–100)."""
    return np.asarray(colour.delta_E(np.asarray(Lab_1, float), np.asarray(Lab_2, float), method="CIE 2000"))


def Lab_to_sRGB(Lab, illuminant: str = ILLUMINANT) -> tuple[np.ndarray, np.ndarray]:
    """Display sRGB for swatches, with an out-of-gamut flag.

    Parameters
    ----------
    Lab : array_like, shape (..., 3)
        CIELAB under ``illuminant`` (L* 0–100).

    Returns
    -------
    sRGB : numpy.ndarray, shape (..., 3)
        Gamma-encoded sRGB, clipped to 0–1 for display.
    out_of_gamut : numpy.ndarray of bool, shape (...)
        True where the colour had to be clipped (by more than 0.5 %) to fit sRGB.
    """
    Lab = np.asarray(Lab, dtype=float)
    white_xy = colour.XYZ_to_xy(_white_XYZ(illuminant) / 100.0)
    XYZ = colour.Lab_to_XYZ(Lab, white_xy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rgb = colour.XYZ_to_sRGB(XYZ, illuminant=white_xy)
    out_of_gamut = np.any((rgb < -0.005) | (rgb > 1.005), axis=-1)
    return np.clip(np.nan_to_num(rgb), 0.0, 1.0), out_of_gamut


_HEX_PAIRS = np.array([f"{value:02x}" for value in range(256)])


def sRGB_to_hex(sRGB) -> np.ndarray | str:
    """``#rrggbb`` strings from sRGB floats (0–1); a single colour gives a str."""
    sRGB = np.clip(np.nan_to_num(np.asarray(sRGB, dtype=float)), 0.0, 1.0)
    codes = np.round(sRGB * 255).astype(int)
    # Table look-up and vectorised concatenation: a batch of 100,000 swatches is a hot path.
    pairs = _HEX_PAIRS[codes]
    hex_codes = np.char.add(np.char.add(np.char.add("#", pairs[..., 0]), pairs[..., 1]), pairs[..., 2])
    return str(hex_codes) if sRGB.ndim == 1 else hex_codes


def hex_to_sRGB(hex_code: str) -> np.ndarray:
    """sRGB floats (0–1) from ``#rrggbb`` or ``rrggbb``."""
    text = hex_code.strip().lstrip("#")
    if len(text) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in text):
        raise ValueError(f"Colour {hex_code!r} is not a hex code; expected six hex digits like '#1f77b4'.")
    return np.array([int(text[i : i + 2], 16) for i in (0, 2, 4)], dtype=float) / 255.0


def sRGB_to_Lab(sRGB, illuminant: str = ILLUMINANT) -> np.ndarray:
    """CIELAB (L* 0–100) of gamma-encoded sRGB (0–1) under ``illuminant``'s white."""
    white_xy = colour.XYZ_to_xy(_white_XYZ(illuminant) / 100.0)
    XYZ = colour.sRGB_to_XYZ(np.asarray(sRGB, dtype=float), illuminant=white_xy)
    return colour.XYZ_to_Lab(XYZ, white_xy)
