"""The colour to formulate for: CIELAB, a display colour, or a measured spectrum.

Scales: CIELAB under D65 and the CIE 1964 10° observer (L* 0–100), sRGB gamma-encoded
0–1, reflectance factor 0–1 on 31 bands (400–700 nm, 10 nm steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model.core import colorimetry
from model.core.schema import BAND_COLUMNS, WAVELENGTHS_NM, Dataset
from model.io.cells import MAX_REFLECTANCE
from model.io.spectrum_text import parse_spectrum

__all__ = ["Target"]

_N_BANDS = len(WAVELENGTHS_NM)


@dataclass(frozen=True)
class Target:
    """The colour to formulate for.

    Attributes
    ----------
    Lab : numpy.ndarray, shape (3,)
        CIELAB under D65, 10° observer (L* 0–100).
    reflectance : numpy.ndarray of shape (31,), or None
        The target spectrum (reflectance factor 0–1) when one was given; it enables the
        spectral objective, the spectral RMS and the metamerism index.
    label : str
        What the target is, for display (``"hex #c0392b"``, ``"sample OPTI7H"``).
    notes : tuple of str
        Assumptions made while reading it.
    """

    Lab: np.ndarray
    reflectance: np.ndarray | None = None
    label: str = "target"
    notes: tuple[str, ...] = ()

    @property
    def is_spectral(self) -> bool:
        """Whether a spectrum was given (which switches on the spectral objective)."""
        return self.reflectance is not None

    @property
    def hex(self) -> str:
        """The target as a ``#rrggbb`` sRGB swatch (clipped to the sRGB gamut)."""
        sRGB, _ = colorimetry.Lab_to_sRGB(self.Lab)
        return colorimetry.sRGB_to_hex(sRGB)

    @classmethod
    def from_Lab(cls, L: float, a: float, b: float, label: str | None = None) -> Target:
        """A CIELAB target (D65, 10°; L* 0–100, a* and b* −128 to 128, the Formulate page's ranges).

        A fluorescent film can measure above L* 100: give such a target as its spectrum
        (:meth:`from_spectrum`), which also lets the search match the emission.
        """
        Lab = np.array([L, a, b], dtype=float)
        if not np.all(np.isfinite(Lab)):
            raise ValueError(f"CIELAB target {Lab.tolist()} is not finite; give three numbers L*, a*, b*.")
        if not 0.0 <= Lab[0] <= 100.0 or np.any(np.abs(Lab[1:]) > 128.0):
            raise ValueError(
                f"CIELAB target L* {Lab[0]:g}, a* {Lab[1]:g}, b* {Lab[2]:g} is outside L* 0–100, a* and b* −128 to 128; "
                "give a colour in those ranges (a fluorescent target above L* 100 as its spectrum)."
            )
        return cls(Lab=Lab, label=label or f"L* {L:.1f}, a* {a:.1f}, b* {b:.1f}")

    @classmethod
    def from_sRGB(cls, sRGB, label: str | None = None) -> Target:
        """A display colour (gamma-encoded sRGB, 0–1), read as if seen under D65."""
        sRGB = np.asarray(sRGB, dtype=float)
        if sRGB.shape != (3,) or np.any((sRGB < 0) | (sRGB > 1)):
            raise ValueError(f"sRGB target {sRGB.tolist()} must be three values between 0 and 1.")
        hex_code = colorimetry.sRGB_to_hex(sRGB)
        return cls(Lab=np.asarray(colorimetry.sRGB_to_Lab(sRGB), dtype=float), label=label or f"colour {hex_code}")

    @classmethod
    def from_hex(cls, hex_code: str) -> Target:
        """A ``#rrggbb`` colour (a colour picker's value)."""
        sRGB = colorimetry.hex_to_sRGB(hex_code)
        return cls.from_sRGB(sRGB, label=f"colour #{hex_code.strip().lstrip('#').lower()}")

    @classmethod
    def from_spectrum(cls, reflectance, label: str = "pasted spectrum", notes: Sequence[str] = ()) -> Target:
        """A measured spectrum (31 bands, 400–700 nm, reflectance factor 0–1; above 1 for a fluorescent film).

        Raises
        ------
        ValueError
            Not 31 values, or a value that no reflectance factor takes (not finite, negative,
            or above :data:`~model.io.cells.MAX_REFLECTANCE`, as percent would be): the
            message names the band. Nothing is rescaled here; pasted text is read by
            :meth:`from_pasted`, which recognises percent and says so.
        """
        reflectance = np.asarray(reflectance, dtype=float).reshape(-1)
        if reflectance.shape != (_N_BANDS,):
            raise ValueError(f"A target spectrum needs {_N_BANDS} values (400–700 nm, 10 nm steps); got {reflectance.size}.")
        bad = np.flatnonzero(~np.isfinite(reflectance) | (reflectance < 0) | (reflectance > MAX_REFLECTANCE))
        if bad.size:
            band, value = int(WAVELENGTHS_NM[bad[0]]), reflectance[bad[0]]
            more = f" (and {bad.size - 1} more band{'s' if bad.size > 2 else ''})" if bad.size > 1 else ""
            hint = " If these are percent, divide them by 100." if value > MAX_REFLECTANCE else ""
            raise ValueError(
                f"The target spectrum's value at {band} nm is {value:g}{more}; expected reflectance factors from 0 to "
                f"{MAX_REFLECTANCE:g} (usually 0–1, above 1 only for a fluorescent film).{hint}"
            )
        return cls(Lab=colorimetry.reflectance_to_Lab(reflectance), reflectance=reflectance, label=label, notes=tuple(notes))

    @classmethod
    def from_pasted(cls, text: str) -> Target:
        """A spectrum pasted as text; see :func:`model.io.spectrum_text.parse_spectrum` for the accepted shapes.

        Raises
        ------
        SpectrumParseError
            The text does not hold one 31-band spectrum; the message says what was found.
        """
        reflectance, notes = parse_spectrum(text)
        return cls.from_spectrum(reflectance, "pasted spectrum", notes)

    @classmethod
    def from_sample(cls, dataset: Dataset, sample_id: str) -> Target:
        """The measured spectrum of one sample of a :class:`Dataset` (or the measurement store)."""
        matches = np.flatnonzero(dataset.sample_ids == str(sample_id))
        if not len(matches):
            raise ValueError(f"Sample {sample_id!r} is not in dataset {dataset.name!r}; pick one of its sample ids.")
        row = dataset.table.iloc[matches[0]]
        return cls.from_spectrum(row[BAND_COLUMNS].to_numpy(dtype=float), label=f"sample {sample_id}")
