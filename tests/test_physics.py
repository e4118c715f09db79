"""Tests for the physics models: the finite-film Kubelka–Munk formula, the fitted KM baseline and the
fluorescent Kubelka–Munk model (model.models.fluorescent_km)."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from model.core import colorimetry
from model.core.prediction import Prediction
from model.core.schema import THICKNESS_COLUMN
from model.models.fluorescent_km import (
    SCATTERING_EXPONENT_BOUNDS,
    FluorescentKubelkaMunkModel,
    _JointFit,
    detect_fluorescent,
    fluorescence_emission,
    saunderson,
)
from model.models.physics import KubelkaMunkModel, _film_reflectance_gradient, finite_film_reflectance
from model.simulate import DEMO_COLORANTS, demo_measurement_plan, simulate_dataset, simulate_reflectance

NON_FLUORESCENT = tuple(c for c in DEMO_COLORANTS if c.emission is None)
NON_FLUORESCENT_NAMES = [c.name for c in NON_FLUORESCENT]


def random_recipes(names, maxima, n, seed) -> pd.DataFrame:
    """Recipes with about half the colorants present, each up to its maximum (wt %)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({name: rng.uniform(0, 1, n) * top * (rng.random(n) < 0.5) for name, top in zip(names, maxima)})
    table[THICKNESS_COLUMN] = rng.choice([8.0, 10.0, 12.0], n)
    return table


def demo_plan_without_fluorescent() -> pd.DataFrame:
    plan = demo_measurement_plan()
    return plan[plan["FluoYellow"] == 0].drop(columns="FluoYellow")


@pytest.fixture(scope="module")
def noiseless_non_fluorescent():
    return simulate_dataset(demo_plan_without_fluorescent(), colorants=NON_FLUORESCENT)


@pytest.fixture(scope="module")
def fitted_non_fluorescent(noiseless_non_fluorescent):
    return KubelkaMunkModel().fit(noiseless_non_fluorescent)


# ------------------------------------------------------------------ formula


def test_clear_film_returns_the_backing():
    np.testing.assert_allclose(finite_film_reflectance(0.0, 0.0, 10.0, [0.2, 0.8]), [0.2, 0.8], rtol=1e-12)


def test_non_scattering_film_follows_beer_lambert():
    K = np.array([[0.0, 0.01, 0.1, 1.0]])
    np.testing.assert_allclose(finite_film_reflectance(K, 0.0, [8.0], 0.9), 0.9 * np.exp(-2 * K * 8.0), rtol=1e-10)


def test_thick_film_hides_its_backing():
    K, S = np.array([0.01, 0.1, 0.5]), np.array([0.5, 0.5, 0.5])
    ratio = K / S
    R_infinity = 1 + ratio - np.sqrt(ratio**2 + 2 * ratio)  # Kubelka–Munk reflectance of an opaque layer
    for backing in (0.0, 1.0):
        np.testing.assert_allclose(finite_film_reflectance(K, S, 1e4, backing), R_infinity, rtol=1e-10)


def test_agrees_with_kubelkas_hyperbolic_form():
    K, S, X, Rg = 0.03, 0.2, 9.0, 0.7
    a = 1 + K / S
    b = np.sqrt(a**2 - 1)
    coth = 1 / np.tanh(b * S * X)
    textbook = (1 - Rg * (a - b * coth)) / (a - Rg + b * coth)
    np.testing.assert_allclose(finite_film_reflectance(K, S, X, Rg), textbook, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 0.1, 1.0])
def test_analytic_gradient_matches_finite_differences(scale):
    rng = np.random.default_rng(0)
    K, S = rng.uniform(0.1, 1, 20) * scale, rng.uniform(0.1, 3, 20) * scale
    X, Rg = rng.choice([8.0, 12.0], 20), rng.uniform(0.3, 1.0, 20)
    reflectance, dR_dK, dR_dS, dR_dRg = _film_reflectance_gradient(K, S, X, Rg)
    step = 1e-3 * scale  # small enough for truncation, large enough for round-off
    np.testing.assert_allclose(reflectance, finite_film_reflectance(K, S, X, Rg), rtol=1e-12)
    central = lambda f: (f(+step) - f(-step)) / (2 * step)  # noqa: E731
    np.testing.assert_allclose(dR_dK, central(lambda h: finite_film_reflectance(K + h, S, X, Rg)), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(dR_dS, central(lambda h: finite_film_reflectance(K, S + h, X, Rg)), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(
        dR_dRg, (finite_film_reflectance(K, S, X, Rg + 1e-6) - finite_film_reflectance(K, S, X, Rg - 1e-6)) / 2e-6, rtol=1e-5, atol=1e-8
    )


# ------------------------------------------------------------------ the fitted model


def test_recovers_noiseless_non_fluorescent_spectra(noiseless_non_fluorescent, fitted_non_fluorescent):
    model = fitted_non_fluorescent
    training = model.predict(noiseless_non_fluorescent.recipes)
    delta_e00 = colorimetry.delta_E00(training.Lab, colorimetry.reflectance_to_Lab(noiseless_non_fluorescent.reflectance))
    assert delta_e00.mean() < 0.1

    unseen = random_recipes(NON_FLUORESCENT_NAMES, [20, 2, 6, 5], n=40, seed=1)
    truth = simulate_reflectance(unseen[NON_FLUORESCENT_NAMES].to_numpy(), unseen[THICKNESS_COLUMN].to_numpy(), colorants=NON_FLUORESCENT)
    prediction = model.predict(unseen)
    delta_e00 = colorimetry.delta_E00(prediction.Lab, colorimetry.reflectance_to_Lab(truth))
    assert delta_e00.mean() < 0.2
    assert np.abs(prediction.reflectance - truth).mean() < 0.002


def test_recovers_the_unit_coefficients_where_they_matter(fitted_non_fluorescent):
    for index, colorant in enumerate(NON_FLUORESCENT):
        strong = colorant.absorption > 0.3 * colorant.absorption.max()
        np.testing.assert_allclose(fitted_non_fluorescent.K_[index, strong], colorant.absorption[strong], rtol=0.1)


def test_predict_before_fit_raises_not_fitted():
    recipes = pd.DataFrame({"BiVaYellow": [1.0], THICKNESS_COLUMN: [8.0]})
    with pytest.raises(NotFittedError, match="call fit"):
        KubelkaMunkModel().predict(recipes)


@pytest.mark.parametrize("colorants", [NON_FLUORESCENT[:2], DEMO_COLORANTS], ids=["2 colorants", "5 colorants"])
def test_any_number_of_colorants(colorants):
    names = [c.name for c in colorants]
    maxima = [{"FluoYellow": 25, "BiVaYellow": 20, "PhthaloGreen": 2}.get(n, 5) for n in names]
    train = simulate_dataset(random_recipes(names, maxima, n=60, seed=2), colorants=colorants, rng=np.random.default_rng(0))
    model = KubelkaMunkModel().fit(train)
    assert model.colorants_ == tuple(names)
    assert model.K_.shape == model.S_.shape == (len(names), 31)
    assert model.backing_reflectance_.shape == (31,)
    assert model.n_features_in_ == len(names) + 1

    prediction = model.predict(random_recipes(names, maxima, n=7, seed=3))
    assert isinstance(prediction, Prediction)
    assert prediction.reflectance.shape == (7, 31)
    assert prediction.Lab.shape == (7, 3)
    assert prediction.headline == "spectral"
    np.testing.assert_array_equal(prediction.delta_e00_paths, np.zeros(7))  # one path only
    assert len(prediction.to_frame()) == 7


def test_flags_a_recipe_beyond_the_training_range(fitted_non_fluorescent):
    recipes = pd.DataFrame(
        {"BiVaYellow": [5.0, 5.0], "PhthaloGreen": [1.0, 4.0], "PearlBlue": [0.0, 0.0], "QuinMagenta": [0.0, 0.0], THICKNESS_COLUMN: [8.0, 8.0]}
    )
    prediction = fitted_non_fluorescent.predict(recipes)
    assert prediction.out_of_range.tolist() == [False, True]
    assert "PhthaloGreen" in prediction.out_of_range_detail[1]


def test_cannot_reproduce_fluorescence_and_does_worse_there():
    """The point of the baseline: no fluorescence term, so it stays below reflectance 1."""
    dataset = simulate_dataset(demo_measurement_plan(), rng=np.random.default_rng(2026))
    started = time.perf_counter()
    model = KubelkaMunkModel().fit(dataset)
    assert time.perf_counter() - started < 10.0
    prediction = model.predict(dataset.recipes)
    assert dataset.reflectance.max() > 1.1
    assert prediction.reflectance.max() <= 1.0 + 1e-9
    delta_e00 = colorimetry.delta_E00(prediction.Lab, colorimetry.reflectance_to_Lab(dataset.reflectance))
    fluorescent = dataset.table["FluoYellow"].to_numpy() > 0
    assert delta_e00[fluorescent].mean() > delta_e00[~fluorescent].mean()


def test_fit_is_deterministic_and_clonable(noiseless_non_fluorescent, fitted_non_fluorescent):
    again = clone(fitted_non_fluorescent).fit(noiseless_non_fluorescent)
    np.testing.assert_array_equal(again.K_, fitted_non_fluorescent.K_)
    np.testing.assert_array_equal(again.S_, fitted_non_fluorescent.S_)
    assert not hasattr(clone(fitted_non_fluorescent), "K_")


def test_predict_names_missing_and_bad_columns(fitted_non_fluorescent):
    good = {"BiVaYellow": [5.0], "PhthaloGreen": [1.0], "PearlBlue": [0.0], "QuinMagenta": [0.0], THICKNESS_COLUMN: [8.0]}
    with pytest.raises(ValueError, match="QuinMagenta"):
        fitted_non_fluorescent.predict(pd.DataFrame({k: v for k, v in good.items() if k != "QuinMagenta"}))
    with pytest.raises(ValueError, match="PearlBlue"):
        fitted_non_fluorescent.predict(pd.DataFrame({**good, "PearlBlue": [-1.0]}))
    with pytest.raises(ValueError, match="thickness_um"):
        fitted_non_fluorescent.predict(pd.DataFrame({**good, THICKNESS_COLUMN: [0.0]}))


def test_extra_columns_are_carried_through(fitted_non_fluorescent):
    recipes = pd.DataFrame(
        {"name": ["a"], "BiVaYellow": [5.0], "PhthaloGreen": [1.0], "PearlBlue": [0.0], "QuinMagenta": [0.0], THICKNESS_COLUMN: [8.0]}
    )
    assert fitted_non_fluorescent.predict(recipes).to_frame()["name"].tolist() == ["a"]


def test_fit_rejects_bad_parameters(noiseless_non_fluorescent):
    with pytest.raises(ValueError, match="max_backing_reflectance"):
        KubelkaMunkModel(max_backing_reflectance=1.5).fit(noiseless_non_fluorescent)
    with pytest.raises(TypeError, match="Dataset"):
        KubelkaMunkModel().fit(noiseless_non_fluorescent.table)


def test_warns_about_a_colorant_absent_from_training():
    plan = demo_plan_without_fluorescent()
    plan = plan[plan["QuinMagenta"] == 0]
    dataset = simulate_dataset(plan, colorants=NON_FLUORESCENT)
    with pytest.warns(UserWarning, match="QuinMagenta"):
        KubelkaMunkModel().fit(dataset)


# ------------------------------------------------------------------ the fluorescent Kubelka–Munk model

@pytest.fixture(scope="module")
def noiseless_demo():
    """Every demo recipe at 8 and 12 µm, simulated without noise: five colorants, one fluorescent."""
    return simulate_dataset(demo_measurement_plan())


@pytest.fixture(scope="module")
def fitted_fluorescent(noiseless_demo):
    return FluorescentKubelkaMunkModel().fit(noiseless_demo)


def test_saunderson_is_the_identity_without_a_surface_and_lowers_reflectance_with_one():
    internal = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(saunderson(internal, 0.0, 0.0), internal, rtol=1e-15)
    corrected = saunderson(internal, 0.04, 0.6)
    assert np.all(corrected < internal) and np.all(np.diff(corrected) > 0)
    # Saunderson (1942), eq. for R∞ = 0.5 with k1 = 0.04, k2 = 0.6: 0.96·0.4·0.5 / 0.7.
    np.testing.assert_allclose(corrected[1], 0.96 * 0.4 * 0.5 / 0.7, rtol=1e-12)


def test_fluorescence_emission_saturates_and_is_quenched_by_absorption_at_the_emission_band():
    excitation = np.arange(400, 701, 10) < 500
    emission = np.exp(-0.5 * ((np.arange(400, 701, 10) - 520) / 15.0) ** 2)
    unit_k = np.where(excitation, 0.003, 0.00005)
    loadings = np.array([5.0, 15.0, 25.0])
    K = loadings[:, None] * unit_k + 0.001
    F = fluorescence_emission(loadings, unit_k, K, np.full(3, 8.0), emission, excitation)
    peaks = F.max(axis=1)
    assert peaks[0] < peaks[1] < peaks[2] and peaks[2] - peaks[1] < peaks[1] - peaks[0]
    quenched = fluorescence_emission(loadings, unit_k, K + 0.02 * emission, np.full(3, 8.0), emission, excitation)
    assert np.all(quenched.max(axis=1) < peaks)


def test_the_analytic_jacobian_matches_finite_differences(noiseless_demo):
    subset = noiseless_demo.subset(np.arange(0, len(noiseless_demo), 4))
    X = subset.recipes.to_numpy()
    problem = _JointFit(FluorescentKubelkaMunkModel(), X[:, :-1], X[:, -1], subset.reflectance, [0])
    start, lower, upper = FluorescentKubelkaMunkModel()._start_and_bounds(problem)
    rng = np.random.default_rng(0)
    params = np.clip(start * (1 + 0.3 * rng.random(start.size)) + 1e-3 * rng.random(start.size), lower + 1e-6, upper - 1e-6)
    analytic = problem.jacobian(params)[: subset.reflectance.size]
    numeric = np.empty_like(analytic)
    for column in range(params.size):
        step = 1e-6 * max(abs(params[column]), 1e-3)
        up, down = params.copy(), params.copy()
        up[column] += step
        down[column] -= step
        numeric[:, column] = (problem.forward(up) - problem.forward(down)).ravel() / (2 * step)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-5 * np.abs(numeric).max())


@pytest.mark.parametrize(
    "settings, fluorescent",
    [({}, [0]), ({"saunderson": "off", "scattering_exponent": 1.0}, [0, 2]), ({"saunderson": "fixed", "k1": 0.04, "k2": 0.6}, [])],
)
def test_the_normal_equations_from_blocks_equal_the_dense_product(settings, fluorescent):
    """Issue 27: JᵀJ and Jᵀr built block by block (never holding J) equal the dense Jacobian's, to rounding."""
    from model.simulate.scale import scale_dataset

    data = scale_dataset(60, 5, seed=4)
    X = data.recipes.to_numpy()
    model = FluorescentKubelkaMunkModel(**settings)
    problem = _JointFit(model, X[:, :-1], X[:, -1], data.reflectance, fluorescent)
    start, lower, upper = model._start_and_bounds(problem)
    params = np.clip(start + np.random.default_rng(1).uniform(0.0, 0.01, start.size), lower, upper)
    residuals = problem.residuals(params)
    J = problem.jacobian(params)
    normal, gradient = problem.normal_equations(params, residuals)
    np.testing.assert_allclose(normal, J.T @ J, rtol=0, atol=1e-12 * np.abs(normal).max())
    np.testing.assert_allclose(gradient, J.T @ residuals, rtol=0, atol=1e-12 * np.abs(gradient).max())


def test_the_physics_fit_reports_its_solver_iterations(tiny_dataset):
    model = FluorescentKubelkaMunkModel().fit(tiny_dataset)
    assert 1 <= model.n_iterations_ <= model.max_nfev


def test_reproduces_a_fluorescent_film_simulated_with_known_constants(noiseless_demo, fitted_fluorescent):
    """Issue 12: the physics model reproduces the simulator's films to < 0.1 ΔE00, seen and unseen."""
    model = fitted_fluorescent
    assert model.fluorescent_colorants_ == ("FluoYellow",)
    seen = model.predict(noiseless_demo.recipes)
    delta_e00 = colorimetry.delta_E00(seen.Lab, colorimetry.reflectance_to_Lab(noiseless_demo.reflectance))
    assert delta_e00.mean() < 0.1

    names = [c.name for c in DEMO_COLORANTS]
    unseen = random_recipes(names, [25, 20, 2, 6, 5], n=60, seed=4)
    truth = simulate_reflectance(unseen[names].to_numpy(), unseen[THICKNESS_COLUMN].to_numpy())
    prediction = model.predict(unseen)
    delta_e00 = colorimetry.delta_E00(prediction.Lab, colorimetry.reflectance_to_Lab(truth))
    assert delta_e00.mean() < 0.1
    assert np.abs(prediction.reflectance - truth).mean() < 0.003
    # It found the emission the simulator used (yield × shape), where the emission is strong.
    fluorescent = DEMO_COLORANTS[0]
    strong = fluorescent.emission > 0.3
    np.testing.assert_allclose(model.emission_[0, strong], fluorescent.fluorescence_yield * fluorescent.emission[strong], rtol=0.1)


def test_the_scattering_exponent_is_fitted_within_its_bounds_or_fixed(noiseless_demo, fitted_fluorescent):
    """S = S_binder + Σ c^γ s: γ is fitted per colorant, near 1 on films the simulator made with the
    linear law; fixed at 1 it is Duncan's law with four fewer constants."""
    low, high = SCATTERING_EXPONENT_BOUNDS
    fitted = fitted_fluorescent.scattering_exponent_
    assert fitted.shape == (5,) and np.all((fitted >= low) & (fitted <= high))
    np.testing.assert_allclose(fitted, 1.0, atol=0.1)  # the simulator's law is linear, and the fit finds it
    linear = FluorescentKubelkaMunkModel(scattering_exponent=1.0).fit(noiseless_demo)
    np.testing.assert_array_equal(linear.scattering_exponent_, np.ones(5))
    assert fitted_fluorescent.n_parameters == linear.n_parameters + 5


def test_a_model_saved_before_the_exponent_predicts_with_the_linear_law(fitted_fluorescent, noiseless_demo):
    old = pickle.loads(pickle.dumps(fitted_fluorescent))
    del old.__dict__["scattering_exponent_"], old.__dict__["scattering_exponent"]  # as unpickled from before
    old.S_ = fitted_fluorescent.S_  # same constants, read with γ = 1
    recipes = noiseless_demo.recipes.head(5)
    X = recipes.to_numpy()
    expected = FluorescentKubelkaMunkModel(scattering_exponent=1.0)
    expected.__dict__.update({k: v for k, v in old.__dict__.items() if k.endswith("_")}, scattering_exponent_=np.ones(5))
    np.testing.assert_array_equal(old.reflectance_of(X), expected.reflectance_of(X))
    assert old.get_params()["scattering_exponent"] == 1.0


def test_returns_reflectance_above_one_where_the_simulated_data_does(noiseless_demo, fitted_fluorescent):
    prediction = fitted_fluorescent.predict(noiseless_demo.recipes)
    above = noiseless_demo.reflectance > 1.02
    assert above.sum() > 50
    assert np.all(prediction.reflectance[above] > 1.0)
    assert np.all(prediction.reflectance[noiseless_demo.reflectance < 0.95] < 1.0)


def test_physics_path_of_the_physics_model_is_its_prediction(noiseless_demo, fitted_fluorescent):
    prediction = fitted_fluorescent.predict(noiseless_demo.recipes.head(3))
    assert prediction.has_physics
    np.testing.assert_array_equal(prediction.reflectance_physics, prediction.reflectance)
    np.testing.assert_allclose(prediction.Lab_physics, prediction.Lab)


def test_fluorescent_colorants_come_from_the_data_or_the_config(noiseless_demo):
    assert detect_fluorescent(noiseless_demo) == ("FluoYellow",)
    without = noiseless_demo.subset(noiseless_demo.table["FluoYellow"].to_numpy() == 0)
    assert detect_fluorescent(without) == ()
    with pytest.warns(UserWarning, match="FluoYellow"):  # absent from every film left
        named = FluorescentKubelkaMunkModel(fluorescent=()).fit(without)
    assert named.fluorescent_colorants_ == () and named.emission_.shape == (0, 31)
    with pytest.raises(ValueError, match="Glitter"):
        FluorescentKubelkaMunkModel(fluorescent=("Glitter",)).fit(noiseless_demo)


def test_scipy_trust_region_and_the_projected_solver_agree(noiseless_non_fluorescent):
    fast = FluorescentKubelkaMunkModel(fluorescent=()).fit(noiseless_non_fluorescent)
    scipy_fit = FluorescentKubelkaMunkModel(fluorescent=(), solver="trf", max_nfev=300).fit(noiseless_non_fluorescent)
    assert fast.cost_ <= scipy_fit.cost_ * 1.01
    recipes = noiseless_non_fluorescent.recipes
    delta_e00 = colorimetry.delta_E00(fast.predict(recipes).Lab, scipy_fit.predict(recipes).Lab)
    assert delta_e00.mean() < 0.05


def test_fluorescent_fit_is_deterministic(noiseless_demo, fitted_fluorescent):
    again = FluorescentKubelkaMunkModel().fit(noiseless_demo)
    np.testing.assert_array_equal(again.K_, fitted_fluorescent.K_)
    np.testing.assert_array_equal(again.emission_, fitted_fluorescent.emission_)


def test_fluorescent_model_rejects_bad_parameters(noiseless_demo):
    with pytest.raises(ValueError, match="saunderson"):
        FluorescentKubelkaMunkModel(saunderson="sometimes").fit(noiseless_demo)
    with pytest.raises(ValueError, match="excitation_max_nm"):
        FluorescentKubelkaMunkModel(excitation_max_nm=900.0).fit(noiseless_demo)
    with pytest.raises(TypeError, match="Dataset"):
        FluorescentKubelkaMunkModel().fit(noiseless_demo.table)


@pytest.fixture(scope="module")
def real_dataset(real_data_dir):
    from model.io import load_dataset

    return load_dataset(real_data_dir)[0]


def test_on_the_real_data_it_exceeds_one_where_the_films_do(real_dataset):
    """Issue 12: the fitted fluorescent model returns reflectance above 1 where the data does."""
    model = FluorescentKubelkaMunkModel().fit(real_dataset)
    assert model.fluorescent_colorants_ == ("GXT-10",)
    prediction = model.predict(real_dataset.recipes)
    clearly_above = real_dataset.reflectance > 1.05
    assert clearly_above.sum() > 100
    assert np.mean(prediction.reflectance[clearly_above] > 1.0) > 0.98
    assert prediction.reflectance.max() > 1.2
    # The plain Kubelka–Munk baseline cannot.
    assert KubelkaMunkModel().fit(real_dataset).predict(real_dataset.recipes).reflectance.max() <= 1.0 + 1e-9
