"""The honest search: grouping, test recipes never steer the ranking, reproducibility, persistence, roles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from model.auth.access import VIEWER, PermissionDenied
from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, Dataset
from model.jobs import search
from model.models.fluorescent_km import FluorescentKubelkaMunkModel
from model.registry import registry

# A small space so each search on the tiny dataset takes seconds, not minutes.
TINY_SPACE = {
    **search.SEARCH_SPACE,
    "hidden_layer_sizes": ((8,), (16,)),
    "n_ensemble": (1,),
    "max_iter": (30, 60),
    "solver": ("lbfgs",),
}
TIMING_COLUMNS = ["fit_seconds", "trial_seconds", "trial_cpu_seconds", "test_fit_seconds", "test_cpu_seconds"]
N_TRIALS = 4


@pytest.fixture()
def cheap_baseline(monkeypatch, quick_model):
    # The real baseline (adam, 2000 epochs) is what the CLI compares with; here only the protocol matters.
    monkeypatch.setattr(search, "baseline_model", lambda: clone(quick_model))


def _search(dataset, **options):
    return search.run_search(dataset, n_trials=N_TRIALS, seed=3, n_folds=3, n_finalists=3, space=TINY_SPACE, **options)


@pytest.fixture(scope="module")
def tiny_result(tiny_dataset):
    with pytest.MonkeyPatch.context() as patch:
        from model import FormulationModel

        patch.setattr(search, "baseline_model", lambda: FormulationModel(hidden_layer_sizes=(16,), max_iter=300, n_ensemble=1, alpha=0.1))
        return _search(tiny_dataset)


def test_space_sizes_count_the_distinct_models_sampling_can_draw():
    # Small enough to enumerate: every draw that sampling can make, normalised as sampling normalises it.
    space = {"hidden_layer_sizes": ((8,), (8, 4)), "solver": ("adam", "lbfgs"), "batch_size": (8, 16), "early_stopping": (False, True), "alpha": (0.1,)}
    assert search.search_space_size(space) == 2 * 2 * 2 * 2
    distinct = {json.dumps(config.config(), sort_keys=True) for config in search.sample_configs(search.effective_search_space_size(space), seed=0, space=space)}
    assert len(distinct) == search.effective_search_space_size(space) == 2 * 4 + 2  # lbfgs ignores batch size and early stopping
    with pytest.raises(ValueError, match="distinct models"):
        search.sample_configs(search.effective_search_space_size(space) + 1, space=space)
    # The shipped space draws only the old system's 13 layouts, and is at least as large as its 1.5 M.
    drawn = {tuple(config.hidden_layer_sizes) for config in search.sample_configs(200, seed=4)}
    assert drawn <= set(search.LEGACY_LAYOUTS) and len(drawn) == len(search.LEGACY_LAYOUTS) == 13
    assert search.effective_search_space_size() >= 1_000_000


def test_sampling_is_seeded_distinct_and_within_budget():
    first, again, other = (
        [config.config() for config in search.sample_configs(30, seed=seed)] for seed in (1, 1, 2)
    )
    assert first == again
    assert first != other
    assert len({json.dumps(config, sort_keys=True) for config in first}) == 30
    first = search.sample_configs(30, seed=1)
    for config in first:
        assert config.max_iter == 10 or search.estimated_cost(config) <= search.TRIAL_COST_CAP
        if config.solver == "lbfgs":  # fields lbfgs ignores are normalised, so no duplicate is scored twice
            assert config.batch_size == "auto" and config.early_stopping is False


def test_no_recipe_is_on_both_sides_of_any_split(tiny_dataset, monkeypatch, cheap_baseline):
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
    # (N_TRIALS + baseline + KM) × 3 folds, then 3 finalists + baseline + KM on test.
    assert len(fits) == (N_TRIALS + 2) * 3 + 5


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


def test_same_seed_same_results(tiny_dataset, tiny_result, cheap_baseline):
    again = _search(tiny_dataset)
    drop = [c for c in TIMING_COLUMNS if c in again.trials.columns]
    pd.testing.assert_frame_equal(again.trials.drop(columns=drop), tiny_result.trials.drop(columns=drop))
    pd.testing.assert_frame_equal(again.test_predictions, tiny_result.test_predictions)


def test_ranking_is_by_cv_then_spectral_mae(tiny_result):
    scores = tiny_result.trials[["cv_delta_e00_mean_headline", "cv_spectral_mae"]].to_numpy()
    assert list(tiny_result.trials["rank"]) == list(range(1, N_TRIALS + 1))
    assert all(tuple(a) <= tuple(b) for a, b in zip(scores[:-1], scores[1:]))
    finalists = tiny_result.trials["test_delta_e00_mean_headline"].notna()
    assert finalists.tolist() == [True] * 3 + [False] * (N_TRIALS - 3)


def test_comparison_rows_and_improvement_sign(tiny_result):
    table = tiny_result.comparison().set_index("model")
    assert list(table.index) == ["baseline (old system's config)", f"optimised ({tiny_result.best})", "improvement (%)", "Kubelka–Munk physics"]
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
    assert not (tmp_path / "search").exists() and registry.champion_version(tmp_path) is None
