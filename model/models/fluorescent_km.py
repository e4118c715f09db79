"""A fluorescent Kubelka–Munk film: the physics backbone of Huecast's colour models.

A pigmented film of thickness X (µm) lies over a substrate of reflectance Rg(λ). At
each band the film absorbs (K, per µm) and scatters (S, per µm), and each colorant
adds to both in proportion to its weight percent (Duncan 1940)::

    K = K_binder + Σ c_i k_i(λ),        S = S_binder + Σ c_i^γ_i s_i(λ).

Duncan's additivity is linear in c for absorption (Beer–Lambert). Scattering is linear
only in the dilute limit: at the loadings of real inks the particles' scattering
interacts (dependent scattering, and flake orientation for pearlescent pigments), so S
departs from proportionality (Kortüm 1969, ch. IV). A fitted exponent γ_i per colorant,
bounded to [0.5, 2], is the simplest form of that departure. A ridge on γ_i − 1 holds it
at Duncan's linear law unless the data insist: an exponent free to roam fits the
interior recipes better but extrapolates worse (on pp-inks it went to the bound for
three pigments), while held near 1 only the pearlescent PearlB moves (to about 1.5), the
leave-recipe-out p95 ΔE00 of the physics falls from 2.60 to 2.44, and extrapolation to
the ladder ends does not suffer (README, Accuracy). ``scattering_exponent=1.0`` gives
the linear law.

Kubelka's (1948) closed form gives the reflectance R_KM of the finite film over its
substrate (:func:`model.core.film_optics.finite_film_reflectance`). A fluorescent
colorant j adds an emission term (after the two-flux fluorescence treatment of
Allen 1964 and Fukshansky & Kazarinova 1980, in its single-pass, no-re-excitation
limit)::

    a_j = mean over excitation bands λ' of  c_j k_j(λ') / K(λ') · (1 − exp(−2 K(λ') X))
    F(λ) = Σ_j a_j · e_j(λ) · exp(−K(λ) X / 2)

a_j is the fraction of the excitation light the colorant itself absorbs (its share
of the film's absorption times the film's double-pass absorptance); e_j(λ) ≥ 0 is a
fitted emission spectrum (quantum yield, Stokes shift and escape geometry in one);
the last factor is self-absorption of the emitted light on its way out from the mean
depth X/2. The film's internal reflectance is R_KM + F, and a Saunderson (1942)
correction at the film's surface gives the measured reflectance factor::

    R = (1 − k1)(1 − k2) R_int / (1 − k2 R_int),

with k1 the external and k2 the internal surface reflectance (specular excluded, as
a 45°/0° instrument reads). R may exceed 1, as fluorescent films do.

All bands and all constants (k_i, s_i, binder K and S, Rg, e_j, and k1, k2 when
fitted) are fitted at once by bounded least squares with an analytic Jacobian,
plus small ridge and band-to-band smoothness penalties. The default solver is a
projected Levenberg–Marquardt with an active set (Kanzow, Yamashita & Fukushima 2004)
on the normal equations, which are small (a few hundred unknowns): on the real data it
reaches a lower cost in 0.4 s than ``scipy.optimize.least_squares`` (trust-region
reflective, ``solver="trf"``, kept for comparison) does in 4–8 s, whose iterative
inner solver dominates on this shape of problem.

Scales
------
- reflectance: factor, 0–1 (may exceed 1 for fluorescent films);
- concentrations: weight percent, 0–100; thickness: µm;
- unit k_i, s_i: per µm per wt %; binder K and S: per µm; e_j: reflectance units.

References
----------
Kubelka, P. (1948). New contributions to the optics of intensely light-scattering
materials. Part I. *J. Opt. Soc. Am.* 38(5), 448–457.
Saunderson, J. L. (1942). Calculation of the color of pigmented plastics. *J. Opt.
Soc. Am.* 32(12), 727–736.
Duncan, D. R. (1940). The colour of pigment mixtures. *Proc. Phys. Soc.* 52, 390–401.
Allen, E. (1964). Fluorescent white dyes: calculation of fluorescence from
reflectivity values. *J. Opt. Soc. Am.* 54(4), 506–515.
Kanzow, C., Yamashita, N., Fukushima, M. (2004). Levenberg–Marquardt methods with
strong local convergence properties for solving nonlinear equations with convex
constraints. *J. Comput. Appl. Math.* 172(2), 375–397.
Kortüm, G. (1969). *Reflectance Spectroscopy: Principles, Methods, Applications.*
Springer, Berlin; ch. IV on the dependence of the scattering coefficient on particle
concentration.
Fukshansky, L., Kazarinova, N. (1980). Extension of the Kubelka–Munk theory of light
propagation in intensely scattering materials to fluorescent media. *J. Opt. Soc. Am.*
70(9), 1101–1111.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import least_squares, nnls
from sklearn.utils._param_validation import Interval, StrOptions  # see ColourModel._parameter_constraints

from model.core import colorimetry
from model.core.film_optics import excitation_bands, fluorescence_emission, fluorescent_film_reflectance, saunderson
from model.core.prediction import Prediction, TrainingRange, build_prediction
from model.core.schema import THICKNESS_COLUMN, WAVELENGTHS_NM, Dataset
from model.core.threads import one_blas_thread
from model.models.base import ColourModel, Progress, check_recipe_values
from model.models.colorant_checks import warn_degenerate_colorants
from model.models.fit_cache import FitCache, content_key
from model.models.least_squares import projected_levenberg_marquardt
from model.models.normal_equations import normal_equations
from model.models.physics import _film_reflectance_gradient

__all__ = [
    "FluorescentKubelkaMunkModel",
    "fluorescence_emission",
    "saunderson",
    "detect_fluorescent",
    "SAUNDERSON_MODES",
    "SOLVERS",
    "SCATTERING_EXPONENT_BOUNDS",
    "FIT_CACHE",
]

SAUNDERSON_MODES = ("fit", "fixed", "off")
SOLVERS = ("projected-lm", "trf")
#: Bounds of the fitted scattering exponent γ (S ∝ c^γ): from half to twice Duncan's linear law.
SCATTERING_EXPONENT_BOUNDS = (0.5, 2.0)
_N_BANDS = len(WAVELENGTHS_NM)
#: A colorant is taken as fluorescent ("auto") when it is in nearly every film whose
#: reflectance rises this far above 1: no non-fluorescent film over a white substrate can.
_FLUORESCENT_REFLECTANCE = 1.05

#: The per-process cache of solved fits (:mod:`model.models.fit_cache`). A search of the hybrid
#: fits one physics per training set and parameter set: 16 sets per parameter set
#: (3 folds × (3 inner folds + 1), plus the final fit's 4); 256 entries of about 10 kB hold many.
FIT_CACHE = FitCache(max_entries=256)
# What the solve stores on the model (FluorescentKubelkaMunkModel._store, cost_, residual_rms_, n_iterations_).
_SOLVED_ATTRIBUTES = (
    "colorants_", "fluorescent_colorants_", "K_", "S_", "K_binder_", "S_binder_", "substrate_reflectance_", "emission_",
    "surface_", "scattering_exponent_", "cost_", "residual_rms_", "n_iterations_",
)


def detect_fluorescent(dataset: Dataset) -> tuple[str, ...]:
    """Colorants present in at least 90 % of the films that reflect more than 1.05 somewhere.

    Used when a model's ``fluorescent="auto"``: the data's own evidence, since no
    non-fluorescent film over a white substrate reflects more light than it receives.
    """
    bright = dataset.reflectance.max(axis=1) > _FLUORESCENT_REFLECTANCE
    if not bright.any():
        return ()
    present = dataset.table.loc[bright, list(dataset.colorants)].astype(float).to_numpy() > 0
    return tuple(name for name, fraction in zip(dataset.colorants, present.mean(axis=0)) if fraction >= 0.9)


class _Layout:
    """Where each constant lives in the parameter vector of the joint fit."""

    def __init__(self, n_colorants: int, n_fluorescent: int, fit_surface: bool, fit_exponent: bool):
        m, f, b = n_colorants, n_fluorescent, _N_BANDS
        sizes = [
            ("k", m * b), ("s", m * b), ("k_binder", b), ("s_binder", b), ("substrate", b), ("emission", f * b),
            ("surface", 2 * fit_surface), ("s_exponent", m * fit_exponent),
        ]
        self.slices, start = {}, 0
        for name, size in sizes:
            self.slices[name] = slice(start, start + size)
            start += size
        self.size, self.m, self.f = start, m, f

    def unpack(self, params: np.ndarray) -> dict[str, np.ndarray]:
        p = {name: params[where] for name, where in self.slices.items()}
        for name, rows in (("k", self.m), ("s", self.m), ("emission", self.f)):
            p[name] = p[name].reshape(rows, _N_BANDS)
        return p


class _JointFit:
    """The forward model, its residuals and analytic Jacobian for one training set.

    The Jacobian is mostly band-diagonal (every constant acts at its own band), except
    where the excitation couples bands; it is small enough to be kept dense.
    """

    def __init__(self, model, concentrations, thickness_um, reflectance, fluorescent_index):
        self.C, self.X, self.measured = concentrations, thickness_um[:, None], reflectance
        self.fluorescent = list(fluorescent_index)
        self.excitation = excitation_bands(model.excitation_max_nm)
        self.fit_surface = model.saunderson == "fit"
        self.fixed_surface = (model.k1, model.k2) if model.saunderson == "fixed" else (0.0, 0.0)
        self.fit_exponent = model.scattering_exponent == "fit"
        self.fixed_exponent = np.ones(concentrations.shape[1]) * (1.0 if self.fit_exponent else float(model.scattering_exponent))
        self.layout = _Layout(concentrations.shape[1], len(self.fluorescent), self.fit_surface, self.fit_exponent)
        self.penalty = _penalty_matrix(
            self.layout, concentrations, thickness_um, model.ridge, model.smoothness, model.scattering_exponent_ridge
        )
        # Dense: the penalty's own normal matrix PᵀP is a constant of the problem.
        self.penalty_rows = self.penalty.toarray()
        self.penalty_normal = self.penalty_rows.T @ self.penalty_rows

    def surface(self, p):
        return tuple(p["surface"]) if self.fit_surface else self.fixed_surface

    def exponent(self, p) -> np.ndarray:
        # The parameter is γ − 1, so the ridge rows (linear in the parameters) pull γ to 1.
        return 1.0 + p["s_exponent"] if self.fit_exponent else self.fixed_exponent

    def forward(self, params: np.ndarray, with_parts: bool = False):
        p = self.layout.unpack(params)
        C, X = self.C, self.X
        K = C @ p["k"] + p["k_binder"]
        C_scattering = C ** self.exponent(p)  # c_i^γ_i (0 stays 0: γ ≥ 0.5)
        S = C_scattering @ p["s"] + p["s_binder"]
        R_km, dK, dS, dRg = _film_reflectance_gradient(K, S, X, p["substrate"])
        escape = np.exp(-K * X / 2.0)
        absorptance = 1.0 - np.exp(-2.0 * K * X)
        shares = [C[:, [j]] * p["k"][j] / K for j in self.fluorescent]
        absorbed = np.zeros((len(C), 0))
        emitted = np.zeros_like(K)
        if shares:
            absorbed = np.column_stack([np.mean((share * absorptance)[:, self.excitation], axis=1) for share in shares])
            emitted = (absorbed @ p["emission"]) * escape
        internal = R_km + emitted
        k1, k2 = self.surface(p)
        reflectance = saunderson(internal, k1, k2)
        if not with_parts:
            return reflectance
        parts = dict(
            C_scattering=C_scattering, p=p, K=K, dK=dK, dS=dS, dRg=dRg, escape=escape, absorptance=absorptance,
            absorbed=absorbed, emitted=emitted, internal=internal, k1=k1, k2=k2,
        )
        return reflectance, parts

    def residuals(self, params: np.ndarray) -> np.ndarray:
        return np.concatenate([(self.forward(params) - self.measured).ravel(), self.penalty @ params])

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        """The dense Jacobian (n·31 + penalty rows, P): the reference for :meth:`normal_equations`, and the trf solver's."""
        _, parts = self.forward(params, with_parts=True)
        return np.vstack([_jacobian_blocks(self, parts), self.penalty_rows])

    def normal_equations(self, params: np.ndarray, residuals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """JᵀJ and Jᵀr built from the Jacobian's blocks, never holding J (:mod:`model.models.normal_equations`)."""
        n_data = self.measured.size
        normal, gradient = normal_equations(self, params, residuals[:n_data].reshape(self.measured.shape))
        return normal + self.penalty_normal, gradient + self.penalty_rows.T @ residuals[n_data:]


def _jacobian_blocks(fit: _JointFit, q: dict) -> np.ndarray:
    """Dense (n·31, P) derivative of the predicted reflectance in every parameter (chain rule).

    Everything is local to its band except the excitation: the absorption at each
    excitation band moves the emission at every band of the same film.
    """
    C, X, p, layout = fit.C, fit.X, q["p"], fit.layout
    n, m = C.shape
    k1, k2, internal = q["k1"], q["k2"], q["internal"]
    d_surface = (1.0 - k1) * (1.0 - k2) / (1.0 - k2 * internal) ** 2
    gK = d_surface * (q["dK"] - X / 2.0 * q["emitted"])
    gS, gRg = d_surface * q["dS"], d_surface * q["dRg"]
    J = np.zeros((n, _N_BANDS, layout.size))
    band = np.arange(_N_BANDS)

    def local(where, values):  # values (n, 31[, r]) → diagonal in band
        J[:, band, where] = values

    for i in range(m):
        local(np.arange(_N_BANDS) + layout.slices["k"].start + i * _N_BANDS, gK * C[:, [i]])
        local(np.arange(_N_BANDS) + layout.slices["s"].start + i * _N_BANDS, gS * q["C_scattering"][:, [i]])
        if fit.fit_exponent:  # ∂S/∂γ_i = s_i(λ) c_i^γ_i ln c_i, at every band (the parameter is γ_i − 1)
            log_c = np.log(np.where(C[:, i] > 0, C[:, i], 1.0))
            J[:, :, layout.slices["s_exponent"].start + i] = gS * (q["C_scattering"][:, [i]] * log_c[:, None]) * p["s"][i][None, :]
    local(np.arange(_N_BANDS) + layout.slices["k_binder"].start, gK)
    local(np.arange(_N_BANDS) + layout.slices["s_binder"].start, gS)
    local(np.arange(_N_BANDS) + layout.slices["substrate"].start, gRg)
    K, A, exc = q["K"], q["absorptance"], fit.excitation
    n_exc = exc.sum()
    # d(A/K)/dK at each excitation band: the share's denominator and the absorptance.
    h = (2.0 * X * np.exp(-2.0 * K * X) * K - A) / K**2
    for slot, j in enumerate(fit.fluorescent):
        G = d_surface * p["emission"][slot] * q["escape"]  # (n, 31): ∂R/∂a_j
        local(np.arange(_N_BANDS) + layout.slices["emission"].start + slot * _N_BANDS, d_surface * q["absorbed"][:, [slot]] * q["escape"])
        da_dK = C[:, [j]] * p["k"][j] * h / n_exc  # (n, 31), zero outside excitation below
        da_dK[:, ~exc] = 0.0
        nonlocal_K = G[:, :, None] * da_dK[:, None, :]  # (n, b, b')
        for i in range(m):
            J[:, :, layout.slices["k"].start + i * _N_BANDS : layout.slices["k"].start + (i + 1) * _N_BANDS] += nonlocal_K * C[:, i, None, None]
        J[:, :, layout.slices["k_binder"]] += nonlocal_K
        explicit = np.where(exc, C[:, [j]] * A / K / n_exc, 0.0)  # ∂a_j/∂k_j(b') through the share's numerator
        J[:, :, layout.slices["k"].start + j * _N_BANDS : layout.slices["k"].start + (j + 1) * _N_BANDS] += G[:, :, None] * explicit[:, None, :]
    if fit.fit_surface:
        J[:, :, layout.slices["surface"].start] = -(1.0 - k2) * internal / (1.0 - k2 * internal)
        J[:, :, layout.slices["surface"].start + 1] = (1.0 - k1) * internal * (internal - 1.0) / (1.0 - k2 * internal) ** 2
    return J.reshape(n * _N_BANDS, layout.size)


def _penalty_matrix(
    layout: _Layout, C: np.ndarray, thickness_um: np.ndarray, ridge: float, smoothness: float, exponent_ridge: float
) -> sparse.csr_matrix:
    """Rows appended to the residuals: ridge on the unit k and s, second differences across bands,
    and a ridge on each scattering exponent's departure from 1 (its parameter is γ − 1).

    Each coefficient is weighed by the optical effect it has in a typical film (mean
    loading × mean thickness for unit k and s, mean thickness for the binder, 1 for
    reflectances), so the two weights do not depend on units.
    """
    mean_X = float(np.mean(thickness_um))
    loading = np.where(C.max(axis=0) > 0, C.mean(axis=0), 1.0) * mean_X
    second = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(_N_BANDS - 2, _N_BANDS))
    rows, ridge_rows = [], []
    blocks = [("k", i, loading[i]) for i in range(layout.m)] + [("s", i, loading[i]) for i in range(layout.m)]
    blocks += [("k_binder", 0, mean_X), ("s_binder", 0, mean_X), ("substrate", 0, 1.0)] + [("emission", j, 1.0) for j in range(layout.f)]
    for name, index, scale in blocks:
        start = layout.slices[name].start + index * _N_BANDS
        select = sparse.csr_matrix((np.ones(_N_BANDS), (np.arange(_N_BANDS), np.arange(start, start + _N_BANDS))), shape=(_N_BANDS, layout.size))
        rows.append(np.sqrt(smoothness) * scale * (second @ select))
        if name in ("k", "s"):
            ridge_rows.append(np.sqrt(ridge) * scale * select)
    exponents = layout.slices["s_exponent"]
    count = exponents.stop - exponents.start
    if count:
        columns = np.arange(exponents.start, exponents.stop)
        select = sparse.csr_matrix((np.ones(count), (np.arange(count), columns)), shape=(count, layout.size))
        ridge_rows.append(np.sqrt(exponent_ridge) * select)
    return sparse.vstack([*rows, *ridge_rows], format="csr")


class FluorescentKubelkaMunkModel(ColourModel):
    """Two-constant Kubelka–Munk film with fluorescence and a Saunderson surface, fitted jointly.

    See the module notes for the physics. It extrapolates where a network cannot: to
    new concentrations and new thicknesses, because those enter only through K·X and S·X.

    Parameters
    ----------
    fluorescent : "auto" or tuple of str, default "auto"
        The colorants that fluoresce. ``"auto"`` takes them from the data
        (:func:`detect_fluorescent`); a tuple names them (it may be empty).
    excitation_max_nm : float, default 500.0
        Light absorbed below this wavelength (nm) excites the fluorescence.
    saunderson : {"fit", "fixed", "off"}, default "fit"
        Fit the surface constants k1, k2; keep them at ``k1``, ``k2``; or leave the surface out.
    k1, k2 : float in [0, 1), default 0.0, 0.0
        The surface constants when ``saunderson="fixed"`` (about 0.04 and 0.6 for n ≈ 1.5).
    ridge : float ≥ 0, default 1e-3
        Ridge weight on the unit k and s, in optical-thickness units (see :func:`_penalty_matrix`).
    smoothness : float ≥ 0, default 1e-2
        Weight of the squared second difference across bands of every fitted spectrum.
    max_unit_coefficient : float > 0, default 1.0
        Upper bound of each unit k and s (per µm per wt %).
    scattering_exponent : "fit" or float in [0.5, 2], default "fit"
        γ in S = S_binder + Σ c_i^γ_i s_i: fitted per colorant within
        :data:`SCATTERING_EXPONENT_BOUNDS`, or one fixed value (1.0: Duncan's linear law).
    scattering_exponent_ridge : float ≥ 0, default 0.1
        Weight of the ridge on γ_i − 1 when fitted (0: free within the bounds).
    solver : {"projected-lm", "trf"}, default "projected-lm"
        :func:`~model.models.least_squares.projected_levenberg_marquardt`, or ``scipy.optimize.least_squares``
        (trust-region reflective with an iterative inner solver; slower, for comparison).
    max_nfev : int ≥ 1, default 200
        Jacobian budget of the joint solve.

    Attributes
    ----------
    colorants_ : tuple of str
    fluorescent_colorants_ : tuple of str
    K_, S_ : ndarray (n_colorants, 31), unit absorption and scattering, per µm per wt %.
    K_binder_, S_binder_ : ndarray (31,), per µm.
    substrate_reflectance_ : ndarray (31,), 0–1.
    emission_ : ndarray (n_fluorescent, 31), reflectance units per unit absorbed excitation.
    surface_ : (k1, k2).
    scattering_exponent_ : ndarray (n_colorants,), γ_i of each colorant's scattering.
    residual_rms_ : ndarray (31,), training RMS residual per band (reflectance units).
    cost_ : float, the fit's final ½‖residuals‖² (data and penalties).
    training_range_ : TrainingRange
    """

    _parameter_constraints: dict = {
        "fluorescent": [StrOptions({"auto"}), tuple, list],
        "excitation_max_nm": [Interval(Real, 400.0, 700.0, closed="both")],
        "saunderson": [StrOptions(set(SAUNDERSON_MODES))],
        "k1": [Interval(Real, 0.0, 1.0, closed="left")],
        "k2": [Interval(Real, 0.0, 1.0, closed="left")],
        "ridge": [Interval(Real, 0.0, None, closed="left")],
        "smoothness": [Interval(Real, 0.0, None, closed="left")],
        "max_unit_coefficient": [Interval(Real, 0.0, None, closed="neither")],
        "scattering_exponent": [StrOptions({"fit"}), Interval(Real, *SCATTERING_EXPONENT_BOUNDS, closed="both")],
        "scattering_exponent_ridge": [Interval(Real, 0.0, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS))],
        "max_nfev": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        fluorescent="auto",
        excitation_max_nm: float = 500.0,
        saunderson: str = "fit",
        k1: float = 0.0,
        k2: float = 0.0,
        ridge: float = 1e-3,
        smoothness: float = 1e-2,
        max_unit_coefficient: float = 1.0,
        scattering_exponent="fit",
        scattering_exponent_ridge: float = 0.1,
        solver: str = "projected-lm",
        max_nfev: int = 200,
    ):
        self.fluorescent = fluorescent
        self.excitation_max_nm = excitation_max_nm
        self.saunderson = saunderson
        self.k1 = k1
        self.k2 = k2
        self.ridge = ridge
        self.smoothness = smoothness
        self.max_unit_coefficient = max_unit_coefficient
        self.scattering_exponent = scattering_exponent
        self.scattering_exponent_ridge = scattering_exponent_ridge
        self.solver = solver
        self.max_nfev = max_nfev

    # ------------------------------------------------------------------ fit
    def _fluorescent_names(self, dataset: Dataset) -> tuple[str, ...]:
        if isinstance(self.fluorescent, str):
            return detect_fluorescent(dataset)
        unknown = [name for name in self.fluorescent if name not in dataset.colorants]
        if unknown:
            raise ValueError(f"fluorescent={tuple(self.fluorescent)!r} names {unknown}, which are not colorants of the data {list(dataset.colorants)}.")
        return tuple(self.fluorescent)

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> "FluorescentKubelkaMunkModel":
        """Fit every constant of every band at once.

        Parameters
        ----------
        dataset : Dataset
            Colorants in wt %, ``thickness_um`` in µm, reflectance 0–1 (may exceed 1).
        progress : callable(fraction, message), optional
            Called before and after the solve.

        Raises
        ------
        TypeError, ValueError
            As :meth:`~model.models.base.ColourModel.checked_training_inputs`.

        Notes
        -----
        A solve of the same hyperparameters on the same colorants and arrays is taken from
        this process's :data:`FIT_CACHE` (equal to a fresh solve: it is deterministic).
        """
        inputs = self.checked_training_inputs(dataset)
        colorants = list(dataset.colorants)
        reflectance = dataset.reflectance
        if not np.all(np.isfinite(reflectance)):
            row = int(np.flatnonzero(~np.isfinite(reflectance).all(axis=1))[0])
            raise ValueError(f"Training data: row {row} has a missing or non-numeric reflectance.")
        warn_degenerate_colorants(dataset)
        if progress:
            progress(0.0, "fitting all bands at once")
        # The solve is deterministic (a fixed start, one BLAS thread), so a fit of the same
        # hyperparameters on the same arrays is taken from this process's cache: the hybrid's
        # search refits one physics per training set across all its trials (bench/search.py).
        key = content_key(self.get_params(deep=False), colorants, inputs, reflectance)
        solved = FIT_CACHE.get(key)
        if solved is None:
            solved = self._solved(dataset, inputs, colorants)
            FIT_CACHE.put(key, solved)
        for name, value in solved.items():
            setattr(self, name, value)
        self.training_range_ = TrainingRange.from_recipes(dataset.recipes)
        self.n_features_in_ = len(colorants) + 1
        self._fit_fluorescence(dataset)
        if progress:
            progress(1.0, "fitted")
        return self

    def _solved(self, dataset: Dataset, inputs: np.ndarray, colorants: list[str]) -> dict:
        """Solve the joint fit; the solved attributes (:data:`_SOLVED_ATTRIBUTES`) by name."""
        reflectance = dataset.reflectance
        fluorescent = self._fluorescent_names(dataset)
        problem = _JointFit(self, inputs[:, :-1], inputs[:, -1], reflectance, [colorants.index(name) for name in fluorescent])
        # One BLAS thread: at this size (a normal matrix of a few hundred columns) a threaded
        # BLAS spends more time synchronising than computing (model.core.threads).
        with one_blas_thread():
            solution = self._solve(problem)
        self._store(problem, solution, colorants, fluorescent)
        self.cost_ = float(0.5 * np.sum(problem.residuals(solution) ** 2))
        self.residual_rms_ = np.sqrt(np.mean((problem.forward(solution) - reflectance) ** 2, axis=0))
        return {name: getattr(self, name) for name in _SOLVED_ATTRIBUTES}

    def _solve(self, problem: _JointFit) -> np.ndarray:
        """The fitted parameter vector, by the configured solver."""
        start, lower, upper = self._start_and_bounds(problem)
        if self.solver == "trf":
            result = least_squares(
                problem.residuals, start, jac=lambda params: sparse.csr_matrix(problem.jacobian(params)), bounds=(lower, upper), method="trf",
                tr_solver="lsmr", x_scale="jac", max_nfev=self.max_nfev,
            )
            self.n_iterations_ = int(result.njev)
            return result.x
        solution, iterations = projected_levenberg_marquardt(
            problem.residuals, problem.jacobian, start, lower, upper, max_iter=self.max_nfev, normal_equations=problem.normal_equations
        )
        self.n_iterations_ = iterations
        return solution

    def _start_and_bounds(self, problem: _JointFit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A deterministic start from Beer–Lambert (linear in K once Rg is guessed), and the bounds."""
        layout, C, X = problem.layout, problem.C, problem.X[:, 0]
        design = np.column_stack([C, np.ones(len(C))]) * X[:, None]
        substrate = np.clip(np.max(problem.measured, axis=0), 0.05, 0.99)
        absorption = np.array([
            nnls(design, np.clip(-np.log(np.clip(problem.measured[:, b], 1e-4, None) / substrate[b]) / 2.0, 0.0, None))[0]
            for b in range(_N_BANDS)
        ]).T  # (m + 1, 31)
        start, lower, upper = np.zeros(layout.size), np.zeros(layout.size), np.full(layout.size, self.max_unit_coefficient)
        values = {"k": absorption[:-1].ravel(), "s": 1e-3, "k_binder": absorption[-1], "s_binder": 1e-3, "substrate": substrate, "emission": 0.05, "surface": (0.02, 0.3)}
        if not problem.fit_surface:
            del values["surface"]
        for name, value in values.items():
            start[layout.slices[name]] = value
        lower[layout.slices["k_binder"]] = 1e-6  # keeps K > 0, so a colorant's share of it is defined
        upper[layout.slices["substrate"]] = 1.0
        upper[layout.slices["emission"]] = 5.0
        if problem.fit_surface:
            upper[layout.slices["surface"]] = (0.2, 0.8)
        start[layout.slices["s_exponent"]] = 0.0  # γ − 1: Duncan's linear law
        lower[layout.slices["s_exponent"]], upper[layout.slices["s_exponent"]] = np.array(SCATTERING_EXPONENT_BOUNDS) - 1.0
        start = np.clip(start, lower + 1e-9, upper - 1e-9)
        return start, lower, upper

    def _store(self, problem: _JointFit, params: np.ndarray, colorants: list[str], fluorescent: tuple[str, ...]) -> None:
        p = problem.layout.unpack(params)
        self.colorants_ = tuple(colorants)
        self.fluorescent_colorants_ = fluorescent
        self.K_, self.S_ = p["k"].copy(), p["s"].copy()
        self.K_binder_, self.S_binder_ = p["k_binder"].copy(), p["s_binder"].copy()
        self.substrate_reflectance_ = p["substrate"].copy()
        self.emission_ = p["emission"].copy()
        self.surface_ = tuple(float(v) for v in problem.surface(p))
        self.scattering_exponent_ = np.array(problem.exponent(p), dtype=float)

    #: A model saved before the exponent existed has none of these attributes: it scatters linearly.
    scattering_exponent = 1.0
    scattering_exponent_ridge = 0.1
    scattering_exponent_ = None

    def _scattering_exponent(self) -> np.ndarray:
        return np.ones(len(self.colorants_)) if self.scattering_exponent_ is None else self.scattering_exponent_

    # -------------------------------------------------------------- predict
    def reflectance_of(self, X: np.ndarray) -> np.ndarray:
        """Predicted reflectance factor (n, 31; may exceed 1) of X (n, inputs): colorants in wt %, then µm."""
        self.check_fitted()
        return fluorescent_film_reflectance(
            X, self.K_, self.S_, self.K_binder_, self.S_binder_, self._scattering_exponent(), self.substrate_reflectance_,
            self.emission_, self.fluorescent_index, excitation_bands(self.excitation_max_nm), self.surface_,
        )

    @property
    def fluorescent_index(self) -> list[int]:
        """Input column of each fluorescent colorant, in the order of ``emission_``'s rows."""
        return [self.colorants_.index(name) for name in self.fluorescent_colorants_]

    def predict(self, recipes: pd.DataFrame) -> Prediction:
        """Predict reflectance (0–1, may exceed 1) and CIELAB of recipes (colorants in wt %, µm).

        Its physics-only path (``Prediction.reflectance_physics``) is the prediction itself.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        ValueError
            A column is missing, or a value is negative or not a number.
        """
        self.check_fitted()
        if not isinstance(recipes, pd.DataFrame):
            raise TypeError(f"predict expects a pandas DataFrame of recipes; got {type(recipes).__name__}.")
        columns = [*self.colorants_, THICKNESS_COLUMN]
        inputs = check_recipe_values(recipes, columns, "Recipes")
        reflectance = self.reflectance_of(inputs)
        model_inputs = recipes.reset_index(drop=True).copy()
        model_inputs[columns] = inputs
        return build_prediction(
            model_inputs, reflectance, None, "spectral", self.training_range_, reflectance_physics=reflectance,
            fluorescence_cts=self.predict_fluorescence(inputs),
        )

    def predict_members(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The one fitted film as a single member: reflectance (1, n, 31) and its CIELAB (1, n, 3)."""
        reflectance = self.reflectance_of(X)
        return reflectance[None], colorimetry.reflectance_to_Lab(reflectance)[None]

    @property
    def n_parameters(self) -> int:
        """Unit k and s per colorant and band, binder K and S, substrate, emission spectra, surface, scattering exponents."""
        self.check_fitted()
        fitted_surface = 2 if self.saunderson == "fit" else 0
        fitted_exponents = len(self.colorants_) if self.scattering_exponent == "fit" else 0
        return int(self.K_.size + self.S_.size + 3 * _N_BANDS + self.emission_.size + fitted_surface + fitted_exponents)
