"""The honest search of the served kind: grouping, test recipes never steer the ranking, the champion's row,
reproducibility, persistence, roles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from model.auth.access import VIEWER, PermissionDenied
from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, Dataset
from model.jobs import search
from model.models.fluorescent_km import FIT_CACHE, FluorescentKubelkaMunkModel
from model.models.base import default_model
from model.models.hybrid import HybridModel
from model.registry.registry import ModelRegistry

# A small space of the served kind so each search on the tiny dataset takes seconds, not minutes.
TINY_SPACE = {
    **search.SEARCH_SPACE,
    "hidden_layer_sizes": ((4,), (6,)),
    "n_ensemble": (1,),
    "max_iter": (10, 20),
    "physics_ridge": (1e-3,),
    "physics_smoothness": (1e-2,),
}
TIMING_COLUMNS = ["fit_seconds", "trial_seconds", "trial_cpu_seconds", "test_fit_seconds", "test_cpu_seconds"]
N_TRIALS = 3
# The champion's row: a served configuration (not a trial's), cheap enough for the tiny dataset.
CACHE_AFTER_SEARCH: dict = {}  # the physics cache's counts after the module's first search
TINY_CHAMPION = HybridModel(hidden_layer_sizes=(5,), max_iter=15, n_ensemble=1, alpha=0.3, headline="spectral")


@pytest.fixture()
def cheap_baseline(monkeypatch, quick_model):
    # The real baseline (adam, 2000 epochs) is what the CLI compares with; here only the protocol matters.
    monkeypatch.setattr(search, "baseline_model", lambda: clone(quick_model))


def _search(dataset, **options):
    return search.run_search(dataset, n_trials=N_TRIALS, seed=3, n_folds=2, n_finalists=2, space=TINY_SPACE, champion=TINY_CHAMPION, **options)


@pytest.fixture(scope="module")
def tiny_result(tiny_dataset):
    with pytest.MonkeyPatch.context() as patch:
        from model import FormulationModel

        patch.setattr(search, "baseline_model", lambda: FormulationModel(hidden_layer_sizes=(16,), max_iter=300, n_ensemble=1, alpha=0.1))
        FIT_CACHE.clear()
        result = _search(tiny_dataset, champion_version="v-served")  # n_jobs=1: every fit in this process, and its cache
        CACHE_AFTER_SEARCH.update(FIT_CACHE.info())
        return result


def test_the_search_draws_the_served_kind_seeded_and_distinct():
    first, again, other = ([config.config() for config in search.sample_configs(30, seed=seed)] for seed in (1, 1, 2))
    assert first == again and first != other
    assert len({json.dumps(config, sort_keys=True) for config in first}) == 30
    configs = search.sample_configs(200, seed=4)
    assert {type(config) for config in configs} == {HybridModel} and search.SEARCHED_KIND == "HybridModel"
    for name, values in search.SEARCH_SPACE.items():  # only the space's values, and every one of them drawn
        drawn = {json.dumps(getattr(config, name)) for config in configs}
        assert drawn == {json.dumps(value) for value in values}, name
    # The served kind's own hyperparameters: heads, their sizes and penalties, the physics' penalties, the blend.
    assert {"hidden_layer_sizes", "alpha", "residual_alpha", "physics_ridge", "physics_smoothness", "blend_step"} <= set(search.SEARCH_SPACE)
    assert search.search_space_size() == search.effective_search_space_size() >= 10_000
    space = {"hidden_layer_sizes": ((4,), (8,)), "alpha": (0.1, 1.0)}
    assert len(search.sample_configs(4, space=space)) == 4
    with pytest.raises(ValueError, match="distinct models"):
        search.sample_configs(5, space=space)


def test_results_hold_the_champions_row_and_trials_of_the_served_kind(tiny_result, tiny_dataset):
    assert set(tiny_result.trials["kind"]) == {"HybridModel"} and len(tiny_result.trials) == N_TRIALS
    references = tiny_result.references.set_index("candidate")
    assert list(references.index) == [search.CHAMPION, search.PHYSICS, search.BASELINE]
    champion = references.loc[search.CHAMPION]
    # The served configuration, scored on the same test recipes as the finalists, with its own headline path.
    assert json.loads(champion["config_json"]) == TINY_CHAMPION.config() and champion["kind"] == "HybridModel"
    assert champion["headline"] == "spectral" and np.isfinite(champion["test_delta_e00_mean_headline"])
    assert set(tiny_result.predictions(search.CHAMPION)[RECIPE_ID_COLUMN]) == set(tiny_result.meta["test_recipes"])
    assert tiny_result.meta["champion"] == {"version": "v-served", "kind": "HybridModel", "config": TINY_CHAMPION.config()}
    assert tiny_result.has_champion and isinstance(tiny_result.model(tiny_result.best), HybridModel)
    assert tiny_result.model(search.CHAMPION).get_params() == TINY_CHAMPION.get_params()


def test_the_champions_configuration_is_the_cards_or_the_default_models(tmp_path, tiny_install):
    model, version = search.champion_configuration(tmp_path / "empty")
    assert version is None and type(model).__name__ == "HybridModel" and model.get_params() == default_model().get_params()
    model, version = search.champion_configuration()
    card = ModelRegistry().read_card(version)
    assert version == ModelRegistry().champion_version() and type(model).kind == card.kind and model.config() == {**card.config, "n_jobs": None}


def test_the_physics_is_solved_once_per_training_set_across_trials(tiny_result):
    # Every hybrid here has the default physics penalties, and KM alone is their physics: 2 outer folds × (3 inner
    # folds + 1) training sets, and the final fit's 3 + 1, are 12 solves, whatever the number of trials.
    hybrids = N_TRIALS + 1  # and the champion's row
    physics_fits = hybrids * 2 * (3 + 1) + (2 + 1) * (3 + 1) + 2 + 1  # CV; the 2 finalists' and the champion's test fits; KM
    assert CACHE_AFTER_SEARCH == {"misses": 12, "hits": physics_fits - 12, "size": 12}


def test_no_recipe_is_on_both_sides_of_any_split(tiny_dataset, tiny_result, monkeypatch, cheap_baseline):
    """Every fit (CV folds and the final test fit) is checked against what it then predicts."""
    fits = []

    class Spy:
        def __init__(self, model):
            self.model = model

        def __getattr__(self, name):  # fitted attributes (parameter count) come from the wrapped model
            return getattr(self.model, name)

        def fit(self, dataset):
            self.fit_recipes = set(dataset.recipe_ids)
            self.fit_rows = {tuple(row) for row in dataset.recipes.round(9).to_numpy()}
            fits.append(self)
            self.model.fit(dataset)
            return self

        def predict(self, recipes):
            rows = {tuple(row) for row in recipes.round(9).to_numpy()}
            assert not rows & self.fit_rows, "a predicted recipe was in the training rows"
            return self.model.predict(recipes)

    real = search._make_candidate
    monkeypatch.setattr(search, "_make_candidate", lambda config, seed: Spy(real(config, seed)))
    result = _search(tiny_dataset)

    test_recipes = set(result.meta["test_recipes"])
    assert test_recipes and not test_recipes & set().union(*(fit.fit_recipes for fit in fits))
    assert set(result.test_predictions[RECIPE_ID_COLUMN]) == test_recipes
    # (N_TRIALS + champion + KM + baseline) × 2 folds, then 2 finalists + the three references on test.
    assert len(fits) == (N_TRIALS + 3) * 2 + 5
    # The same seed gives the same ranking and the same test predictions (the spy only watches).
    drop = [c for c in TIMING_COLUMNS if c in result.trials.columns]
    pd.testing.assert_frame_equal(result.trials.drop(columns=drop), tiny_result.trials.drop(columns=drop))
    pd.testing.assert_frame_equal(result.test_predictions, tiny_result.test_predictions)


def _perturb_test_spectra(dataset: Dataset, test_recipes) -> Dataset:
    table = dataset.table.copy()
    is_test = table[RECIPE_ID_COLUMN].isin(test_recipes)
    table.loc[is_test, BAND_COLUMNS] = table.loc[is_test, BAND_COLUMNS].to_numpy() * 0.5 + 0.2
    return Dataset(table, dataset.colorants, dataset.name)


def test_test_recipes_never_influence_the_ranking(tiny_dataset, tiny_result, cheap_baseline):
    perturbed = _perturb_test_spectra(tiny_dataset, tiny_result.meta["test_recipes"])
    other = _search(perturbed)
    assert other.meta["test_recipes"] == tiny_result.meta["test_recipes"]
    cv_columns = [c for c in tiny_result.trials.columns if c.startswith("cv_")]
    assert list(other.trials["candidate"]) == list(tiny_result.trials["candidate"])
    pd.testing.assert_frame_equal(other.trials[cv_columns], tiny_result.trials[cv_columns])
    # The perturbation did reach the test report, so the check above could have failed.
    assert not np.allclose(other.trials["test_delta_e00_mean_headline"].dropna(), tiny_result.trials["test_delta_e00_mean_headline"].dropna())


def test_ranking_is_by_cv_then_spectral_mae(tiny_result):
    scores = tiny_result.trials[["cv_delta_e00_mean_headline", "cv_spectral_mae"]].to_numpy()
    assert list(tiny_result.trials["rank"]) == list(range(1, N_TRIALS + 1))
    assert all(tuple(a) <= tuple(b) for a, b in zip(scores[:-1], scores[1:]))
    finalists = tiny_result.trials["test_delta_e00_mean_headline"].notna()
    assert finalists.tolist() == [True] * 2 + [False] * (N_TRIALS - 2)


def test_comparison_rows_and_improvement_sign(tiny_result):
    table = tiny_result.comparison().set_index("model")
    assert list(table.index) == [
        "baseline (old system's config)", f"optimised ({tiny_result.best})", "improvement (%)", "Kubelka–Munk physics", "champion's configuration (served)",
    ]
    baseline, optimised = table.iloc[0], table.iloc[1]
    expected = 100 * (baseline["spectral MAE"] - optimised["spectral MAE"]) / baseline["spectral MAE"]
    assert table.loc["improvement (%)", "spectral MAE"] == pytest.approx(expected)
    expected_r2 = 100 * (optimised["CIELAB R²"] - baseline["CIELAB R²"]) / abs(baseline["CIELAB R²"])
    assert table.loc["improvement (%)", "CIELAB R²"] == pytest.approx(expected_r2)


def test_save_and_load_round_trip(tiny_result, tmp_path):
    run_dir = search.save_search(tiny_result, tmp_path)
    assert run_dir.parent == tmp_path / "search"
    assert not list(run_dir.glob("*.joblib")) and not list(run_dir.glob("*.pkl"))
    loaded = search.load_search(run_dir)
    assert search.list_search_runs(tmp_path) == [run_dir]
    assert loaded.best == tiny_result.best
    assert loaded.model(tiny_result.best).get_params() == tiny_result.model(tiny_result.best).get_params()
    assert isinstance(loaded.model(search.PHYSICS), FluorescentKubelkaMunkModel)  # issue 12: the fluorescent physics row
    np.testing.assert_allclose(loaded.trials["cv_delta_e00_mean_headline"], tiny_result.trials["cv_delta_e00_mean_headline"], rtol=1e-5)
    np.testing.assert_allclose(loaded.comparison().iloc[:, 1:].to_numpy(float), tiny_result.comparison().iloc[:, 1:].to_numpy(float), rtol=1e-4)
    with pytest.raises(FileExistsError):
        search.save_search(tiny_result, tmp_path)


def test_viewers_cannot_search(tiny_dataset, tiny_result, tmp_path):
    # A search never promotes (issue 23): a configuration is trained as a challenger and passes the one door
    # to the champion (tests/test_promotion_door.py).
    with pytest.raises(PermissionDenied):
        search.start_search_job(tiny_dataset, user=VIEWER, models_dir=tmp_path)
    assert not (tmp_path / "search").exists() and ModelRegistry(tmp_path).champion_version() is None
