"""Colorimetry on the 31-band grid: reflectance → XYZ → CIELAB / LCh, ΔE00 and sRGB.

Tristimulus integration follows ASTM E308 (CIE 1964 10° observer, illuminant D65).
Because that integration is linear in reflectance, it is done here as one matrix product
with a 31 × 3 weight matrix, built by passing the 31 unit spectra through colour-science's
``colour.sd_to_XYZ``. The formulas after it (CIELAB, CIEDE2000, sRGB) are written here in
plain numpy, as colour-science writes them, and tested against it
(``tests/test_colorimetry.py``): a one-recipe prediction calls them a dozen times, and
colour-science's own functions cost about 0.5 ms a call in argument handling, most of such
a prediction. colour-science itself (about 0.3 s to import) is imported only to build a
weight matrix; the D65 one, which every prediction uses, is stored below
(:data:`_D65_WEIGHTS`, checked bit for bit against colour-science by the tests), so a
server answers its first prediction without importing it.

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
System*. CIE 15:2004, *Colorimetry*, 3rd ed. (CIELAB, §8.2.1). Sharma, G., Wu, W. and
Dalal, E. N. (2005), "The CIEDE2000 color-difference formula: implementation notes,
supplementary test data, and mathematical observations", *Color Research & Application*
30(1), 21–30. IEC 61966-2-1:1999, *Default RGB colour space — sRGB*. CIE 159:2004, *A
colour appearance model for colour management systems: CIECAM02* (the CAT02 matrix).
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache

import numpy as np

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

#: ASTM E308 weights (Table 5 method, 10 nm, 400–700 nm) of the CIE 1964 10° observer under
#: D65, as colour-science's ``sd_to_XYZ(method="ASTM E308")`` gives them for the 31 unit
#: spectra; rows are 400, 410 … 700 nm, columns X, Y, Z (0–100 scale).
_D65_WEIGHTS = (
    (0.14392548003210662, 0.015130268755616383, 0.6431027595809674),
    (0.675973792869853, 0.06907230368565123, 3.1097478460331205),
    (1.6033378956364448, 0.1678730919878365, 7.626591945866312),
    (2.450727132824685, 0.30018083443760524, 12.09454325389084),
    (3.4182161148258134, 0.5539199369417311, 17.537211252763424),
    (3.6987057406479864, 0.8901274683533281, 19.888147223781555),
    (3.064131871007019, 1.2903660544297428, 17.695448327921962),
    (1.9328479808748187, 1.8384004857697633, 12.999710653112562),
    (0.8020666824328517, 2.5196603173988206, 7.699347583697654),
    (0.1563056093396686, 3.226406095084905, 3.938177127341185),
    (0.039215571125390356, 4.319963872381811, 2.045525074770922),
    (0.3468632769812544, 5.621361429719049, 1.0492231488906363),
    (1.0702932551992594, 6.907328107209222, 0.5435219622487993),
    (2.1700507272158642, 8.059172999956925, 0.2782010055768518),
    (3.3970679969944895, 8.668010862469295, 0.12158500802584206),
    (4.732428729656331, 8.854549976887578, 0.03453781861604918),
    (6.0697853841527065, 8.581043317544559, 0.0005470751778456465),
    (7.311249488899789, 7.951105273242359, -0.0004119336175135719),
    (8.290615169980267, 7.105924629739421, 0.0),
    (8.633561683296112, 6.0041623168968155, 0.0),
    (8.67241471962824, 5.07860114148247, 0.0),
    (7.930313092131033, 4.064620281721982, 0.0),
    (6.445586295491724, 2.999202481176499, 0.0),
    (4.668994979376927, 2.041764940455347, 0.0),
    (3.0953351963824853, 1.2895835068911279, 0.0),
    (1.859358946702817, 0.7461788534602143, 0.0),
    (1.0557242531039914, 0.4165395654227809, 0.0),
    (0.5699441305840853, 0.2230031783975191, 0.0),
    (0.27401321852272237, 0.10665978112043782, 0.0),
    (0.1213744155672353, 0.04714903671158056, 0.0),
    (0.11048495725386494, 0.04293759026798968, 0.0),
)

#: IEC 61966-2-1:1999 matrices between XYZ (0–1) and linear sRGB, and its white point (x, y).
_XYZ_TO_SRGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_SRGB_WHITE_xy = np.array([0.3127, 0.3290])
#: CAT02 (CIE 159:2004), the chromatic adaptation between the illuminant's white and sRGB's.
_CAT02 = np.array([[0.7328, 0.4296, -0.1624], [-0.7036, 1.6975, 0.0061], [0.0030, 0.0136, 0.9834]])


def _colour():
    """colour-science, imported on first use (only to build a weight matrix other than D65's)."""
    # colour-science warns at import that Matplotlib is absent; plots are Plotly here. Its own
    # switch silences that usage warning (and a user who sets it otherwise keeps their choice).
    os.environ.setdefault("COLOUR_SCIENCE__FILTER_USAGE_WARNINGS", "True")
    # colour-science switches NumPy to its 1.13 print style on import, which would cut every
    # float a CSV writes afterwards to 12 digits; the process keeps its own print options.
    print_options = np.get_printoptions()
    import colour

    np.set_printoptions(**print_options)
    return colour


def _computed_weights(illuminant: str) -> np.ndarray:
    """The 31 × 3 ASTM E308 weights of ``illuminant`` from colour-science (the unit spectra integrated)."""
    colour = _colour()
    cmfs = colour.MSDS_CMFS[OBSERVER]
    sd_illuminant = colour.SDS_ILLUMINANTS[illuminant]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour warns that 400–700 nm is narrower than the CMFs.
        for unit in np.eye(len(WAVELENGTHS_NM)):
            sd = colour.SpectralDistribution(dict(zip(WAVELENGTHS_NM.tolist(), unit)))
            rows.append(colour.sd_to_XYZ(sd, cmfs, sd_illuminant, method="ASTM E308"))
    return np.asarray(rows, dtype=float)


@lru_cache(maxsize=8)
def _weights(illuminant: str) -> np.ndarray:
    matrix = np.array(_D65_WEIGHTS) if illuminant == "D65" else _computed_weights(illuminant)
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


@lru_cache(maxsize=8)
def _white(illuminant: str) -> tuple[np.ndarray, np.ndarray]:
    """The illuminant's white as chromaticity (x, y) and as XYZ with Y = 1 (CIE 15:2004 §7.3)."""
    XYZ = weight_matrix(illuminant).sum(axis=0) / 100.0
    xy = XYZ[:2] / XYZ.sum()
    return xy, _xy_to_XYZ(xy)


def _xy_to_XYZ(xy: np.ndarray) -> np.ndarray:
    """XYZ (Y = 1) of chromaticity (x, y)."""
    x, y = xy
    return np.array([x * (1.0 / y), 1.0, (1.0 - (x + y)) * (1.0 / y)])


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


def _XYZ1_to_Lab(XYZ: np.ndarray, white_XYZ: np.ndarray) -> np.ndarray:
    """CIELAB of XYZ on the 0–1 scale relative to ``white_XYZ`` (Y = 1), CIE 15:2004 §8.2.1."""
    ratio = XYZ / white_XYZ
    with np.errstate(invalid="ignore"):
        f = np.where(ratio > (24 / 116) ** 3, np.abs(ratio) ** (1 / 3), (841 / 108) * ratio + 16 / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def _Lab_to_XYZ1(Lab: np.ndarray, white_XYZ: np.ndarray) -> np.ndarray:
    """XYZ on the 0–1 scale of CIELAB relative to ``white_XYZ`` (Y = 1); the inverse of :func:`_XYZ1_to_Lab`."""
    f_Y = (Lab[..., 0] + 16) / 116
    f = np.stack([Lab[..., 1] / 500 + f_Y, f_Y, f_Y - Lab[..., 2] / 200], axis=-1)
    return np.where(f > 24 / 116, white_XYZ * f**3, white_XYZ * (f - 16 / 116) * (108 / 841))


def XYZ_to_Lab(XYZ, illuminant: str = ILLUMINANT) -> np.ndarray:
    """CIELAB from XYZ (0–100) relative to the illuminant's white; L* 0–100 (CIE 15:2004 §8.2.1)."""
    return _XYZ1_to_Lab(np.asarray(XYZ, dtype=float) / 100.0, _white(illuminant)[1])


def Lab_to_LCh(Lab) -> np.ndarray:
    """(L*, C*, h°) from (L*, a*, b*); h° in degrees, 0–360 (CIE 15:2004 §8.2.2). Derived, never regressed."""
    Lab = np.asarray(Lab, dtype=float)
    C = np.hypot(Lab[..., 1], Lab[..., 2])
    h = np.degrees(np.arctan2(Lab[..., 2], Lab[..., 1])) % 360
    return np.stack([Lab[..., 0], C, h], axis=-1)


def reflectance_to_Lab(reflectance, illuminant: str = ILLUMINANT) -> np.ndarray:
    """CIELAB (L* 0–100) of reflectance spectra (0–1), shape (..., 31) → (..., 3)."""
    return XYZ_to_Lab(reflectance_to_XYZ(reflectance, illuminant), illuminant)


def reflectance_to_LCh(reflectance, illuminant: str = ILLUMINANT) -> np.ndarray:
    return Lab_to_LCh(reflectance_to_Lab(reflectance, illuminant))


def _hue_degrees(b: np.ndarray, a_prime: np.ndarray) -> np.ndarray:
    """Hue angle h' in [0, 360) degrees; 0 where a' = b = 0 (Sharma et al. 2005, eq. 4)."""
    return np.where((b == 0) & (a_prime == 0), 0.0, np.degrees(np.arctan2(b, a_prime)) % 360)


def delta_E00(Lab_1, Lab_2) -> np.ndarray:
    """CIEDE2000 colour difference between CIELAB arrays (L* 0–100), k_L = k_C = k_H = 1.

    Sharma, Wu and Dalal (2005), eqs. 1–22, in plain numpy; the hue branches follow their
    implementation notes (eqs. 10 and 14, the mean hue of a neutral colour is the sum of
    the hues). Arrays broadcast against each other; shape (...) out for (..., 3) in.
    """
    L_1, a_1, b_1 = np.moveaxis(np.asarray(Lab_1, dtype=float), -1, 0)
    L_2, a_2, b_2 = np.moveaxis(np.asarray(Lab_2, dtype=float), -1, 0)
    C_bar_7 = ((np.hypot(a_1, b_1) + np.hypot(a_2, b_2)) / 2) ** 7
    G = 0.5 * (1 - np.sqrt(C_bar_7 / (C_bar_7 + 25**7)))
    a_p_1, a_p_2 = (1 + G) * a_1, (1 + G) * a_2
    C_p_1, C_p_2 = np.hypot(a_p_1, b_1), np.hypot(a_p_2, b_2)
    h_p_1, h_p_2 = _hue_degrees(b_1, a_p_1), _hue_degrees(b_2, a_p_2)
    C_p_product = C_p_1 * C_p_2
    h_difference = h_p_2 - h_p_1
    # Nested where rather than np.select: the same first-true-wins choice, at a fifth of the cost.
    unwrapped = np.where(h_difference > 180, h_difference - 360, np.where(h_difference < -180, h_difference + 360, h_difference))
    delta_h_p = np.where(C_p_product == 0, 0.0, np.where(np.fabs(h_difference) <= 180, h_difference, unwrapped))
    delta_H_p = 2 * np.sqrt(C_p_product) * np.sin(np.deg2rad(delta_h_p / 2))
    h_sum = h_p_1 + h_p_2
    wide_mean = np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)
    h_bar_p = np.where(C_p_product == 0, h_sum, np.where(np.fabs(h_p_1 - h_p_2) <= 180, h_sum / 2, wide_mean))
    T = (
        1
        - 0.17 * np.cos(np.deg2rad(h_bar_p - 30))
        + 0.24 * np.cos(np.deg2rad(2 * h_bar_p))
        + 0.32 * np.cos(np.deg2rad(3 * h_bar_p + 6))
        - 0.20 * np.cos(np.deg2rad(4 * h_bar_p - 63))
    )
    delta_theta = 30 * np.exp(-(((h_bar_p - 275) / 25) ** 2))
    C_bar_p = (C_p_1 + C_p_2) / 2
    R_C = 2 * np.sqrt(C_bar_p**7 / (C_bar_p**7 + 25**7))
    L_bar_p_2 = ((L_1 + L_2) / 2 - 50) ** 2
    S_L = 1 + (0.015 * L_bar_p_2) / np.sqrt(20 + L_bar_p_2)
    S_C = 1 + 0.045 * C_bar_p
    S_H = 1 + 0.015 * C_bar_p * T
    R_T = -np.sin(np.deg2rad(2 * delta_theta)) * R_C
    lightness, chroma, hue = (L_2 - L_1) / S_L, (C_p_2 - C_p_1) / S_C, delta_H_p / S_H
    return np.sqrt(lightness**2 + chroma**2 + hue**2 + R_T * chroma * hue)


def _cat02(source_XYZ: np.ndarray, destination_XYZ: np.ndarray) -> np.ndarray:
    """The 3 × 3 von Kries adaptation in CAT02 cone space from one white (XYZ) to another (CIE 159:2004)."""
    gains = np.diag((_CAT02 @ destination_XYZ) / (_CAT02 @ source_XYZ))
    return np.linalg.inv(_CAT02) @ gains @ _CAT02


@lru_cache(maxsize=8)
def _srgb_adaptation(illuminant: str) -> tuple[np.ndarray, np.ndarray]:
    """CAT02 matrices from the illuminant's white to sRGB's D65 white (2°), and back."""
    white_XYZ = _white(illuminant)[1]
    srgb_white_XYZ = _xy_to_XYZ(_SRGB_WHITE_xy)
    return _cat02(white_XYZ, srgb_white_XYZ), _cat02(srgb_white_XYZ, white_XYZ)


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1), linear light (0–1) → gamma-encoded values."""
    with np.errstate(invalid="ignore"):
        return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.sign(linear) * np.abs(linear) ** (1 / 2.4) - 0.055)


def _srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_srgb_encode`: gamma-encoded sRGB (0–1) → linear light."""
    with np.errstate(invalid="ignore"):
        return np.where(encoded <= 0.0031308 * 12.92, encoded / 12.92, np.sign(encoded + 0.055) * (np.abs(encoded + 0.055) / 1.055) ** 2.4)


def Lab_to_sRGB(Lab, illuminant: str = ILLUMINANT) -> tuple[np.ndarray, np.ndarray]:
    """Display sRGB for swatches, with an out-of-gamut flag.

    CIELAB → XYZ (CIE 15:2004), CAT02 from the illuminant's white to sRGB's (CIE 159:2004),
    then the IEC 61966-2-1 matrix and transfer function.

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
    XYZ = _Lab_to_XYZ1(np.asarray(Lab, dtype=float), _white(illuminant)[1])
    to_srgb_white = _srgb_adaptation(illuminant)[0]
    rgb = _srgb_encode(XYZ @ to_srgb_white.T @ _XYZ_TO_SRGB.T)
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
    """CIELAB (L* 0–100) of gamma-encoded sRGB (0–1) under ``illuminant``'s white (the inverse of :func:`Lab_to_sRGB`)."""
    linear = _srgb_decode(np.asarray(sRGB, dtype=float))
    from_srgb_white = _srgb_adaptation(illuminant)[1]
    return _XYZ1_to_Lab(linear @ _SRGB_TO_XYZ.T @ from_srgb_white.T, _white(illuminant)[1])
