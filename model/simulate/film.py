"""A physics simulator of pigmented films, and the synthetic demo data it produces.

The demo dataset that ships with Huecast is made here, so that a new user sees a
working app without real data. It imitates the real pp-inks measurements: films of
five colorants in a binder on a white polypropylene backing, each recipe drawn down at
8 µm and 12 µm, read by a handheld spectrophotometer and exported in that
instrument's library format, next to a recipe table.

The optics are Kubelka–Munk (:func:`model.models.physics.finite_film_reflectance`) plus a
fluorescence term: the fluorescent yellow re-emits part of the blue light it absorbs
in the green, so its films reflect more than 1 there, as the real GXT-10 films do.
Measurement noise is a per-reading gain plus a small per-band term, calibrated so two
readings of one film differ by about 0.5 ΔE00 (see :func:`repeatability_delta_e00`).

Scales
------
- reflectance: factor, 0–1 (may exceed 1 for the fluorescent colorant);
- concentrations: weight percent, 0–100;
- thickness: µm; unit K and S: per µm per wt %; binder K and S: per µm.

Run ``python -m model.simulate.film --out data/demo --seed 2026`` to regenerate the demo.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.core import colorimetry
from model.core.schema import (
    BAND_COLUMNS,
    RECIPE_ID_COLUMN,
    SAMPLE_ID_COLUMN,
    SOURCE_COLUMN,
    THICKNESS_COLUMN,
    WAVELENGTHS_NM,
    Dataset,
)
from model.models.physics import finite_film_reflectance

__all__ = [
    "Colorant",
    "DEMO_COLORANTS",
    "BACKING_REFLECTANCE",
    "BINDER_ABSORPTION",
    "BINDER_SCATTERING",
    "GAIN_NOISE_SD",
    "BAND_NOISE_SD",
    "THIN_FILM_UM",
    "THICK_FILM_UM",
    "simulate_reflectance",
    "measure",
    "repeatability_delta_e00",
    "demo_recipes",
    "demo_measurement_plan",
    "simulate_dataset",
    "write_demo",
    "main",
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

    absorption, scattering = _film_coefficients(concentrations, colorants)
    reflectance = finite_film_reflectance(absorption, scattering, thickness_um, BACKING_REFLECTANCE)

    X = thickness_um[:, None]
    absorbed_fraction = 1.0 - np.exp(-2.0 * absorption * X)
    for index, colorant in enumerate(colorants):
        if colorant.emission is None or colorant.fluorescence_yield == 0.0:
            continue
        excitation = _WAVELENGTHS < colorant.excitation_max_nm
        share = concentrations[:, [index]] * colorant.absorption / absorption
        absorbed_by_colorant = np.mean((share * absorbed_fraction)[:, excitation], axis=1, keepdims=True)
        escape = np.exp(-absorption * X / 2.0)
        reflectance = reflectance + colorant.fluorescence_yield * absorbed_by_colorant * colorant.emission * escape
    if saunderson is not None:
        # The emitted light leaves through the same surface, so the correction comes last.
        k1, k2 = saunderson
        reflectance = (1.0 - k1) * (1.0 - k2) * reflectance / (1.0 - k2 * reflectance)
    return reflectance


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


# ------------------------------------------------------------------ recipe design

# Ladders and mixtures in the manner of the real pp-inks design: single-pigment ladders
# of five levels, fluorescent-yellow-led binaries and ternaries, a few four- and
# five-colorant mixes. A few levels are odd numbers, as weighed-out recipes are.
# Each entry: recipe name → {colorant: wt %}.
_LADDERS = {
    # prefix: (colorant, [(nominal level in the name, weighed-out wt %), ...])
    "FY": ("FluoYellow", [(5, 5), (10, 10), (15, 15), (20, 20), (25, 25)]),
    "BV": ("BiVaYellow", [(1, 1), (2, 2), (5, 5), (10, 10), (20, 20)]),
    "PG": ("PhthaloGreen", [(0.5, 0.5467), (0.75, 0.739), (1, 0.995), (1.5, 1.475), (2, 2.01)]),
    "BLUE": ("PearlBlue", [(1, 0.99625), (2, 2.03), (3, 2.991), (5, 3.75), (8, 6.02)]),
    "QM": ("QuinMagenta", [(0.5, 0.5), (1, 1), (2, 2), (3, 3.02), (5, 5)]),
}
_MIXTURES: list[dict[str, float]] = [
    # binaries
    {"FluoYellow": 10, "BiVaYellow": 5},
    {"FluoYellow": 15, "BiVaYellow": 3},
    {"FluoYellow": 20, "BiVaYellow": 10},
    {"FluoYellow": 25, "BiVaYellow": 2},
    {"FluoYellow": 15.007, "PhthaloGreen": 0.448},
    {"FluoYellow": 14.83, "PhthaloGreen": 0.984},
    {"FluoYellow": 22, "PhthaloGreen": 1.5},
    {"FluoYellow": 14.88, "PearlBlue": 0.974},
    {"FluoYellow": 14.3, "PearlBlue": 3},
    {"FluoYellow": 20, "QuinMagenta": 1},
    {"BiVaYellow": 10, "PhthaloGreen": 1},
    {"BiVaYellow": 5, "PearlBlue": 5},
    {"BiVaYellow": 10, "QuinMagenta": 2},
    {"PearlBlue": 5, "QuinMagenta": 2},
    {"PhthaloGreen": 1, "QuinMagenta": 1.5},
    # ternaries
    {"FluoYellow": 14.8, "BiVaYellow": 4.72, "PhthaloGreen": 0.98},
    {"FluoYellow": 14.8, "BiVaYellow": 5.049, "PearlBlue": 2.91},
    {"FluoYellow": 20, "BiVaYellow": 5, "QuinMagenta": 0.8},
    {"FluoYellow": 22, "PhthaloGreen": 0.5, "PearlBlue": 3},
    {"BiVaYellow": 15, "QuinMagenta": 3, "PearlBlue": 1},
    {"FluoYellow": 10, "PearlBlue": 6, "QuinMagenta": 0.5},
    {"BiVaYellow": 12, "PearlBlue": 4, "PhthaloGreen": 0.75},
    # four and five colorants
    {"FluoYellow": 19.96, "BiVaYellow": 5.949, "PhthaloGreen": 0.978, "PearlBlue": 3.03},
    {"FluoYellow": 22, "BiVaYellow": 5, "PearlBlue": 9, "QuinMagenta": 0.6},
    {"FluoYellow": 12, "BiVaYellow": 8, "PhthaloGreen": 0.6, "QuinMagenta": 1.2},
    {"FluoYellow": 18, "BiVaYellow": 6, "PhthaloGreen": 1.2, "PearlBlue": 2, "QuinMagenta": 0.4},
]
#: Recipes read a second time at 8 µm, as OPTI15 was in the real data.
_DUPLICATED_RECIPES = ("MIX9", "BV5", "MIX23")
#: Export names that differ from the recipe table at the normalisation level only
#: (an underscore or a space), so the demo exercises the name matcher.
_EXPORT_NAME_OVERRIDES = {"BLUE1": "BLUE_1"}
_TABLE_NAME_OVERRIDES = {"MIX7": "MIX 7"}


def demo_recipes(colorants: tuple[Colorant, ...] = DEMO_COLORANTS) -> pd.DataFrame:
    """The demo recipe design: one row per recipe, independent of thickness.

    Parameters
    ----------
    colorants : tuple of Colorant
        Must include the five demo colorant names.

    Returns
    -------
    pandas.DataFrame
        ``recipe_id`` then one column per colorant (wt %): 25 ladder recipes (five
        colorants × five levels) and 26 mixtures of two to five colorants
        (``MIX1`` … ``MIX26``).
    """
    names = [c.name for c in colorants]
    needed = {colorant for colorant, _ in _LADDERS.values()} | {c for mixture in _MIXTURES for c in mixture}
    if needed - set(names):
        raise ValueError(f"demo_recipes needs the demo colorants; missing {sorted(needed - set(names))}.")
    rows = []
    for prefix, (colorant, levels) in _LADDERS.items():
        # Ladder names carry the nominal level, as the real names do (PG0.75 holds 0.739 %).
        for nominal, weighed in levels:
            rows.append({RECIPE_ID_COLUMN: f"{prefix}{nominal:g}", colorant: float(weighed)})
    for number, mixture in enumerate(_MIXTURES, start=1):
        rows.append({RECIPE_ID_COLUMN: f"MIX{number}", **mixture})
    table = pd.DataFrame(rows, columns=[RECIPE_ID_COLUMN, *names]).fillna(0.0)
    return table


def demo_measurement_plan(colorants: tuple[Colorant, ...] = DEMO_COLORANTS) -> pd.DataFrame:
    """Every demo measurement: each recipe at 8 and 12 µm, plus the duplicate readings.

    Returns
    -------
    pandas.DataFrame
        ``sample_id`` (the name in the export: a trailing ``H`` for 12 µm),
        ``recipe_id``, the colorant columns (wt %) and ``thickness_um`` (µm), in the
        order the readings are taken: the 8 µm ladders, then the 12 µm ladders, then
        each mixture at 8 and 12 µm, then the repeat readings.
    """
    recipes = demo_recipes(colorants)
    is_ladder = ~recipes[RECIPE_ID_COLUMN].str.startswith("MIX")
    blocks = []
    for thickness, suffix in ((THIN_FILM_UM, ""), (THICK_FILM_UM, "H")):
        block = recipes[is_ladder].assign(**{THICKNESS_COLUMN: thickness})
        blocks.append(block.assign(**{SAMPLE_ID_COLUMN: block[RECIPE_ID_COLUMN] + suffix}))
    for _, mixture in recipes[~is_ladder].iterrows():
        for thickness, suffix in ((THIN_FILM_UM, ""), (THICK_FILM_UM, "H")):
            row = mixture.to_frame().T.assign(**{THICKNESS_COLUMN: thickness})
            blocks.append(row.assign(**{SAMPLE_ID_COLUMN: row[RECIPE_ID_COLUMN] + suffix}))
    repeats = recipes[recipes[RECIPE_ID_COLUMN].isin(_DUPLICATED_RECIPES)].assign(**{THICKNESS_COLUMN: THIN_FILM_UM})
    blocks.append(repeats.assign(**{SAMPLE_ID_COLUMN: repeats[RECIPE_ID_COLUMN]}))
    plan = pd.concat(blocks, ignore_index=True)
    names = [c.name for c in colorants]
    plan[names] = plan[names].astype(float)
    plan[SAMPLE_ID_COLUMN] = plan[SAMPLE_ID_COLUMN].replace(_EXPORT_NAME_OVERRIDES)
    return plan[[SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *names, THICKNESS_COLUMN]]


def simulate_dataset(
    recipes: pd.DataFrame,
    *,
    colorants: tuple[Colorant, ...] = DEMO_COLORANTS,
    rng: np.random.Generator | None = None,
    name: str = "simulated",
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
    return Dataset(table, tuple(names), name)


# ---------------------------------------------------------------- export writing

_EXPORT_HEADER = (
    "Index;Original Library Name;Saved Collection Name;Original Color Name;User Color Name;Scan Type;"
    "DE00 to Scan;Match Degree;Scan Reference Index;Nix Device;Note;Date Saved;Illuminant;Observer;"
    "Measurement Mode;L;a;b;L;c;h;X;Y;Z;sRGB R;sRGB G;sRGB B;HEX;Density Status;Density C;Density M;"
    "Density Y;Density K;" + ";".join(f"R{int(w)} nm" for w in WAVELENGTHS_NM)
)
_DEVICE_NAME = "Simulated Spectro"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _export_number(value: float) -> str:
    """The instrument's number format: 9 significant digits, unpadded exponent (``9.75997226e+1``)."""
    mantissa, exponent = f"{value:.8e}".split("e")
    return f"{mantissa}e{exponent[0]}{int(exponent[1:])}"


def _export_date(moment: dt.datetime) -> str:
    """``Mon Oct 27 2025 12:43:48 GMT+0000 (Coordinated Universal Time)``, locale-independent."""
    return (
        f"{_WEEKDAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:02d} {moment.year} "
        f"{moment:%H:%M:%S} GMT+0000 (Coordinated Universal Time)"
    )


def _percent(value: float) -> str:
    """A recipe-table cell, ``0.99625%``: shortest exact decimal, as the lab writes it."""
    return np.format_float_positional(float(value), trim="-") + "%"


def _scan_times(count: int, rng: np.random.Generator) -> list[dt.datetime]:
    """Reading times: sessions of about 20 readings on weekdays, 15–60 s apart."""
    moment = dt.datetime(2026, 1, 12, 10, 0, 0)
    times = []
    for index in range(count):
        if index and index % 20 == 0:
            moment = (moment + dt.timedelta(days=1)).replace(hour=10, minute=0, second=0)
            while moment.weekday() >= 5:
                moment += dt.timedelta(days=1)
            moment += dt.timedelta(minutes=int(rng.integers(0, 300)))
        moment += dt.timedelta(seconds=int(rng.integers(15, 61)))
        times.append(moment)
    return times


def _export_text(plan: pd.DataFrame, reflectance: np.ndarray, rng: np.random.Generator) -> str:
    Lab = colorimetry.reflectance_to_Lab(reflectance)
    LCh = colorimetry.Lab_to_LCh(Lab)
    XYZ = colorimetry.reflectance_to_XYZ(reflectance) / 100.0  # the export states XYZ on a 0–1 scale
    sRGB, _ = colorimetry.Lab_to_sRGB(Lab)
    sRGB_codes = np.round(sRGB * 255).astype(int)
    hex_codes = np.atleast_1d(colorimetry.sRGB_to_hex(sRGB))
    times = _scan_times(len(plan), rng)
    export_time = times[-1] + dt.timedelta(hours=2)
    lines = [
        "sep=;",
        f"Export Date/Time;{_export_date(export_time)},User Email;-,Saved Library Name;MASTER",
        "Exported From; Saved Library",
        _EXPORT_HEADER,
    ]
    for row in range(len(plan)):
        colour_columns = [*Lab[row], *LCh[row], *XYZ[row]]
        fields = [
            str(row + 1),
            '"-"',
            '"MASTER"',
            '"-"',
            f'"{plan[SAMPLE_ID_COLUMN].iloc[row]}"',
            "Scan",
            '"-"',
            '"-"',
            '"-"',
            _DEVICE_NAME,
            '"-"',
            _export_date(times[row]),
            "D65",
            "10",
            "M2",
            *(_export_number(v) for v in colour_columns),
            *(str(v) for v in sRGB_codes[row]),
            str(hex_codes[row]),
            "undefined",
            "-",
            "-",
            "-",
            "-",
            *(_export_number(v) for v in reflectance[row]),
        ]
        lines.append(";".join(fields))
    return "\n".join(lines) + "\n"


def _recipe_table_text(recipes: pd.DataFrame, colorant_names: list[str]) -> str:
    lines = [",".join(["Sample ID", *(f"{name} (%)" for name in colorant_names)])]
    for _, recipe in recipes.iterrows():
        name = _TABLE_NAME_OVERRIDES.get(recipe[RECIPE_ID_COLUMN], recipe[RECIPE_ID_COLUMN])
        lines.append(",".join([name, *(_percent(recipe[c]) for c in colorant_names)]))
    return "\n".join(lines) + "\n"


def write_demo(out_dir, seed: int = 2026) -> dict[str, Path]:
    """Write the synthetic demo: an instrument export and its recipe table.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder to write into (created if absent). Existing files are overwritten.
    seed : int
        Seed of the measurement noise and reading times. The same seed writes
        byte-identical files.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"spectra": …/Spectra.csv, "concentrations": …/Concentrations.csv}``.

    Notes
    -----
    ``Spectra.csv`` follows the real instrument export: a ``sep=;`` line, two metadata
    lines, a ``;``-separated table with the sample name in ``User Color Name``,
    CIELAB (D65, 10°) computed from the spectrum, XYZ on a 0–1 scale, sRGB and
    ``R400 nm`` … ``R700 nm``. ``Concentrations.csv`` has ``Sample ID`` and one
    ``<colorant> (%)`` column per colorant with values such as ``0.99625%``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [c.name for c in DEMO_COLORANTS]
    plan = demo_measurement_plan()
    true_reflectance = simulate_reflectance(plan[names].to_numpy(), plan[THICKNESS_COLUMN].to_numpy())
    measured = measure(true_reflectance, rng)
    paths = {"spectra": out_dir / "Spectra.csv", "concentrations": out_dir / "Concentrations.csv"}
    # newline="\n" so the bytes are the same on every platform.
    paths["spectra"].write_text(_export_text(plan, measured, rng), encoding="utf-8", newline="\n")
    paths["concentrations"].write_text(_recipe_table_text(demo_recipes(), names), encoding="utf-8", newline="\n")
    return paths


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m model.simulate.film --out data/demo --seed 2026``."""
    parser = argparse.ArgumentParser(description="Write Huecast's synthetic demo data (instrument export + recipe table).")
    parser.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    parser.add_argument("--seed", type=int, default=2026, help="noise seed (default: 2026)")
    parser.add_argument(
        "--report", action="store_true", help="also print the simulated instrument repeatability (mean ΔE00)"
    )
    args = parser.parse_args(argv)
    paths = write_demo(args.out, seed=args.seed)
    plan = demo_measurement_plan()
    print(
        f"Wrote {paths['spectra']} ({len(plan)} readings) and {paths['concentrations']} "
        f"({len(demo_recipes())} recipes)."
    )
    if args.report:
        names = [c.name for c in DEMO_COLORANTS]
        truth = simulate_reflectance(plan[names].to_numpy(), plan[THICKNESS_COLUMN].to_numpy())
        delta = repeatability_delta_e00(np.repeat(truth, 400, axis=0), np.random.default_rng(args.seed))
        print(f"Repeatability between two readings: mean ΔE00 {delta.mean():.3f}, median {np.median(delta):.3f}.")


if __name__ == "__main__":
    main()
