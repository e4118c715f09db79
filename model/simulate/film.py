"""A physics simulator of pigmented films: colorants, the film's optics and the instrument's noise.

It imitates the real pp-inks measurements: films of colorants in a binder on a white
polypropylene backing, read by a handheld spectrophotometer. The shipped demo data is
made from it by :mod:`model.simulate.demo`.

The optics are Kubelka–Munk (:func:`model.models.physics.finite_film_reflectance`) plus a
fluorescence term: the fluorescent yellow re-emits part of the blue light it absorbs
in the green, so its films reflect more than 1 there, as the real GXT-10 films do. The
fluorescence and the optional Saunderson surface are the very functions the fitted
physics model uses (:mod:`model.models.fluorescent_km`), so a fit to simulated films
can recover the constants they were made with.
Measurement noise is a per-reading gain plus a small per-band term, calibrated so two
readings of one film differ by about 0.5 ΔE00 (see :func:`repeatability_delta_e00`).

Scales
------
- reflectance: factor, 0–1 (may exceed 1 for the fluorescent colorant);
- concentrations: weight percent, 0–100;
- thickness: µm; unit K and S: per µm per wt %; binder K and S: per µm.

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.core import colorimetry
from model.core.schema import (
    BAND_COLUMNS,
    FLUORESCENCE_COLUMN,
    RECIPE_ID_COLUMN,
    SAMPLE_ID_COLUMN,
    SOURCE_COLUMN,
    THICKNESS_COLUMN,
    WAVELENGTHS_NM,
    Dataset,
)
from model.core.film_optics import excitation_bands, finite_film_reflectance, fluorescence_emission
from model.core.film_optics import saunderson as saunderson_correction

__all__ = [
    "BACKING_REFLECTANCE",
    "BAND_NOISE_SD",
    "BINDER_ABSORPTION",
    "BINDER_SCATTERING",
    "COUNTS_PER_EMITTED_PHOTON_NM",
    "DEMO_COLORANTS",
    "FLUORESCENCE_NOISE_SD",
    "GAIN_NOISE_SD",
    "THICK_FILM_UM",
    "THIN_FILM_UM",
    "Colorant",
    "measure",
    "measure_fluorescence",
    "repeatability_delta_e00",
    "simulate_dataset",
    "simulate_fluorescence_cts",
    "simulate_reflectance",
]

_WAVELENGTHS = WAVELENGTHS_NM.astype(float)

#: The two drawdown thicknesses of the demo, as in the real data (µm).
THIN_FILM_UM = 8.0
THICK_FILM_UM = 12.0


def _gaussian(center_nm: float, width_nm: float) -> np.ndarray:
    return np.exp(-0.5 * ((_WAVELENGTHS - center_nm) / width_nm) ** 2)


def _asymmetric_gaussian(center_nm: float, width_below_nm: float, width_above_nm: float) -> np.ndarray:
    width = np.where(_WAVELENGTHS < center_nm, width_below_nm, width_above_nm)
    return np.exp(-0.5 * ((_WAVELENGTHS - center_nm) / width) ** 2)


def _falling_edge(edge_nm: float, steepness_nm: float) -> np.ndarray:
    """1 well below ``edge_nm``, 0 well above: an absorption edge."""
    return 1.0 / (1.0 + np.exp((_WAVELENGTHS - edge_nm) / steepness_nm))


@dataclass(frozen=True, eq=False)
class Colorant:
    """Optical constants of one colorant on the 31-band grid.

    Parameters
    ----------
    name : str
        Column name of the colorant (as in the recipe table, without `` (%)``).
    absorption : numpy.ndarray, shape (31,)
        Unit absorption K, per µm per wt %.
    scattering : numpy.ndarray, shape (31,)
        Unit scattering S, per µm per wt %.
    emission : numpy.ndarray or None, shape (31,)
        Shape of the fluorescent emission, peak 1; None for a colorant that does not
        fluoresce.
    fluorescence_yield : float
        Reflectance added at the emission peak per unit of absorbed excitation (0–1):
        the product of quantum yield, Stokes loss and escape geometry.
    excitation_max_nm : float
        Light absorbed below this wavelength excites fluorescence.
    """

    name: str
    absorption: np.ndarray
    scattering: np.ndarray
    emission: np.ndarray | None = None
    fluorescence_yield: float = 0.0
    excitation_max_nm: float = 500.0

    def __post_init__(self) -> None:
        # Read-only copies: the demo colorants are module-level constants every caller shares.
        for attribute in ("absorption", "scattering", "emission"):
            value = getattr(self, attribute)
            if value is None:
                continue
            spectrum = np.array(value, dtype=float)
            if spectrum.shape != _WAVELENGTHS.shape or np.any(spectrum < 0):
                raise ValueError(
                    f"Colorant {self.name!r}: {attribute} must be {len(_WAVELENGTHS)} values ≥ 0 "
                    f"(400–700 nm, 10 nm steps); got shape {spectrum.shape}."
                )
            spectrum.setflags(write=False)
            object.__setattr__(self, attribute, spectrum)


#: White polypropylene backing (0–1): a dip at 400 nm where the film and its additives
#: absorb, as every real pp-inks spectrum shows, then a flat, slightly falling plateau.
BACKING_REFLECTANCE = 0.99 - 0.42 * _falling_edge(408.0, 5.0) - 0.00008 * (_WAVELENGTHS - 400.0)
#: Binder absorption (per µm): nearly clear, a little more in the violet.
BINDER_ABSORPTION = 0.0008 + 0.004 * _falling_edge(410.0, 8.0)
#: Binder scattering (per µm): a faint haze.
BINDER_SCATTERING = np.full(len(_WAVELENGTHS), 0.002)

DEMO_COLORANTS: tuple[Colorant, ...] = (
    # A daylight-fluorescent yellow (like GXT-10): absorbs blue, re-emits at ~520 nm.
    Colorant(
        "FluoYellow",
        absorption=0.0032 * _gaussian(450.0, 26.0) + 0.00005,
        scattering=np.full(len(_WAVELENGTHS), 0.0006),
        emission=_asymmetric_gaussian(522.0, 11.0, 24.0),
        fluorescence_yield=0.60,
        excitation_max_nm=500.0,
    ),
    # Bismuth vanadate yellow: a sharp absorption edge near 490 nm and strong scattering.
    Colorant(
        "BiVaYellow",
        absorption=0.0095 * _falling_edge(488.0, 9.0) + 0.00008,
        scattering=0.0035 * (500.0 / _WAVELENGTHS),
        emission=None,
    ),
    # Phthalocyanine green (PG7): strong red absorption, a violet band, clear at ~510 nm.
    Colorant(
        "PhthaloGreen",
        absorption=0.030 * _gaussian(655.0, 45.0) + 0.012 * _gaussian(420.0, 25.0) + 0.0005,
        scattering=np.full(len(_WAVELENGTHS), 0.0015),
    ),
    # Phthalo blue on mica: absorbs orange and red (two bands), the mica scatters.
    Colorant(
        "PearlBlue",
        absorption=0.0080 * _gaussian(610.0, 30.0) + 0.0065 * _gaussian(675.0, 30.0) + 0.0012 * _gaussian(400.0, 40.0) + 0.0003,
        scattering=np.full(len(_WAVELENGTHS), 0.006),
    ),
    # Quinacridone magenta (PR122): a broad green band with two peaks, clear in the red.
    Colorant(
        "QuinMagenta",
        absorption=0.020 * _gaussian(535.0, 22.0) + 0.017 * _gaussian(572.0, 18.0) + 0.003 * _gaussian(420.0, 30.0) + 0.0002,
        scattering=np.full(len(_WAVELENGTHS), 0.001),
    ),
)

#: Standard deviation of the per-reading gain (relative). With :data:`BAND_NOISE_SD` it
#: gives a mean ΔE00 of 0.50 between two readings of one demo film (median 0.42,
#: 95th percentile 1.11), measured with :func:`repeatability_delta_e00` over 400 reading
#: pairs of each demo spectrum. The lightness change from a gain dominates, and
#: CIEDE2000 weighs lightness down near L* = 95, hence a gain of almost 2 %.
GAIN_NOISE_SD = 0.0175
#: Standard deviation of the per-band noise (reflectance units, 0–1), smooth across
#: neighbouring bands.
BAND_NOISE_SD = 0.002
_BAND_NOISE_CORRELATION_BANDS = 2.0
#: ct/s per unit of emitted light (reflectance units) summed over the bands and weighted by
#: wavelength (nm): chosen so that the demo's most fluorescent film (``FY25H``) reads about
#: 9,000 ct/s, the top of the real pp-inks range (GXT25H: 9,110 ct/s). The weakest, FY5,
#: then reads about 2,060 ct/s: emission is proportional, so 0 stays 0.
COUNTS_PER_EMITTED_PHOTON_NM = 10.15
#: Relative standard deviation of one fluorescence reading (3 %, about 150 ct/s at
#: 5,000 ct/s, the size of the real 8 µm / 12 µm differences' scatter).
FLUORESCENCE_NOISE_SD = 0.03


def _film_coefficients(concentrations: np.ndarray, colorants: tuple[Colorant, ...]) -> tuple[np.ndarray, np.ndarray]:
    unit_absorption = np.array([c.absorption for c in colorants])
    unit_scattering = np.array([c.scattering for c in colorants])
    return (
        concentrations @ unit_absorption + BINDER_ABSORPTION,
        concentrations @ unit_scattering + BINDER_SCATTERING,
    )


def simulate_reflectance(
    concentrations,
    thickness_um,
    *,
    colorants: tuple[Colorant, ...] = DEMO_COLORANTS,
    saunderson: tuple[float, float] | None = None,
) -> np.ndarray:
    """Noiseless reflectance of films on the demo backing.

    Parameters
    ----------
    concentrations : array_like, shape (n, k)
        Weight percent (0–100) of each of the k colorants, columns in ``colorants`` order.
    thickness_um : array_like, shape (n,)
        Dry film thickness in µm.
    colorants : tuple of Colorant
        The colorants of the columns of ``concentrations``.
    saunderson : (k1, k2) or None
        Apply Saunderson's surface correction with external reflectance k1 and internal
        reflectance k2 (typically (0.04, 0.6) for n ≈ 1.5), specular component excluded
        as in a 45°/0° instrument. None (the default, used for the demo) leaves the KM
        reflectance as is: the real instrument's calibrated plateau sits near 1.0,
        which the uncorrected model reproduces.

    Returns
    -------
    numpy.ndarray, shape (n, 31)
        Reflectance factor, 0–1; above 1 in the green for enough fluorescent loading.

    Notes
    -----
    Fluorescence: at each excitation band (below ``excitation_max_nm``) the fraction of
    light the film absorbs on a double pass, 1 − exp(−2KX), is shared among the
    colorants in proportion to their K. The fluorescent colorant's share, averaged
    over the excitation bands, saturates with loading and thickness by construction.
    The emission is that share times ``fluorescence_yield`` times the emission shape,
    attenuated by the film's own absorption at the emission wavelength over half its
    thickness (the mean depth of emission), so a green pigment mixed in quenches it.
    """
    concentrations, thickness_um = _check_films(concentrations, thickness_um, colorants)
    absorption, scattering = _film_coefficients(concentrations, colorants)
    reflectance = finite_film_reflectance(absorption, scattering, thickness_um, BACKING_REFLECTANCE)
    for emitted in _emissions(concentrations, thickness_um, colorants, absorption):
        reflectance = reflectance + emitted
    if saunderson is not None:
        # The emitted light leaves through the same surface, so the correction comes last.
        reflectance = saunderson_correction(reflectance, *saunderson)
    return reflectance


def _check_films(concentrations, thickness_um, colorants: tuple[Colorant, ...]) -> tuple[np.ndarray, np.ndarray]:
    concentrations = np.atleast_2d(np.asarray(concentrations, dtype=float))
    thickness_um = np.asarray(thickness_um, dtype=float).reshape(-1)
    if concentrations.shape[1] != len(colorants):
        raise ValueError(
            f"concentrations has {concentrations.shape[1]} columns; expected one per colorant "
            f"({[c.name for c in colorants]})."
        )
    if thickness_um.shape[0] != concentrations.shape[0]:
        raise ValueError(
            f"thickness_um has {thickness_um.shape[0]} values for {concentrations.shape[0]} recipes; expected one per recipe."
        )
    if np.any(concentrations < 0) or np.any(thickness_um <= 0):
        raise ValueError("concentrations must be ≥ 0 wt % and thickness_um > 0 µm.")
    return concentrations, thickness_um


def _emissions(concentrations: np.ndarray, thickness_um: np.ndarray, colorants: tuple[Colorant, ...], absorption: np.ndarray):
    """The emitted light of each fluorescent colorant, shape (n, 31), reflectance units (0–1)."""
    excitation_cache: dict[float, np.ndarray] = {}
    for index, colorant in enumerate(colorants):
        if colorant.emission is None or colorant.fluorescence_yield == 0.0:
            continue
        # The same emission term the fitted physics model uses (model.models.fluorescent_km).
        excitation = excitation_cache.setdefault(colorant.excitation_max_nm, excitation_bands(colorant.excitation_max_nm))
        emission = colorant.fluorescence_yield * colorant.emission
        yield fluorescence_emission(concentrations[:, index], colorant.absorption, absorption, thickness_um, emission, excitation)


def simulate_fluorescence_cts(concentrations, thickness_um, *, colorants: tuple[Colorant, ...] = DEMO_COLORANTS) -> np.ndarray:
    """Noiseless fluorescence intensity of films, in counts per second (ct/s), as a fluorometer reads it.

    A photon-counting detector counts the emitted photons: the count rate is proportional to
    the emitted spectral power weighted by wavelength, N ∝ ∫ Φ(λ) λ / (h c) dλ (Lakowicz,
    *Principles of Fluorescence Spectroscopy*, 3rd ed., Springer 2006, §2.1). Here Φ(λ) is
    the light each fluorescent colorant emits (:func:`simulate_reflectance`'s emission term,
    Kubelka–Munk absorption of the excitation band), summed over the 31 bands (10 nm
    steps) and scaled by :data:`COUNTS_PER_EMITTED_PHOTON_NM` so that the demo films span
    the real pp-inks range of about 1,000–9,000 ct/s.

    Parameters
    ----------
    concentrations : array_like, shape (n, k)
        Weight percent (0–100) of each colorant, columns in ``colorants`` order.
    thickness_um : array_like, shape (n,)
        Dry film thickness in µm.
    colorants : tuple of Colorant

    Returns
    -------
    numpy.ndarray, shape (n,)
        ct/s ≥ 0; exactly 0 for a film without a fluorescent colorant.
    """
    concentrations, thickness_um = _check_films(concentrations, thickness_um, colorants)
    absorption, _ = _film_coefficients(concentrations, colorants)
    emitted = np.zeros((concentrations.shape[0], len(_WAVELENGTHS)))
    for emission in _emissions(concentrations, thickness_um, colorants, absorption):
        emitted = emitted + emission
    return COUNTS_PER_EMITTED_PHOTON_NM * (emitted @ _WAVELENGTHS)


def measure_fluorescence(fluorescence_cts, rng: np.random.Generator, *, relative_sd: float = FLUORESCENCE_NOISE_SD) -> np.ndarray:
    """One fluorometer reading of each film: a relative error, rounded to 10 ct/s as the lab writes it.

    Parameters
    ----------
    fluorescence_cts : array_like, shape (n,)
        True intensity, ct/s ≥ 0.
    rng : numpy.random.Generator
    relative_sd : float
        Relative standard deviation of one reading. The error is multiplicative (placement
        and lamp drift scale the whole signal), so a film that does not fluoresce reads 0.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ct/s, multiples of 10, ≥ 0.
    """
    fluorescence_cts = np.asarray(fluorescence_cts, dtype=float).reshape(-1)
    reading = fluorescence_cts * (1.0 + relative_sd * rng.standard_normal(fluorescence_cts.shape))
    return np.round(np.clip(reading, 0.0, None), -1)


def measure(
    reflectance,
    rng: np.random.Generator,
    *,
    gain_sd: float = GAIN_NOISE_SD,
    band_sd: float = BAND_NOISE_SD,
) -> np.ndarray:
    """One instrument reading of each spectrum: a per-reading gain and per-band noise.

    Parameters
    ----------
    reflectance : array_like, shape (n, 31)
        True reflectance factor, 0–1.
    rng : numpy.random.Generator
        Source of randomness (pass a seeded generator for reproducible data).
    gain_sd : float
        Relative standard deviation of the gain of one reading (illumination and
        placement: the whole spectrum scales together, the dominant error of a
        handheld 45°/0° instrument).
    band_sd : float
        Standard deviation of the per-band noise, reflectance units (0–1). The noise
        is correlated over about two neighbouring bands, so spectra stay smooth.

    Returns
    -------
    numpy.ndarray, shape (n, 31)
        Measured reflectance factor, 0–1 (may exceed 1).
    """
    reflectance = np.atleast_2d(np.asarray(reflectance, dtype=float))
    gain = 1.0 + gain_sd * rng.standard_normal((reflectance.shape[0], 1))
    band_noise = rng.standard_normal(reflectance.shape) @ _band_noise_smoother(reflectance.shape[1]).T
    return reflectance * gain + band_sd * band_noise


def _band_noise_smoother(n_bands: int) -> np.ndarray:
    """Rows of a Gaussian kernel (σ = 2 bands) scaled to keep unit variance per band.

    A real instrument reports smooth spectra (its optics and processing correlate
    neighbouring bands), so its band-to-band noise is smooth too, not white.
    """
    offsets = np.arange(n_bands)[:, None] - np.arange(n_bands)[None, :]
    kernel = np.exp(-0.5 * (offsets / _BAND_NOISE_CORRELATION_BANDS) ** 2)
    return kernel / np.sqrt(np.sum(kernel**2, axis=1, keepdims=True))


def repeatability_delta_e00(reflectance, rng: np.random.Generator, **noise) -> np.ndarray:
    """ΔE00 between two independent readings of each spectrum.

    Parameters
    ----------
    reflectance : array_like, shape (n, 31)
        True reflectance factor, 0–1.
    rng : numpy.random.Generator
    **noise
        Passed to :func:`measure` (``gain_sd``, ``band_sd``).

    Returns
    -------
    numpy.ndarray, shape (n,)
        CIEDE2000 between reading one and reading two of each spectrum.
    """
    first = colorimetry.reflectance_to_Lab(measure(reflectance, rng, **noise))
    second = colorimetry.reflectance_to_Lab(measure(reflectance, rng, **noise))
    return colorimetry.delta_E00(first, second)


def simulate_dataset(
    recipes: pd.DataFrame,
    *,
    colorants: tuple[Colorant, ...] = DEMO_COLORANTS,
    rng: np.random.Generator | None = None,
    name: str = "simulated",
    fluorescence: bool = False,
) -> Dataset:
    """Simulated measurements of recipes, as a :class:`Dataset`.

    Parameters
    ----------
    recipes : pandas.DataFrame
        One row per measurement: a column per colorant name (wt %) and
        ``thickness_um`` (µm); ``sample_id`` and ``recipe_id`` are used if present,
        otherwise made up from the row number.
    colorants : tuple of Colorant
    rng : numpy.random.Generator or None
        Noise source for :func:`measure`; None gives noiseless spectra.
    name : str
        Dataset name.
    fluorescence : bool
        Also give every film a fluorescence reading, ``fluorescence_cts`` (ct/s,
        :func:`simulate_fluorescence_cts`; read with :func:`measure_fluorescence` after the
        spectra when ``rng`` is given, so the spectra are the same either way).

    Returns
    -------
    Dataset
        Reflectance 0–1 (may exceed 1), ``source`` set to ``"simulated"``.
    """
    names = [c.name for c in colorants]
    missing = [c for c in [*names, THICKNESS_COLUMN] if c not in recipes.columns]
    if missing:
        raise ValueError(f"recipes lacks columns {missing}; expected {[*names, THICKNESS_COLUMN]}.")
    reflectance = simulate_reflectance(
        recipes[names].to_numpy(dtype=float), recipes[THICKNESS_COLUMN].to_numpy(dtype=float), colorants=colorants
    )
    if rng is not None:
        reflectance = measure(reflectance, rng)
    table = recipes.reset_index(drop=True).copy()
    if RECIPE_ID_COLUMN not in table.columns:
        table[RECIPE_ID_COLUMN] = [f"R{i + 1}" for i in range(len(table))]
    if SAMPLE_ID_COLUMN not in table.columns:
        table[SAMPLE_ID_COLUMN] = table[RECIPE_ID_COLUMN].astype(str)
    table[SOURCE_COLUMN] = "simulated"
    table = pd.concat([table, pd.DataFrame(reflectance, columns=BAND_COLUMNS)], axis=1)
    if fluorescence:
        fluorescence_cts = simulate_fluorescence_cts(
            recipes[names].to_numpy(dtype=float), recipes[THICKNESS_COLUMN].to_numpy(dtype=float), colorants=colorants
        )
        table[FLUORESCENCE_COLUMN] = fluorescence_cts if rng is None else measure_fluorescence(fluorescence_cts, rng)
    return Dataset(table, tuple(names), name)


