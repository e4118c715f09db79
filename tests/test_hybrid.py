"""Tests for model.models.hybrid: physics backbone, residual and plain MLP heads, a nested blend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from model.core import colorimetry
from model.core.schema import THICKNESS_COLUMN
from model.evaluation import cross_validate
from model.evaluation.folds import grouped_folds
from model.models import hybrid
from model.models.hybrid import LAB_CANDIDATES, SPECTRAL_CANDIDATES, HybridModel, choose_blend, simplex_grid
from model.registry.registry import ModelRegistry


def quick_hybrid(**changes) -> HybridModel:
    """A hybrid that fits in about a second on the tiny dataset; accuracy is not what these tests are about."""
    return HybridModel(**{"hidden_layer_sizes": (8,), "max_iter": 200, "n_ensemble": 2, "inner_folds": 2, "blend_step": 0.25, **changes})


@pytest.fixture(scope="module")
def fitted(tiny_dataset):
    return quick_hybrid().fit(tiny_dataset)


def test_simplex_grid_covers_the_simplex():
    grid = simplex_grid(3, 0.5)
    assert {tuple(row) for row in grid} == {(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)}
    assert len(simplex_grid(5, 0.1)) == 1001
    np.testing.assert_allclose(simplex_grid(5, 0.1).sum(axis=1), 1.0)


def test_choose_blend_finds_the_candidate_that_matches_and_an_average_when_that_is_best():
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.uniform(30, 90, 20), rng.uniform(-40, 40, (20, 2))])
    off = truth + 5.0
    np.testing.assert_allclose(choose_blend(np.stack([off, truth, off - 10]), truth, 0.1, "delta_e00"), [0, 1, 0])
    np.testing.assert_allclose(choose_blend(np.stack([truth + 3, truth - 3]), truth, 0.1, "mse"), [0.5, 0.5])


def test_prediction_carries_the_physics_path_beside_the_blend(fitted, tiny_dataset):
    recipes = tiny_dataset.recipes.head(5)
    prediction = fitted.predict(recipes)
    assert prediction.has_physics
    np.testing.assert_allclose(prediction.reflectance_physics, fitted.physics_.reflectance_of(recipes.to_numpy()))
    np.testing.assert_allclose(prediction.Lab_physics, colorimetry.reflectance_to_Lab(prediction.reflectance_physics))
    assert prediction.headline == "head"
    np.testing.assert_allclose(prediction.Lab, prediction.Lab_head)
    np.testing.assert_allclose(prediction.delta_e00_physics, colorimetry.delta_E00(prediction.Lab_physics, prediction.Lab))
    assert all(code.startswith("#") and len(code) == 7 for code in prediction.hex_physics)
    assert np.all(np.isfinite(prediction.uncertainty)) and np.all(prediction.uncertainty > 0)
    # A model without physics says so with NaN, not with a copy of its own prediction.
    from model import FormulationModel

    plain = FormulationModel(hidden_layer_sizes=(8,), max_iter=100, n_ensemble=1).fit(tiny_dataset).predict(recipes)
    assert not plain.has_physics and np.isnan(plain.Lab_physics).all() and np.isnan(plain.delta_e00_physics).all()


def test_blend_weights_are_convex_and_recorded(fitted):
    assert fitted.lab_weights_.shape == (len(LAB_CANDIDATES),)
    assert fitted.spectral_weights_.shape == (len(SPECTRAL_CANDIDATES),)
    for weights in (fitted.lab_weights_, fitted.spectral_weights_):
        assert np.all(weights >= 0) and weights.sum() == pytest.approx(1.0)
    assert set(fitted.inner_delta_e00_) == {*LAB_CANDIDATES, "blend"}
    assert fitted.inner_delta_e00_["blend"] <= min(fitted.inner_delta_e00_[name] for name in LAB_CANDIDATES) + 1e-9


def test_on_films_the_physics_explains_the_blend_leans_on_the_physics():
    from model.simulate import demo_measurement_plan, simulate_dataset

    noiseless = simulate_dataset(demo_measurement_plan())
    model = quick_hybrid(blend_step=0.1).fit(noiseless)
    assert model.lab_weights_[LAB_CANDIDATES.index("physics")] + model.lab_weights_[LAB_CANDIDATES.index("residual_head")] >= 0.7
    assert model.inner_delta_e00_["physics"] < 0.2


def test_a_spy_shows_the_nested_blend_never_sees_the_scoring_folds(tiny_dataset, monkeypatch):
    """Issue 12: the blend weights are chosen on the outer fold's training recipes only."""
    inner_calls, blend_calls = [], []
    original_inner, original_choose = HybridModel._inner_out_of_fold, hybrid.choose_blend

    def spy_inner(self, dataset, progress=None):
        inner_calls.append(set(dataset.recipe_ids))
        return original_inner(self, dataset, progress)

    def spy_choose(candidates, measured, step, loss):
        blend_calls.append(np.array(measured))
        return original_choose(candidates, measured, step, loss)

    monkeypatch.setattr(HybridModel, "_inner_out_of_fold", spy_inner)
    monkeypatch.setattr(hybrid, "choose_blend", spy_choose)
    cross_validate(tiny_dataset, quick_hybrid(), n_splits=3, seeds=(0,), n_jobs=1)

    folds = grouped_folds(tiny_dataset.recipe_ids, 3, 0)
    assert len(inner_calls) == len(folds) and len(blend_calls) == 2 * len(folds)
    measured_Lab = colorimetry.reflectance_to_Lab(tiny_dataset.reflectance)
    for number, (train, test) in enumerate(folds):
        scoring = set(tiny_dataset.recipe_ids[test])
        assert inner_calls[number] == set(tiny_dataset.recipe_ids[train])
        assert inner_calls[number].isdisjoint(scoring)
        # What the weights were scored against is exactly the training rows' measurements.
        lab_target, spectral_target = blend_calls[2 * number], blend_calls[2 * number + 1]
        np.testing.assert_array_equal(lab_target, measured_Lab[train])
        np.testing.assert_array_equal(spectral_target, tiny_dataset.reflectance[train])


def test_the_spy_would_catch_a_leak(tiny_dataset, monkeypatch):
    # The check above is only worth something if it can fail: choosing the blend on all the
    # data before splitting (the leak nesting prevents) puts scoring recipes in the inner loop.
    inner_calls = []
    original_inner = HybridModel._inner_out_of_fold

    def spy_inner(self, dataset, progress=None):
        inner_calls.append(set(dataset.recipe_ids))
        return original_inner(self, dataset, progress)

    monkeypatch.setattr(HybridModel, "_inner_out_of_fold", spy_inner)
    quick_hybrid().fit(tiny_dataset)
    _, test = grouped_folds(tiny_dataset.recipe_ids, 3, 0)[0]
    assert not inner_calls[0].isdisjoint(set(tiny_dataset.recipe_ids[test]))


def test_registry_saves_and_loads_the_hybrid(fitted, tiny_dataset, tmp_path):
    card = ModelRegistry(tmp_path).save_model(fitted, metrics={}, dataset_info={"fingerprint": tiny_dataset.fingerprint()})
    loaded, loaded_card = ModelRegistry(tmp_path).load_model(card.version)
    assert loaded_card.kind == "HybridModel"
    recipes = tiny_dataset.recipes.head(6)
    before, after = fitted.predict(recipes), loaded.predict(recipes)
    np.testing.assert_array_equal(after.reflectance, before.reflectance)
    np.testing.assert_array_equal(after.Lab, before.Lab)
    np.testing.assert_array_equal(after.reflectance_physics, before.reflectance_physics)
    np.testing.assert_array_equal(loaded.lab_weights_, fitted.lab_weights_)


def test_same_seed_same_model_and_reseeding_changes_the_networks(fitted, tiny_dataset):
    recipes = tiny_dataset.recipes.head(4)
    again = clone(fitted).fit(tiny_dataset)
    np.testing.assert_array_equal(again.predict(recipes).reflectance, fitted.predict(recipes).reflectance)
    assert fitted.reseeded(1).random_state == fitted.random_state + 1000


def test_predict_names_missing_columns(fitted, tiny_dataset):
    with pytest.raises(ValueError, match=THICKNESS_COLUMN):
        fitted.predict(tiny_dataset.recipes.drop(columns=[THICKNESS_COLUMN]))


def test_predicts_ten_thousand_recipes_in_one_call(fitted, tiny_dataset):
    # How fast is measured by bench/speed.py, not asserted here.
    rng = np.random.default_rng(0)
    recipes = pd.DataFrame(
        {name: rng.uniform(0, tiny_dataset.recipes[name].max(), 10_000) for name in tiny_dataset.colorants}
        | {THICKNESS_COLUMN: rng.choice([8.0, 10.0, 12.0], 10_000)}
    )
    default = HybridModel(inner_folds=2).set_params(max_iter=50)  # the default's network sizes and members
    model = default.fit(tiny_dataset)
    prediction = model.predict(recipes)
    assert prediction.reflectance.shape == (10_000, 31) and np.isfinite(prediction.Lab).all()


# ------------------------------------------------------------------ on the real data


@pytest.fixture(scope="module")
def real_dataset(real_data_dir):
    from model.io import load_dataset

    return load_dataset(real_data_dir)[0]


@pytest.mark.slow
def test_a_10_um_film_lies_between_the_8_and_12_um_films_for_every_recipe(real_dataset):
    """Issue 12: for every recipe, the predicted 10 µm spectrum lies between the 8 and 12 µm ones."""
    model = HybridModel().fit(real_dataset)
    recipes = real_dataset.recipes.drop_duplicates(subset=list(real_dataset.colorants)).reset_index(drop=True)
    spectra = {}
    for thickness in (8.0, 10.0, 12.0):
        spectra[thickness] = model.predict(recipes.assign(**{THICKNESS_COLUMN: thickness})).reflectance
    low, high = np.minimum(spectra[8.0], spectra[12.0]), np.maximum(spectra[8.0], spectra[12.0])
    assert len(recipes) == real_dataset.n_recipes
    # Where thickness matters (the 8 and 12 µm films differ by more than 0.01), strictly between.
    matters = high - low > 0.01
    assert np.all((spectra[10.0] >= low)[matters] & (spectra[10.0] <= high)[matters])
    # At a crossover band (GXT20 at 500 nm: thicker absorbs more and emits more, and the two
    # nearly cancel) the emission can peak between 8 and 12 µm; by no more than 0.003
    # (reflectance units, a few tenths of a percent of the reading, the instrument's band noise).
    excess = np.maximum(low - spectra[10.0], 0) + np.maximum(spectra[10.0] - high, 0)
    assert excess.max() < 0.003, f"{(excess > 0).any(axis=1).sum()} recipes step outside, by up to {excess.max():.4f}"


def test_the_fast_path_for_the_optimiser_matches_predict(fitted, tiny_dataset):
    X = tiny_dataset.recipes.head(7).to_numpy()
    reflectance, Lab = fitted.predict_arrays(X)
    prediction = fitted.predict(tiny_dataset.recipes.head(7))
    np.testing.assert_allclose(reflectance, prediction.reflectance, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(Lab, prediction.Lab, rtol=1e-9, atol=1e-9)


def test_predict_is_the_scikit_learn_heads_own_arithmetic(fitted, tiny_dataset):
    """predict runs the serving form fit keeps (serving_); it must give what the heads' own scikit-learn predict gives."""
    X = tiny_dataset.recipes.head(9).to_numpy(dtype=float)
    assert sum(len(programs) for programs in fitted.serving_.heads.values()) == 4 * fitted.n_ensemble
    spectra, Labs = fitted._parts().candidates(X)  # every head through its own predict
    member_reflectance, member_Lab = fitted.predict_members(X)
    np.testing.assert_allclose(member_reflectance, np.einsum("c,cmnd->mnd", fitted.spectral_weights_, spectra), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(member_Lab, np.einsum("c,cmnd->mnd", fitted.lab_weights_, Labs), rtol=1e-9, atol=1e-9)


def test_up_to_large_data_films_nothing_changes(tiny_dataset):
    """Issue 27: the large-data schedule leaves a fit on fewer films exactly as it was."""
    recipes = tiny_dataset.recipes.head(6)
    default, never = quick_hybrid().fit(tiny_dataset), quick_hybrid(large_data_films=None).fit(tiny_dataset)
    np.testing.assert_array_equal(default.lab_weights_, never.lab_weights_)
    np.testing.assert_array_equal(default.predict(recipes).Lab, never.predict(recipes).Lab)


def test_the_large_data_schedule_fits_one_inner_fold_and_heads_on_draws(tiny_dataset, monkeypatch):
    """Issue 27: above large_data_films the inner validation fits one fold, each member's heads a draw of that
    many films, and the heads that fold fitted are the ones served (no second set), beside a physics fitted on every film."""
    fitted_parts = []
    original = HybridModel._fit_parts

    def spy(self, dataset):
        parts = original(self, dataset)
        fitted_parts.append((len(dataset), parts))
        return parts

    monkeypatch.setattr(HybridModel, "_fit_parts", spy)
    model = quick_hybrid(large_data_films=12).fit(tiny_dataset)  # its one inner fold fits 16 of the 32 films
    assert len(fitted_parts) == 1 and fitted_parts[0][0] < len(tiny_dataset)  # one inner fold, and nothing more
    inner = fitted_parts[0][1]
    assert model.residual_lab_heads_ is inner.residual_lab and model.plain_ is inner.plain
    assert model.physics_ is not inner.physics  # the physics is refitted on every film
    assert model.physics_.training_range_.minimum == model.training_range_.minimum
    assert model.physics_.training_range_.maximum == model.training_range_.maximum
    heads = [*model.residual_spectral_heads_, *model.residual_lab_heads_, *model.plain_.spectral_heads_, *model.plain_.lab_heads_]
    assert all(head.regressor_[1].n_samples_seen_ == 12 for head in heads)  # the pipeline's scaler saw the draw alone
    first, second = model.residual_lab_heads_[0].regressor_[1], model.residual_lab_heads_[1].regressor_[1]
    assert not np.array_equal(first.mean_, second.mean_)  # members draw different films
    assert np.all(np.isfinite(model.predict(tiny_dataset.recipes).Lab))


@pytest.mark.slow  # starts joblib worker processes (a few seconds on a busy machine)
def test_heads_fitted_in_parallel_are_the_same_heads(tiny_dataset):
    from model.models.mlp import FormulationModel

    recipes = tiny_dataset.recipes.head(6)
    one = FormulationModel(hidden_layer_sizes=(4,), max_iter=50, n_ensemble=2).fit(tiny_dataset)
    two = FormulationModel(hidden_layer_sizes=(4,), max_iter=50, n_ensemble=2, n_jobs=2).fit(tiny_dataset)
    np.testing.assert_array_equal(one.predict(recipes).Lab, two.predict(recipes).Lab)
    np.testing.assert_array_equal(one.predict(recipes).reflectance, two.predict(recipes).reflectance)


def _with_degenerate_colorants(dataset):
    """``dataset`` plus a colorant no film holds ('Unused') and one only its first recipe holds ('Once')."""
    from model.core.schema import Dataset

    table = dataset.table.copy()
    table["Unused"] = 0.0
    table["Once"] = np.where(table["recipe_id"] == table["recipe_id"].iloc[0], 2.0, 0.0)
    return Dataset(table, (*dataset.colorants, "Unused", "Once"), dataset.name)


def test_a_colorant_never_used_or_in_one_recipe_trains_with_one_warning_naming_it(tiny_dataset):
    """Issue 27: a clear warning per colorant, once, not a failure in the solver nor a warning per inner fold."""
    import warnings

    from model.models.colorant_checks import ColorantWarning

    data = _with_degenerate_colorants(tiny_dataset)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = quick_hybrid().fit(data)
    messages = [str(w.message) for w in caught if issubclass(w.category, ColorantWarning)]
    assert len(messages) == 2, messages
    assert "'Unused' is 0 wt % or empty in all" in messages[0] and "Drop the column" in messages[0]
    assert "'Once' is in only one recipe" in messages[1] and repr(str(data.recipe_ids[0])) in messages[1]
    assert not [w for w in caught if "every training row" in str(w.message)]  # the physics' own, per fold, is gone
    recipes = data.recipes.head(4)
    assert np.all(np.isfinite(model.predict(recipes).Lab))


def test_cross_validation_warns_about_a_degenerate_colorant_once(tiny_dataset):
    import warnings

    from model.models.colorant_checks import ColorantWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cross_validate(_with_degenerate_colorants(tiny_dataset), quick_hybrid(n_ensemble=1), n_splits=2, seeds=(0,), n_jobs=1)
    assert len([w for w in caught if issubclass(w.category, ColorantWarning)]) == 2
