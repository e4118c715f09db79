"""Kubelka–Munk physics: the finite-film reflectance and a fitted KM baseline model.

A pigmented film of thickness X (µm) lies over a backing of reflectance Rg. Light in
the film is absorbed (coefficient K, per µm) and scattered (coefficient S, per µm).
The two-flux theory of Kubelka and Munk gives the film's reflectance in closed form
(the hyperbolic solution). In a mixture, each colorant contributes its unit K and S in
proportion to its weight percent, on top of the binder's own K and S (Duncan's
additivity rule).

:class:`KubelkaMunkModel` learns those unit coefficients from measurements. It is the
physics baseline the neural model is compared with (the old system's "hybrid K-M" row).
It has no term for fluorescence, so it cannot send back more light than arrives: on a
fluorescent colorant, whose films exceed reflectance 1 in the green, it is expected
to do badly. That gap is what a data-driven model has to close.

Scales
------
- reflectance: factor, 0–1 (measured values may exceed 1: fluorescence);
- concentrations: weight percent, 0–100;
- thickness: µm;
- K and S of a film: per µm; unit K and S of a colorant: per µm per wt %.

References
----------
Kubelka, P. (1948). New contributions to the optics of intensely light-scattering
materials. Part I. *J. Opt. Soc. Am.* 38(5), 448–457.
Duncan, D. R. (1940). The colour of pigment mixtures. *Proc. Phys. Soc.* 52, 390–401.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, nnls

from model.core import colorimetry
from model.core.film_optics import _tanh_over_argument, finite_film_reflectance
from model.core.prediction import Prediction, TrainingRange, build_prediction
from model.core.schema import THICKNESS_COLUMN, Dataset
from model.models.base import ColourModel, Progress, check_recipe_values

__all__ = ["finite_film_reflectance", "KubelkaMunkModel"]

def _film_reflectance_gradient(K: np.ndarray, S: np.ndarray, X: np.ndarray, Rg) -> tuple[np.ndarray, ...]:
    """:func:`finite_film_reflectance` and its partial derivatives in K, S and Rg.

    The fit calls this instead of differencing the residuals numerically: one
    evaluation per iteration instead of one per parameter, several times faster.
    """
    alpha = K + S
    beta = np.sqrt(K * (K + 2.0 * S))
    z = beta * X
    T = X * _tanh_over_argument(z)
    # g = (dT/dβ)/β, written so it stays accurate as β → 0 (series of tanh and sech²).
    small = z < 1e-2
    safe_beta = np.where(small, 1.0, beta)
    exact = (X / np.cosh(np.where(small, 0.0, z)) ** 2 - T) / safe_beta**2
    g = np.where(small, X**3 * (-2.0 / 3.0 + 8.0 * z * z / 15.0), exact)
    dT_dK, dT_dS = alpha * g, K * g

    A = S - alpha * Rg
    B = alpha - S * Rg
    numerator = A * T + Rg
    denominator = B * T + 1.0
    reflectance = numerator / denominator

    def derivative(dA, dB, dT, d_rg=0.0):
        return ((dA * T + A * dT + d_rg) - reflectance * (dB * T + B * dT)) / denominator

    dR_dK = derivative(-Rg, 1.0, dT_dK)
    dR_dS = derivative(1.0 - Rg, 1.0 - Rg, dT_dS)
    dR_dRg = derivative(-alpha, -S, 0.0, 1.0)
    return reflectance, dR_dK, dR_dS, dR_dRg


class KubelkaMunkModel(ColourModel):
    """Kubelka–Munk baseline: per-band unit K and S per colorant, fitted to measurements.

    The film's K and S at each band are ``Σ c_i K_i + K_binder`` and ``Σ c_i S_i + S_binder``
    (c in wt %), and its reflectance is :func:`finite_film_reflectance` over a backing
    whose reflectance is fitted too. The bands are independent in this model, so each
    of the 31 bands is a small bounded least-squares problem.

    Parameters
    ----------
    max_backing_reflectance : float, default 1.0
        Upper bound of the fitted backing reflectance (0–1). Above 1 the KM solution
        has a pole, so a pure KM backing cannot exceed it.
    regularization : float, default 1e-3
        Weight of a ridge penalty on the unit K and S, each times the mean loading and
        thickness (so on the optical thickness it adds), relative to squared reflectance
        residuals. It keeps coefficients that the data barely constrain (the scattering
        of a nearly transparent colorant) from drifting. 0 turns it off.
    max_unit_coefficient : float, default 1.0
        Upper bound of each unit K and S, per µm per wt %. At the bound, 1 wt % in an
        8 µm film has an optical thickness of 8, so real pigments lie well below it. Without
        a bound a band where the data exceed what KM allows (fluorescence) drives S to
        infinity.
    max_nfev : int, default 2000
        Evaluation budget of each band's least-squares solve.

    Attributes
    ----------
    colorants_ : tuple of str
        Colorant names, in the column order of ``K_`` and ``S_``.
    K_, S_ : numpy.ndarray, shape (n_colorants, 31)
        Unit absorption and scattering, per µm per wt %.
    K_binder_, S_binder_ : numpy.ndarray, shape (31,)
        Absorption and scattering of the unpigmented binder, per µm.
    backing_reflectance_ : numpy.ndarray, shape (31,)
        Fitted reflectance of the substrate under the film, 0–1.
    residual_rms_ : numpy.ndarray, shape (31,)
        Root-mean-square reflectance residual of the fit per band (0–1 scale).
    training_range_ : TrainingRange
        Min and max of each input seen in training, for the out-of-range flag.
    n_features_in_ : int
        Number of model inputs (colorants plus thickness).

    Examples
    --------
    >>> model = KubelkaMunkModel().fit(dataset)          # doctest: +SKIP
    >>> prediction = model.predict(dataset.recipes)      # doctest: +SKIP
    >>> prediction.reflectance.shape                     # doctest: +SKIP
    (80, 31)
    """

    def __init__(
        self,
        max_backing_reflectance: float = 1.0,
        regularization: float = 1e-3,
        max_unit_coefficient: float = 1.0,
        max_nfev: int = 2000,
    ):
        self.max_backing_reflectance = max_backing_reflectance
        self.regularization = regularization
        self.max_unit_coefficient = max_unit_coefficient
        self.max_nfev = max_nfev

    # ------------------------------------------------------------------ fit
    def fit(self, dataset: Dataset, progress: Progress | None = None) -> "KubelkaMunkModel":
        """Fit unit K and S of every colorant, the binder and the backing.

        Parameters
        ----------
        dataset : Dataset
            Measurements: colorants in wt %, ``thickness_um`` in µm, reflectance 0–1
            (values above 1 are accepted and simply cannot be reproduced by KM).
        progress : callable(fraction, message), optional
            Called after each band's solve.

        Returns
        -------
        self

        Raises
        ------
        TypeError
            If ``dataset`` is not a :class:`Dataset`.
        ValueError
            If a parameter or the data is out of its legal range.
        """
        inputs = self.checked_training_inputs(dataset)
        if not 0.0 < self.max_backing_reflectance <= 1.0:
            raise ValueError(
                f"max_backing_reflectance={self.max_backing_reflectance!r}; expected a value in (0, 1]."
            )
        if not self.max_unit_coefficient > 0:
            raise ValueError(f"max_unit_coefficient={self.max_unit_coefficient!r}; expected a value > 0 (per µm per wt %).")
        if self.regularization < 0:
            raise ValueError(f"regularization={self.regularization!r}; expected a value ≥ 0.")
        colorants = list(dataset.colorants)
        concentrations, thickness_um = inputs[:, :-1], inputs[:, -1]
        reflectance = dataset.reflectance
        if not np.all(np.isfinite(reflectance)):
            row = int(np.flatnonzero(~np.isfinite(reflectance).all(axis=1))[0])
            raise ValueError(f"Training data: row {row} has a missing or non-numeric reflectance.")
        n_samples, n_colorants = concentrations.shape
        absent = [name for name, column in zip(colorants, concentrations.T) if not np.any(column > 0)]
        if absent:
            warnings.warn(
                f"Colorants {absent} are 0 wt % in every training row; their K and S cannot be "
                "learned and are left near 0, so predictions with them will be wrong.",
                stacklevel=2,
            )
        n_parameters = 2 * n_colorants + 3
        if n_samples < n_parameters:
            warnings.warn(
                f"KubelkaMunkModel fits {n_parameters} parameters per band from only {n_samples} "
                "measurements; the coefficients will be poorly determined.",
                stacklevel=2,
            )

        n_bands = reflectance.shape[1]
        fitted = []
        for band in range(n_bands):
            fitted.append(self._fit_band(concentrations, thickness_um, reflectance[:, band]))
            if progress:
                progress((band + 1) / n_bands, f"band {band + 1}/{n_bands}")
        fitted = np.array(fitted)  # (31, 2m + 3)
        self.colorants_ = tuple(colorants)
        self.K_ = fitted[:, :n_colorants].T.copy()
        self.S_ = fitted[:, n_colorants : 2 * n_colorants].T.copy()
        self.K_binder_ = fitted[:, 2 * n_colorants].copy()
        self.S_binder_ = fitted[:, 2 * n_colorants + 1].copy()
        self.backing_reflectance_ = fitted[:, 2 * n_colorants + 2].copy()
        self.residual_rms_ = np.sqrt(
            np.mean((self._reflectance(concentrations, thickness_um) - reflectance) ** 2, axis=0)
        )
        self.training_range_ = TrainingRange.from_recipes(dataset.recipes)
        self.n_features_in_ = n_colorants + 1
        self._fit_fluorescence(dataset)
        return self

    def _fit_band(self, concentrations: np.ndarray, thickness_um: np.ndarray, reflectance: np.ndarray) -> np.ndarray:
        """Bounded least squares for one band: [K_1..K_m, S_1..S_m, K_binder, S_binder, Rg]."""
        n_colorants = concentrations.shape[1]
        design = np.column_stack([concentrations, np.ones(len(concentrations))])
        backing_max = self.max_backing_reflectance
        ridge = np.sqrt(self.regularization)

        # Start from Beer–Lambert, R ≈ Rg·exp(−2KX): linear in K once Rg is guessed,
        # and nonnegative by NNLS. Starting there makes the solve deterministic and
        # keeps it out of the flat region where every K is zero.
        backing_start = min(max(float(np.max(reflectance)), 1e-3), backing_max) * 0.999
        optical_density = -np.log(np.clip(reflectance, 1e-4, None) / backing_start) / 2.0
        absorption_start, _ = nnls(design * thickness_um[:, None], np.clip(optical_density, 0.0, None))
        scattering_start = np.full(n_colorants + 1, 1e-3)
        start = np.concatenate(
            [absorption_start[:-1], scattering_start[:-1], [absorption_start[-1], scattering_start[-1], backing_start]]
        )
        lower = np.zeros_like(start)
        # Capped, see max_unit_coefficient: fluorescent bands would drive S to infinity.
        upper = np.full_like(start, self.max_unit_coefficient)
        upper[-1] = backing_max
        start = np.clip(start, lower + 1e-9, upper - 1e-9)

        # The penalty is on K·(typical loading·thickness), the optical effect of a
        # coefficient, so its weight does not depend on units.
        penalty_scale = ridge * np.tile(np.mean(concentrations, axis=0) * np.mean(thickness_um), 2)

        def split(params: np.ndarray):
            unit_K, unit_S = params[:n_colorants], params[n_colorants : 2 * n_colorants]
            K = concentrations @ unit_K + params[2 * n_colorants]
            S = concentrations @ unit_S + params[2 * n_colorants + 1]
            return K, S, params[-1]

        def residuals(params: np.ndarray) -> np.ndarray:
            predicted = finite_film_reflectance(*split(params)[:2], thickness_um, params[-1])
            return np.concatenate([predicted - reflectance, penalty_scale * params[: 2 * n_colorants]])

        def jacobian(params: np.ndarray) -> np.ndarray:
            K, S, backing = split(params)
            _, dR_dK, dR_dS, dR_dRg = _film_reflectance_gradient(K, S, thickness_um, backing)
            data_rows = np.column_stack(
                [dR_dK[:, None] * concentrations, dR_dS[:, None] * concentrations, dR_dK, dR_dS, dR_dRg]
            )
            penalty_rows = np.zeros((2 * n_colorants, len(params)))
            penalty_rows[:, : 2 * n_colorants] = np.diag(penalty_scale)
            return np.vstack([data_rows, penalty_rows])

        result = least_squares(
            residuals, start, jac=jacobian, bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=self.max_nfev
        )
        return result.x

    # -------------------------------------------------------------- predict
    def _reflectance(self, concentrations: np.ndarray, thickness_um: np.ndarray) -> np.ndarray:
        K = concentrations @ self.K_ + self.K_binder_
        S = concentrations @ self.S_ + self.S_binder_
        return finite_film_reflectance(K, S, thickness_um, self.backing_reflectance_)

    def predict(self, recipes: pd.DataFrame) -> Prediction:
        """Predict reflectance and CIELAB of recipes.

        Parameters
        ----------
        recipes : pandas.DataFrame
            One row per recipe with every fitted colorant column (wt %) and
            ``thickness_um`` (µm). Other columns are carried through untouched.

        Returns
        -------
        Prediction
            Reflectance (n, 31) on a 0–1 scale, CIELAB from the spectrum (this model
            has no CIELAB head, so ``headline`` is ``"spectral"``), swatch and flags.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before :meth:`fit`.
        ValueError
            If a column is missing or a value is negative or not a number.
        """
        self.check_fitted()
        if not isinstance(recipes, pd.DataFrame):
            raise TypeError(f"predict expects a pandas DataFrame of recipes; got {type(recipes).__name__}.")
        columns = [*self.colorants_, THICKNESS_COLUMN]
        inputs = check_recipe_values(recipes, columns, "Recipes")
        reflectance = self._reflectance(inputs[:, :-1], inputs[:, -1])
        model_inputs = recipes.reset_index(drop=True).copy()
        model_inputs[columns] = inputs
        return build_prediction(
            model_inputs, reflectance, Lab_head=None, headline="spectral", training_range=self.training_range_,
            fluorescence_cts=self.predict_fluorescence(inputs),
        )

    def predict_members(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The one fitted model as a single member: reflectance (1, n, 31) and its CIELAB (1, n, 3)."""
        self.check_fitted()
        X = np.asarray(X, dtype=float)
        reflectance = self._reflectance(X[:, :-1], X[:, -1])
        return reflectance[None], colorimetry.reflectance_to_Lab(reflectance)[None]

    @property
    def n_parameters(self) -> int:
        """Unit K and S per colorant and band, the binder's K and S, and the backing reflectance."""
        self.check_fitted()
        return int(self.K_.size + self.S_.size + self.K_binder_.size + self.S_binder_.size + self.backing_reflectance_.size)
