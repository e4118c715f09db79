"""The hybrid colour model: a fluorescent Kubelka–Munk backbone with MLP heads on top.

The physics (:class:`~model.models.fluorescent_km.FluorescentKubelkaMunkModel`) is what
extrapolates: to new concentrations and thicknesses. scikit-learn ``MLPRegressor``
heads learn what it misses, its **residual**, both in the spectrum and in CIELAB; plain
MLP heads (:class:`~model.models.mlp.FormulationModel`) stand beside them. That gives
five candidate CIELAB paths and three candidate spectra:

=========================  ==========================================  ==================
candidate                  spectrum (31 bands)                         CIELAB
=========================  ==========================================  ==================
``physics``                the physics alone                           of that spectrum
``residual_head``          —                                           physics + CIELAB residual head
``residual_spectrum``      physics + spectral residual head            of that spectrum
``mlp_head``               —                                           the plain CIELAB head
``mlp_spectrum``           the plain spectral head                     of that spectrum
=========================  ==========================================  ==================

The reported CIELAB (the ``head`` path) and the reported spectrum are convex blends of
the candidates. The blend weights are chosen by **inner** leave-recipe-out
cross-validation on the training data given to :meth:`HybridModel.fit`, and nothing
else: every inner fold refits every part on its inner training recipes and predicts its
inner held-out recipes, and the weights minimise the mean ΔE00 (CIELAB) and the mean
squared error (spectrum) of those out-of-fold predictions over a grid on the simplex.
Scored inside an outer cross-validation, the weights are therefore nested: they never
see the outer scoring fold. On a large database (more than ``large_data_films`` films)
only the first inner fold is fitted, each MLP head fits on a random draw of films, and the
heads that fold fitted are the ones served beside a physics refitted on every film, so
that a fit's cost grows about linearly with the data (issue 27, bench/scale.py).

Scales: reflectance factor 0–1 (may exceed 1); CIELAB L* 0–100; wt %; µm.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions  # see ColourModel._parameter_constraints

from model.core import colorimetry
from model.core.prediction import Prediction, TrainingRange
from model.core.schema import Dataset
from model.models.base import ColourModel, Progress
from model.models.colorant_checks import quiet_colorant_warnings, warn_degenerate_colorants
from model.models.fluorescence import without_readings
from model.models.fluorescent_km import FluorescentKubelkaMunkModel
from model.models.mlp import HEADLINE_PATHS, INPUT_TRANSFORMS, FormulationModel, fit_heads, member_rows
from model.models.mlp_forward import head_programs
from model.models.serving_form import FilmPhysics, ServingSnapshot, candidate_paths
from model.models.uncertainty import calibrated_bands

__all__ = ["HybridModel", "LAB_CANDIDATES", "SPECTRAL_CANDIDATES", "HYBRID_BAND_SCALE", "simplex_grid", "choose_blend"]

LAB_CANDIDATES = ("physics", "residual_head", "residual_spectrum", "mlp_head", "mlp_spectrum")
SPECTRAL_CANDIDATES = ("physics", "residual_spectrum", "mlp_spectrum")

#: Spread-to-band factor of the hybrid's stated uncertainty (see
#: :mod:`model.models.uncertainty`). Its members share the physics and differ only in
#: their networks, whose weight in the blend is small, so their spread is far narrower
#: than a plain ensemble's. The factor was set leave-recipe-out on the real pp-inks data
#: (5 folds × 3 seeds, bench/accuracy.py) so that two thirds of real errors fall inside
#: the band (0.5×: 43 %, 1.5×: 82 %, 2×: 88 %). The spread barely ranks the errors
#: (Spearman 0.07): read the band as the typical error of such a prediction.
HYBRID_BAND_SCALE = 16.5


def simplex_grid(n_candidates: int, step: float) -> np.ndarray:
    """Every weight vector of ``n_candidates`` non-negative multiples of ``step`` summing to 1, shape (g, n)."""
    units = round(1.0 / step)
    rows = []
    # Stars and bars: choose where the n − 1 bars go among units + n − 1 slots.
    for bars in combinations(range(units + n_candidates - 1), n_candidates - 1):
        edges = (-1, *bars, units + n_candidates - 1)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(n_candidates)])
    return np.array(rows, dtype=float) / units


def choose_blend(candidates: np.ndarray, measured: np.ndarray, step: float, loss: str) -> np.ndarray:
    """The simplex weights that minimise ``loss`` of the blended candidates against ``measured``.

    Parameters
    ----------
    candidates : ndarray, shape (c, n, d)
        c candidate predictions of n samples (CIELAB, d = 3; or spectra, d = 31).
    measured : ndarray, shape (n, d)
    step : float
        Grid step of the weights (e.g. 0.1).
    loss : {"delta_e00", "mse"}
        Mean CIEDE2000 (CIELAB candidates, L* 0–100) or mean squared error.

    Returns
    -------
    ndarray, shape (c,), non-negative, summing to 1. Ties go to the earlier grid point.
    """
    grid = simplex_grid(len(candidates), step)
    blends = np.einsum("gc,cnd->gnd", grid, candidates)
    if loss == "delta_e00":
        scores = np.asarray(colorimetry.delta_E00(blends, np.broadcast_to(measured, blends.shape))).mean(axis=1)
    else:
        scores = ((blends - measured) ** 2).mean(axis=(1, 2))
    return grid[int(np.argmin(scores))]


@dataclass
class _Parts:
    """The fitted pieces of one hybrid: physics, plain heads and residual heads."""

    physics: FluorescentKubelkaMunkModel
    plain: FormulationModel
    residual_spectral: list
    residual_lab: list

    def head_groups(self) -> dict[str, list]:
        """The fitted MLP heads by role, one per member."""
        return {
            "plain_spectral": self.plain.spectral_heads_, "plain_lab": self.plain.lab_heads_,
            "residual_spectral": self.residual_spectral, "residual_lab": self.residual_lab,
        }

    def candidates(self, X: np.ndarray, predictors: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Member-wise candidate spectra (3, m, n, 31) and CIELAB (5, m, n, 3), in the order of the tables above.

        ``predictors`` maps each group of :meth:`head_groups` to one batch function per
        head (the compiled forward pass); None uses the heads' own ``predict``.
        """
        if predictors is None:
            predictors = {group: [head.predict for head in heads] for group, heads in self.head_groups().items()}
        outputs = {group: np.stack([predict(X) for predict in functions]) for group, functions in predictors.items()}
        # The same arithmetic as the serving snapshot's (model.models.snapshot.candidate_paths).
        return candidate_paths(self.physics.reflectance_of(X), outputs)


def _network_weights(heads) -> int:
    return sum(sum(w.size for w in head.regressor_[-1].coefs_) + sum(b.size for b in head.regressor_[-1].intercepts_) for head in heads)


class HybridModel(ColourModel):
    """Fluorescent Kubelka–Munk physics with MLP residual heads and plain MLP heads, blended on inner validation.

    Parameters
    ----------
    fluorescent : "auto" or tuple of str, default "auto"
        The fluorescent colorants (see :class:`FluorescentKubelkaMunkModel`).
    excitation_max_nm : float, default 500.0
        Light absorbed below this wavelength (nm) excites fluorescence.
    physics_ridge, physics_smoothness : float ≥ 0, default 1e-3, 1e-2
        The physics fit's ridge and smoothness weights.
    hidden_layer_sizes, activation, alpha, max_iter, n_ensemble, input_transform
        The plain MLP heads, as :class:`FormulationModel` takes them (lbfgs); ``n_ensemble``
        (default 2) members for the residual heads too. Two members score as well as three
        leave-recipe-out on the real pp-inks data (mean ΔE00 1.029 against 1.034,
        bench/accuracy.py) at three quarters of the fitting time, as the physics carries
        most of the blend.
    residual_alpha : float ≥ 0, default 1.0
        L2 penalty of the residual heads (they learn a small correction, so they are held closer to 0).
    inner_folds : int ≥ 2, default 3
        Leave-recipe-out folds of the inner validation that chooses the blend weights.
    blend_step : float in (0, 0.5], default 0.1
        Grid step of the blend weights.
    headline : {"spectral", "head"}, default "head"
        Which CIELAB ``Prediction.Lab`` reports: the blend of the five CIELAB candidates
        ("head"), or the CIELAB of the blended spectrum ("spectral").
    random_state : int ≥ 0, default 0
    large_data_films : int ≥ 2 or None, default 2000
        From more training films than this the fit follows its large-data schedule, so its
        cost grows about linearly with the data (bench/scale.py): the inner validation fits
        only the first of its ``inner_folds`` folds (its held-out recipes, a third of
        thousands, still choose eight blend weights on a 0.1 grid well), and each MLP head
        fits on a random draw of this many films, a different draw per ensemble member
        (bagging, :func:`~model.models.mlp.member_rows`). The heads that one fold fitted are
        then the heads served, instead of a second set fitted on draws from every film: with
        thousands of films a draw from two thirds of them serves as well, the blend weights
        and the uncertainty band are validated on the heads that serve (split conformal, Lei
        et al. 2018), and the fit costs about a third (3,200 × 5: 48.9 → 16.0 CPU-s). The
        physics, cheap beside the heads, is refitted on every film (serving the fold's physics
        instead raised the held-out ΔE00 at 3,200 × 5 from 0.031 to 0.039, bench/scale.py).
        None: never. Up to this many films nothing changes.
    n_jobs : int or None, default None
        MLP heads fitted in parallel (joblib; -1: every core). The fitted model is the same
        either way. Leave it at None inside cross-validation's own parallel folds.

    Attributes
    ----------
    colorants_, training_range_, n_features_in_
    physics_ : FluorescentKubelkaMunkModel, fitted on all the training data.
    plain_ : FormulationModel, the plain heads.
    residual_spectral_heads_, residual_lab_heads_ : lists of fitted regressors, one per member.
    lab_weights_ : ndarray (5,), over :data:`LAB_CANDIDATES`.
    spectral_weights_ : ndarray (3,), over :data:`SPECTRAL_CANDIDATES`.
    inner_delta_e00_ : dict, inner out-of-fold mean ΔE00 of each CIELAB candidate and of the blend.
    bands_ : dict, the calibrated uncertainty band of each CIELAB path (``"head"``, ``"spectral"``:
        :class:`~model.models.difficulty.DifficultyBand`), fitted on the inner out-of-fold residuals.
    serving_ : ServingSnapshot
        All of the above that predicting needs, as plain arrays (:mod:`model.models.serving_form`),
        made last in ``fit``: every prediction runs it, and the registry saves it as ``serving.npz``.
    """

    serving_attributes = ("serving_",)

    _parameter_constraints: dict = {
        "fluorescent": [StrOptions({"auto"}), tuple, list],
        "excitation_max_nm": [Interval(Real, 400.0, 700.0, closed="both")],
        "physics_ridge": [Interval(Real, 0.0, None, closed="left")],
        "physics_smoothness": [Interval(Real, 0.0, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions({"relu", "tanh", "logistic", "identity"})],
        "alpha": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "input_transform": [StrOptions(set(INPUT_TRANSFORMS))],
        "residual_alpha": [Interval(Real, 0.0, None, closed="left")],
        "inner_folds": [Interval(Integral, 2, None, closed="left")],
        "blend_step": [Interval(Real, 0.0, 0.5, closed="right")],
        "headline": [StrOptions(set(HEADLINE_PATHS))],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "large_data_films": [Interval(Integral, 2, None, closed="left"), None],
        "n_jobs": [Integral, None],
    }

    #: Models saved before the large-data schedule existed never followed it.
    large_data_films = None
    n_jobs = None

    def __init__(
        self,
        fluorescent="auto",
        excitation_max_nm=500.0,
        physics_ridge=1e-3,
        physics_smoothness=1e-2,
        hidden_layer_sizes=(32,),
        activation="tanh",
        alpha=0.1,
        max_iter=2000,
        n_ensemble=2,
        input_transform="mixed",
        residual_alpha=1.0,
        inner_folds=3,
        blend_step=0.1,
        headline="head",
        random_state=0,
        large_data_films=2000,
        n_jobs=None,
    ):
        self.fluorescent = fluorescent
        self.excitation_max_nm = excitation_max_nm
        self.physics_ridge = physics_ridge
        self.physics_smoothness = physics_smoothness
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.max_iter = max_iter
        self.n_ensemble = n_ensemble
        self.input_transform = input_transform
        self.residual_alpha = residual_alpha
        self.inner_folds = inner_folds
        self.blend_step = blend_step
        self.headline = headline
        self.random_state = random_state
        self.large_data_films = large_data_films
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ parts
    def _physics(self) -> FluorescentKubelkaMunkModel:
        return FluorescentKubelkaMunkModel(
            fluorescent=self.fluorescent, excitation_max_nm=self.excitation_max_nm, ridge=self.physics_ridge, smoothness=self.physics_smoothness
        )

    def _large(self, n_films: int) -> bool:
        """Whether a fit on ``n_films`` films follows the large-data schedule (see ``large_data_films``)."""
        return self.large_data_films is not None and n_films > self.large_data_films

    def _plain(self, alpha: float, n_films: int = 0) -> FormulationModel:
        return FormulationModel(
            hidden_layer_sizes=tuple(self.hidden_layer_sizes), activation=self.activation, alpha=alpha, max_iter=self.max_iter,
            n_ensemble=self.n_ensemble, input_transform=self.input_transform, headline="head", random_state=self.random_state,
            max_samples=self.large_data_films if self._large(n_films) else None, n_jobs=self.n_jobs,
        )

    def _fit_parts(self, dataset: Dataset) -> _Parts:
        """Fit the physics, the plain heads and the residual heads on every row of ``dataset``."""
        X = dataset.recipes.to_numpy(dtype=float)
        physics = self._physics().fit(dataset)
        plain = self._plain(self.alpha, len(dataset)).fit(dataset)
        physics_reflectance = physics.reflectance_of(X)
        spectral_residual = dataset.reflectance - physics_reflectance
        lab_residual = colorimetry.reflectance_to_Lab(dataset.reflectance) - colorimetry.reflectance_to_Lab(physics_reflectance)
        factory = self._plain(self.residual_alpha, len(dataset))
        tasks = []
        for member in range(self.n_ensemble):
            features = factory.member_input_transform(member)
            seed = self.random_state + member
            rows = member_rows(len(X), factory.max_samples, seed)  # the same draw as the member's plain heads
            tasks += [(factory._make_head(seed, None, features), X[rows], spectral_residual[rows]),
                      (factory._make_head(seed, None, features), X[rows], lab_residual[rows])]
        fitted = fit_heads(tasks, self.n_jobs)
        residual_spectral, residual_lab = fitted[0::2], fitted[1::2]
        return _Parts(physics, plain, residual_spectral, residual_lab)

    def _inner_folds(self, dataset: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
        """Leave-recipe-out folds of the training data alone (the inner loop of a nested validation)."""
        from sklearn.model_selection import GroupKFold

        groups = dataset.recipe_ids
        n_splits = min(self.inner_folds, len(np.unique(groups)))
        if n_splits < 2:
            raise ValueError(f"The hybrid's inner validation needs at least 2 recipes; the training data has {len(np.unique(groups))}.")
        splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        folds = list(splitter.split(groups, groups=groups))
        return folds[:1] if self._large(len(dataset)) else folds

    def _inner_out_of_fold(self, dataset: Dataset, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Parts]:
        """Out-of-fold candidate spectra (3, v, 31) and CIELAB (5, v, 3) of the v validated training rows
        (every row; in the large-data schedule those of the one fitted fold), each predicted by parts
        fitted without its recipe, the index of those rows, and the parts the last fold fitted."""
        X = dataset.recipes.to_numpy(dtype=float)
        spectra = np.zeros((len(SPECTRAL_CANDIDATES), len(dataset), dataset.reflectance.shape[1]))
        Labs = np.zeros((len(LAB_CANDIDATES), len(dataset), 3))
        folds = self._inner_folds(dataset)
        for number, (train, held_out) in enumerate(folds, start=1):
            parts = self._fit_parts(dataset.subset(train))
            member_spectra, member_Labs = parts.candidates(X[held_out])
            spectra[:, held_out] = member_spectra.mean(axis=1)
            Labs[:, held_out] = member_Labs.mean(axis=1)
            if progress:
                progress(0.8 * number / len(folds), f"inner validation fold {number}/{len(folds)}")
        validated = np.sort(np.concatenate([held_out for _, held_out in folds]))
        return spectra[:, validated], Labs[:, validated], validated, parts

    # ------------------------------------------------------------------ fit
    def fit(self, dataset: Dataset, progress: Progress | None = None) -> "HybridModel":
        """Choose the blend weights by inner leave-recipe-out validation, then fit every part on all of ``dataset``
        (in the large-data schedule, the physics alone: the heads served are the inner fold's, see ``large_data_films``).

        Parameters
        ----------
        dataset : Dataset
            Colorants in wt %, ``thickness_um`` in µm, reflectance 0–1 (may exceed 1).
        progress : callable(fraction, message), optional

        Raises
        ------
        TypeError, ValueError
            As :meth:`~model.models.base.ColourModel.checked_training_inputs`.
        """
        self.checked_training_inputs(dataset)
        self._fit_fluorescence(dataset)  # once, here: the parts below see the data without readings
        dataset = without_readings(dataset)
        warn_degenerate_colorants(dataset)  # once, about the data given; the parts' own fits below stay quiet
        with quiet_colorant_warnings():
            spectra, Labs, validated, inner_parts = self._inner_out_of_fold(dataset, progress)
        measured_Lab = colorimetry.reflectance_to_Lab(dataset.reflectance[validated])
        self.lab_weights_ = choose_blend(Labs, measured_Lab, self.blend_step, "delta_e00")
        self.spectral_weights_ = choose_blend(spectra, dataset.reflectance[validated], self.blend_step, "mse")
        blended = np.einsum("c,cnd->nd", self.lab_weights_, Labs)
        self.inner_delta_e00_ = {
            **{name: float(np.mean(colorimetry.delta_E00(Lab, measured_Lab))) for name, Lab in zip(LAB_CANDIDATES, Labs)},
            "blend": float(np.mean(colorimetry.delta_E00(blended, measured_Lab))),
        }
        with quiet_colorant_warnings():
            if self._large(len(dataset)):  # the heads validated on the held-out third, which chose the weights above
                parts = _Parts(self._physics().fit(dataset), inner_parts.plain, inner_parts.residual_spectral, inner_parts.residual_lab)
            else:
                parts = self._fit_parts(dataset)
        self.physics_, self.plain_ = parts.physics, parts.plain
        self.residual_spectral_heads_, self.residual_lab_heads_ = parts.residual_spectral, parts.residual_lab
        self.colorants_ = tuple(dataset.colorants)
        self.training_range_ = TrainingRange.from_recipes(dataset.recipes)
        self.n_features_in_ = len(self.colorants_) + 1
        self.bands_ = self._calibrated_bands(dataset, spectra, Labs, validated)
        self.serving_ = self._serving_form()
        if progress:
            progress(1.0, "fitted")
        return self

    def _calibrated_bands(self, dataset: Dataset, spectra: np.ndarray, Labs: np.ndarray, validated: np.ndarray) -> dict:
        """The calibrated uncertainty band of each CIELAB path, from the inner out-of-fold predictions alone
        (:func:`model.models.uncertainty.calibrated_bands`; nested: an outer scoring fold is never seen)."""
        Lab_paths = {
            "head": np.einsum("c,cnd->nd", self.lab_weights_, Labs),
            "spectral": colorimetry.reflectance_to_Lab(np.einsum("c,cnd->nd", self.spectral_weights_, spectra)),
        }
        return calibrated_bands(
            dataset.recipes.to_numpy(dtype=float), self._inner_folds(dataset), validated, Lab_paths, Labs[LAB_CANDIDATES.index("physics")],
            colorimetry.reflectance_to_Lab(dataset.reflectance[validated]), tuple(self.physics_.fluorescent_index),
        )

    # -------------------------------------------------------------- predict
    def _parts(self) -> _Parts:
        return _Parts(self.physics_, self.plain_, self.residual_spectral_heads_, self.residual_lab_heads_)

    def predict_members(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each member's blended reflectance (m, n, 31) and blended CIELAB (m, n, 3); members share the physics."""
        self.check_fitted()
        return self.serving_.predict_members(X)

    def predict_arrays(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean reflectance (n, 31) and headline CIELAB (n, 3) of X (n, inputs), without building a Prediction."""
        self.check_fitted()
        return self.serving_.predict_arrays(X)

    def predict_fluorescence(self, X: np.ndarray) -> np.ndarray | None:
        """Fluorescence intensity (n,; ct/s) of X (n, inputs); None without a head."""
        self.check_fitted()
        return self.serving_.predict_fluorescence(X)

    def serving_snapshot(self) -> ServingSnapshot:
        """The fitted hybrid's serving form (:attr:`serving_`), which every prediction runs and the registry saves."""
        self.check_fitted()
        return self.serving_

    def _serving_form(self) -> ServingSnapshot:
        """The fitted parts as a :class:`~model.models.serving_form.ServingSnapshot`; the last step of ``fit``.

        The plain heads and the fluorescence head bring their own programs (made in their
        fits); the residual heads are exported here. Each program is checked against its
        head's own ``predict`` to 1e-9 (:func:`~model.models.mlp_forward.head_programs`,
        which raises when a head cannot be replayed).
        """
        physics = self.physics_
        return ServingSnapshot(
            colorants_=tuple(self.colorants_),
            training_range_=self.training_range_,
            headline=self.headline,
            heads={
                "plain_spectral": self.plain_.spectral_programs_, "plain_lab": self.plain_.lab_programs_,
                "residual_spectral": head_programs(self.residual_spectral_heads_, "residual spectral heads"),
                "residual_lab": head_programs(self.residual_lab_heads_, "residual CIELAB heads"),
            },
            lab_weights=np.asarray(self.lab_weights_, dtype=float),
            spectral_weights=np.asarray(self.spectral_weights_, dtype=float),
            physics=FilmPhysics(
                unit_absorption=physics.K_, unit_scattering=physics.S_, binder_absorption=physics.K_binder_,
                binder_scattering=physics.S_binder_, scattering_exponent=physics._scattering_exponent(),
                substrate_reflectance=physics.substrate_reflectance_, emission=physics.emission_,
                fluorescent_index=tuple(physics.fluorescent_index), excitation_max_nm=float(physics.excitation_max_nm),
                surface=tuple(float(v) for v in physics.surface_),
            ),
            band_scale=HYBRID_BAND_SCALE,
            bands=self.bands_,
            fluorescence=None if self.fluorescence_head_ is None else self.fluorescence_head_.programs_,
        )

    def predict(self, recipes: pd.DataFrame) -> Prediction:
        """Predict recipes (colorants in wt %, ``thickness_um`` in µm) with :attr:`serving_`.

        Returns
        -------
        Prediction
            The blended spectrum and both CIELAB paths, the physics-only spectrum and
            CIELAB (``reflectance_physics``, ``Lab_physics``), and the uncertainty: the
            calibrated 90 % band (``bands_``, :mod:`model.models.difficulty`).
        """
        self.check_fitted()
        return self.serving_.predict(recipes)

    @property
    def n_parameters(self) -> int:
        """The physics constants, the plain heads' weights and the residual heads' weights."""
        self.check_fitted()
        return int(self.physics_.n_parameters + self.plain_.n_parameters + _network_weights([*self.residual_spectral_heads_, *self.residual_lab_heads_]))
