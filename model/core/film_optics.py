"""Kubelka–Munk film optics as plain numpy: the forward arithmetic of Huecast's physics.

The fitted physics models (:mod:`model.models.physics`, :mod:`model.models.fluorescent_km`)
and the serving snapshot (:mod:`model.models.snapshot`) all predict through these
functions, so a film's reflectance is computed one way wherever it is asked for. Only
numpy is imported: serving a prediction does not need scikit-learn or SciPy.

- :func:`finite_film_reflectance`: Kubelka's (1948) hyperbolic solution for a film of
  finite thickness over a backing, with Duncan's (1940) additive K and S;
- :func:`fluorescence_emission`: the single-pass emission of a fluorescent colorant
  (after Allen 1964 and Fukshansky & Kazarinova 1980);
- :func:`saunderson`: Saunderson's (1942) surface correction;
- :func:`fluorescent_film_reflectance`: the three together, as
  :class:`~model.models.fluorescent_km.FluorescentKubelkaMunkModel` predicts a film.

Scales
------
- reflectance: factor, 0–1 (may exceed 1 for fluorescent films);
- concentrations: weight percent, 0–100; thickness: µm;
- K and S of a film: per µm; unit k and s of a colorant: per µm per wt %.

References
----------
Kubelka, P. (1948). New contributions to the optics of intensely light-scattering
materials. Part I. *J. Opt. Soc. Am.* 38(5), 448–457.
Duncan, D. R. (1940). The colour of pigment mixtures. *Proc. Phys. Soc.* 52, 390–401.
Saunderson, J. L. (1942). Calculation of the color of pigmented plastics. *J. Opt.
Soc. Am.* 32(12), 727–736.
Allen, E. (1964). Fluorescent white dyes: calculation of fluorescence from
reflectivity values. *J. Opt. Soc. Am.* 54(4), 506–515.
Fukshansky, L., Kazarinova, N. (1980). Extension of the Kubelka–Munk theory of light
propagation in intensely scattering materials to fluorescent media. *J. Opt. Soc. Am.*
70(9), 1101–1111.
"""

from __future__ import annotations

import numpy as np

from model.core.schema import WAVELENGTHS_NM

__all__ = ["finite_film_reflectance", "excitation_bands", "fluorescence_emission", "saunderson", "fluorescent_film_reflectance"]

# Below this optical thickness tanh(z)/z is replaced by its series, because the plain
# quotient is 0/0 for a film that neither absorbs nor scatters.
_SMALL_OPTICAL_THICKNESS = 1e-4


def _tanh_over_argument(z: np.ndarray) -> np.ndarray:
    """tanh(z) / z, equal to 1 at z = 0 and stable near it."""
    z = np.asarray(z, dtype=float)
    safe = np.where(z < _SMALL_OPTICAL_THICKNESS, 1.0, z)
    return np.where(z < _SMALL_OPTICAL_THICKNESS, 1.0 - z * z / 3.0, np.tanh(safe) / safe)


def finite_film_reflectance(absorption, scattering, thickness_um, backing_reflectance) -> np.ndarray:
    """Reflectance of a Kubelka–Munk film of finite thickness over a backing.

    Parameters
    ----------
    absorption : array_like, shape (..., bands)
        K of the film, per µm, ≥ 0.
    scattering : array_like, shape (..., bands)
        S of the film, per µm, ≥ 0.
    thickness_um : array_like, shape (...) or broadcastable to ``absorption``
        Film thickness X in µm. A 1-D array of n thicknesses is applied to n rows.
    backing_reflectance : array_like, shape (bands,) or (..., bands)
        Reflectance Rg of what lies under the film, 0–1.

    Returns
    -------
    numpy.ndarray
        Reflectance factor of the film on its backing, 0–1, same shape as ``absorption``.

    Notes
    -----
    With a = 1 + K/S and b = √(a² − 1), Kubelka's hyperbolic solution is
    R = (1 − Rg(a − b coth bSX)) / (a − Rg + b coth bSX). Written with α = K + S,
    β = √(K(K + 2S)) and T = tanh(βX)/β, it becomes

        R = ((S − α Rg) T + Rg) / ((α − S Rg) T + 1),

    which is finite for S = 0 (Beer–Lambert, R → Rg e^(−2KX)), for K = 0 (pure
    scattering) and for K = S = 0 (R = Rg), and does not overflow for thick films.

    Examples
    --------
    >>> float(finite_film_reflectance(0.0, 0.0, 10.0, 0.8))
    0.8
    """
    K = np.asarray(absorption, dtype=float)
    S = np.asarray(scattering, dtype=float)
    X = np.asarray(thickness_um, dtype=float)
    if X.ndim == 1 and K.ndim == 2:
        X = X[:, None]
    Rg = np.asarray(backing_reflectance, dtype=float)
    alpha = K + S
    beta = np.sqrt(K * (K + 2.0 * S))
    T = X * _tanh_over_argument(beta * X)
    return ((S - alpha * Rg) * T + Rg) / ((alpha - S * Rg) * T + 1.0)


def excitation_bands(excitation_max_nm: float) -> np.ndarray:
    """Boolean mask of the bands (400–700 nm) whose absorbed light excites fluorescence."""
    return WAVELENGTHS_NM < excitation_max_nm


def fluorescence_emission(concentration, unit_absorption, absorption, thickness_um, emission, excitation) -> np.ndarray:
    """Reflectance added by one fluorescent colorant's emission (see the module notes).

    Parameters
    ----------
    concentration : array_like, shape (n,)
        The colorant's weight percent in each film.
    unit_absorption : array_like, shape (31,)
        Its unit k(λ), per µm per wt %.
    absorption : array_like, shape (n, 31)
        The film's total K(λ), per µm (binder and every colorant).
    thickness_um : array_like, shape (n,)
        Film thickness in µm.
    emission : array_like, shape (31,)
        Emission spectrum e(λ) ≥ 0, reflectance units per unit of absorbed excitation.
    excitation : array_like of bool, shape (31,)
        The excitation bands.

    Returns
    -------
    numpy.ndarray, shape (n, 31)
        Emitted light as a reflectance factor (0–1 scale), ≥ 0.
    """
    X = np.asarray(thickness_um, dtype=float).reshape(-1, 1)
    absorption = np.asarray(absorption, dtype=float)
    share = np.asarray(concentration, dtype=float).reshape(-1, 1) * np.asarray(unit_absorption) / absorption
    absorbed = np.mean((share * (1.0 - np.exp(-2.0 * absorption * X)))[:, excitation], axis=1, keepdims=True)
    return absorbed * np.asarray(emission) * np.exp(-absorption * X / 2.0)


def saunderson(internal_reflectance, k1: float, k2: float) -> np.ndarray:
    """Saunderson's (1942) surface correction: internal reflectance → measured reflectance factor.

    ``k1`` is the external and ``k2`` the internal reflectance of the film's surface (0–1;
    about 0.04 and 0.6 for a resin of refractive index 1.5), specular component excluded.
    """
    R = np.asarray(internal_reflectance, dtype=float)
    return (1.0 - k1) * (1.0 - k2) * R / (1.0 - k2 * R)


def fluorescent_film_reflectance(
    X, unit_absorption, unit_scattering, binder_absorption, binder_scattering, scattering_exponent, substrate_reflectance,
    emission, fluorescent_index, excitation, surface,
) -> np.ndarray:
    """Measured reflectance factor of fluorescent Kubelka–Munk films (see :mod:`model.models.fluorescent_km`).

    K = K_binder + Σ c_i k_i and S = S_binder + Σ c_i^γ_i s_i (Duncan 1940, with the
    fitted exponent γ_i); Kubelka's (1948) finite film over the substrate; plus the
    emission of each fluorescent colorant (Allen 1964; Fukshansky & Kazarinova 1980);
    then Saunderson's (1942) surface correction.

    Parameters
    ----------
    X : array_like, shape (n, colorants + 1)
        Colorants in wt %, then the thickness in µm.
    unit_absorption, unit_scattering : array_like, shape (colorants, 31)
        Unit k and s of each colorant, per µm per wt %.
    binder_absorption, binder_scattering : array_like, shape (31,)
        K and S of the binder, per µm.
    scattering_exponent : array_like, shape (colorants,)
        γ_i of each colorant's scattering (1: Duncan's linear law).
    substrate_reflectance : array_like, shape (31,)
        Rg, 0–1.
    emission : array_like, shape (fluorescent, 31)
        Emission spectrum of each fluorescent colorant, reflectance units.
    fluorescent_index : sequence of int
        Column of each fluorescent colorant in X, in the order of ``emission``'s rows.
    excitation : array_like of bool, shape (31,)
        The excitation bands (:func:`excitation_bands`).
    surface : (k1, k2)
        Saunderson's external and internal surface reflectance.

    Returns
    -------
    numpy.ndarray, shape (n, 31)
        Reflectance factor, may exceed 1.
    """
    X = np.asarray(X, dtype=float)
    C, thickness = X[:, :-1], X[:, -1]
    K = C @ unit_absorption + binder_absorption
    S = (C ** np.asarray(scattering_exponent, dtype=float)) @ unit_scattering + binder_scattering
    internal = finite_film_reflectance(K, S, thickness, substrate_reflectance)
    for slot, j in enumerate(fluorescent_index):
        internal = internal + fluorescence_emission(C[:, j], unit_absorption[j], K, thickness, emission[slot], excitation)
    k1, k2 = surface
    return saunderson(internal, k1, k2)
