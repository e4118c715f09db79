"""The fluorescence head (ct/s): gate, training rows, the hook in every colour model, evaluation,
registry, formulation, and its accuracy on the real data against a plain baseline."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression

from model.core.schema import FLUORESCENCE_COLUMN, THICKNESS_COLUMN, Dataset
from model.evaluation import cross_validate, fluorescence_metrics, format_metrics, grouped_folds
from model.evaluation.metrics import FLUORESCENCE_MEASURED, FLUORESCENCE_PREDICTED
from model.formulation import Constraints, Target, formulate
from model.models import FluorescentKubelkaMunkModel, HybridModel, KubelkaMunkModel
from model.models.fluorescence import FluorescenceHead, fit_fluorescence_head, fluorescence_readings, without_readings
from model.registry.registry import ModelRegistry


@pytest.fixture(scope="module")
def glowing_model(glowing_dataset, quick_model):
    return clone(quick_model).fit(glowing_dataset)


def recipes_of(dataset: Dataset, rows) -> pd.DataFrame:
    return dataset.recipes.iloc[rows].reset_index(drop=True)


def test_the_head_is_exactly_zero_without_a_fluorescent_colorant_and_positive_with_one(glowing_model, glowing_dataset):
    assert glowing_model.fluorescence_head_.fluorescent_colorants_ == ("FluoYellow",)
    recipes = pd.DataFrame({"FluoYellow": [0.0, 0.0, 12.0], "BiVaYellow": [5.0, 0.0, 5.0], "PhthaloGreen": [1.0, 2.0, 0.0], THICKNESS_COLUMN: [8.0, 12.0, 10.0]})
    fluorescence = glowing_model.predict(recipes).fluorescence_cts
    assert fluorescence[0] == 0.0 and fluorescence[1] == 0.0
    assert fluorescence[2] > 500.0
    assert np.all(glowing_model.predict(glowing_dataset.recipes).fluorescence_cts >= 0.0)


def test_a_film_without_a_reading_does_not_count(glowing_dataset):
    readings = fluorescence_readings(glowing_dataset)
    X = glowing_dataset.recipes.to_numpy(dtype=float)
    measured = np.isfinite(readings)
    assert 0 < (~measured).sum() < len(readings)
    with_gaps = FluorescenceHead(n_ensemble=2).fit(X, readings, glowing_dataset.colorants)
    only_measured = FluorescenceHead(n_ensemble=2).fit(X[measured], readings[measured], glowing_dataset.colorants)
    assert with_gaps.n_readings_ == measured.sum() and with_gaps.n_trained_ == only_measured.n_trained_
    np.testing.assert_array_equal(with_gaps.predict(X), only_measured.predict(X))
    # ... whereas giving those films a reading changes the fit.
    filled = np.where(measured, readings, 20_000.0)
    assert not np.allclose(FluorescenceHead(n_ensemble=2).fit(X, filled, glowing_dataset.colorants).predict(X), with_gaps.predict(X))


def test_a_negative_reading_or_none_at_all_is_refused_with_the_row(glowing_dataset):
    X = glowing_dataset.recipes.to_numpy(dtype=float)
    readings = fluorescence_readings(glowing_dataset).copy()
    readings[3] = -5.0
    with pytest.raises(ValueError, match="Row 3.*≥ 0 ct/s"):
        FluorescenceHead().fit(X, readings, glowing_dataset.colorants)
    with pytest.raises(ValueError, match="No film has"):
        FluorescenceHead().fit(X, np.full(len(X), np.nan), glowing_dataset.colorants)


def test_a_model_trained_without_readings_has_no_head_an_empty_column_and_the_same_colour(glowing_dataset, glowing_model, quick_model):
    plain = clone(quick_model).fit(without_readings(glowing_dataset))
    assert plain.fluorescence_head_ is None and not plain.has_fluorescence
    recipes = recipes_of(glowing_dataset, range(6))
    prediction, with_head = plain.predict(recipes), glowing_model.predict(recipes)
    assert prediction.fluorescence_cts is None and not prediction.has_fluorescence
    frame = prediction.to_frame()
    assert FLUORESCENCE_COLUMN in frame.columns and frame[FLUORESCENCE_COLUMN].isna().all()
    # The head changes nothing about colour.
    np.testing.assert_array_equal(prediction.reflectance, with_head.reflectance)
    np.testing.assert_array_equal(prediction.Lab, with_head.Lab)
    np.testing.assert_array_equal(with_head.to_frame()[FLUORESCENCE_COLUMN].to_numpy(), with_head.fluorescence_cts)
    # All-NaN readings are no readings.
    table = glowing_dataset.table.assign(**{FLUORESCENCE_COLUMN: np.nan})
    assert fit_fluorescence_head(Dataset(table, glowing_dataset.colorants)) is None


def test_the_head_predicts_with_its_programs_which_are_its_networks_own_arithmetic(glowing_model, glowing_dataset):
    head = glowing_model.fluorescence_head_
    assert len(head.programs_.networks) == len(head.networks_) == head.n_ensemble
    X = recipes_of(glowing_dataset, range(len(glowing_dataset))).to_numpy(dtype=float)
    gate = head._gate(X)
    log_mean = np.mean([network.predict(X[gate]).reshape(-1) for network in head.networks_], axis=0)
    expected = np.zeros(len(X))
    expected[gate] = 100.0 * np.expm1(np.clip(log_mean, 0, None))  # log(1 + I / 100 ct/s) undone
    np.testing.assert_allclose(head.predict(X), expected, rtol=1e-9, atol=1e-9)
    assert gate.any() and np.all(head.predict(X)[~gate] == 0.0)
    loaded = pickle.loads(pickle.dumps(glowing_model))
    np.testing.assert_array_equal(loaded.predict_fluorescence(X), head.predict(X))


def test_a_champion_trained_without_readings_predicts_an_empty_column_and_the_shipped_one_a_value(tiny_install, shipped):
    model = tiny_install["model"]  # trained on the tiny dataset, which has no readings
    assert not model.has_fluorescence
    recipes = pd.DataFrame({**{c: [1.0] for c in model.colorants_}, THICKNESS_COLUMN: [10.0]})
    assert model.predict(recipes).to_frame()[FLUORESCENCE_COLUMN].isna().all()
    shipped_model, _ = shipped  # trained on data/demo, which ships a Fluorescence.csv
    recipes = pd.DataFrame({**{c: [0.0] for c in shipped_model.colorants_}, THICKNESS_COLUMN: [10.0]})
    recipes["FluoYellow"] = 10.0
    assert shipped_model.has_fluorescence and shipped_model.predict(recipes).fluorescence_cts[0] > 1000


@pytest.mark.parametrize("make", [KubelkaMunkModel, FluorescentKubelkaMunkModel], ids=["KubelkaMunkModel", "FluorescentKubelkaMunkModel"])
def test_every_model_kind_carries_the_same_head(make, glowing_dataset, glowing_model):
    model = make().fit(glowing_dataset)
    recipes = recipes_of(glowing_dataset, range(0, 32, 3))
    # The head depends on the readings and the seed only (random_state 0 for both), not on the colour model.
    np.testing.assert_allclose(model.predict(recipes).fluorescence_cts, glowing_model.predict(recipes).fluorescence_cts)


def test_the_hybrid_fits_the_head_once_at_the_top(glowing_dataset, monkeypatch):
    # About 7 s: the hybrid's inner validation fits its physics three times, and only a real fit shows where heads are fitted.
    fits = []
    real_fit = FluorescenceHead.fit
    monkeypatch.setattr(FluorescenceHead, "fit", lambda self, X, readings, colorants: fits.append(len(X)) or real_fit(self, X, readings, colorants))
    hybrid = HybridModel(hidden_layer_sizes=(8,), max_iter=100, n_ensemble=1, inner_folds=2).fit(glowing_dataset)
    assert fits == [len(glowing_dataset)]
    assert hybrid.has_fluorescence and hybrid.physics_.fluorescence_head_ is None and hybrid.plain_.fluorescence_head_ is None
    assert hybrid.predict(recipes_of(glowing_dataset, [0, 20])).fluorescence_cts[0] == 0.0


def test_registry_round_trip_keeps_the_head(glowing_model, glowing_dataset, tmp_path):
    card = ModelRegistry(tmp_path).save_model(glowing_model, metrics={"fluorescence_mae": 1.0}, dataset_info={"fingerprint": glowing_dataset.fingerprint()})
    loaded, loaded_card = ModelRegistry(tmp_path).load_model(card.version)
    assert loaded_card.version == card.version
    assert type(loaded) is type(glowing_model) and loaded.has_fluorescence
    glowing = np.flatnonzero(glowing_dataset.recipes["FluoYellow"].to_numpy() > 0.0)
    recipes = recipes_of(glowing_dataset, [*range(5), *glowing[:5]])
    fluorescence = loaded.predict(recipes).fluorescence_cts
    assert np.all(fluorescence[5:] > 0.0), "films with FluoYellow: the loaded head predicts no fluorescence"
    np.testing.assert_array_equal(fluorescence, glowing_model.predict(recipes).fluorescence_cts)
    assert ModelRegistry(tmp_path).read_card(card.version).metrics["fluorescence_mae"] == 1.0


def test_leave_recipe_out_scores_fluorescence_in_the_colour_fold_loop(glowing_dataset, quick_model, tiny_evaluated):
    evaluation = cross_validate(glowing_dataset, quick_model, n_splits=3, seeds=(0,))
    readings = fluorescence_readings(glowing_dataset)
    assert evaluation.metrics["fluorescence_n_samples"] == np.isfinite(readings).sum()
    per_sample = evaluation.per_sample
    assert per_sample[FLUORESCENCE_MEASURED].isna().sum() == (~np.isfinite(readings)).sum()
    scored = per_sample.dropna(subset=[FLUORESCENCE_MEASURED])
    expected_mae = np.mean(np.abs(scored[FLUORESCENCE_MEASURED] - scored[FLUORESCENCE_PREDICTED]))
    assert evaluation.metrics["fluorescence_mae"] == pytest.approx(expected_mae)
    glowing_films = scored[scored[FLUORESCENCE_MEASURED] > 0]  # the films that read 0 would dilute it
    assert evaluation.metrics["fluorescence_n_glowing"] == len(glowing_films) < len(scored)
    assert evaluation.metrics["fluorescence_mae_glowing"] == pytest.approx(np.mean(np.abs(glowing_films[FLUORESCENCE_MEASURED] - glowing_films[FLUORESCENCE_PREDICTED])))
    assert evaluation.metrics["fluorescence_r2"] > 0.5
    assert "fluorescence MAE" in format_metrics(evaluation.metrics) and "ct/s" in format_metrics(evaluation.metrics)
    per_recipe = evaluation.per_recipe_fluorescence()
    assert "R15" not in set(per_recipe["recipe_id"]) and per_recipe["fluorescence_abs_error_cts"].is_monotonic_decreasing
    # No head: nothing, not zeros.
    plain = tiny_evaluated.evaluation
    assert not any(key.startswith("fluorescence") for key in plain.metrics)
    assert plain.per_recipe_fluorescence() is None and "fluorescence" not in format_metrics(plain.metrics)


def test_formulate_meets_a_minimum_fluorescence_or_explains_why_not(glowing_model, glowing_dataset):
    target = Target.from_Lab(85.0, -5.0, 60.0)
    readings = fluorescence_readings(glowing_dataset)
    minimum = float(np.nanpercentile(readings[readings > 0], 60))
    result = formulate(glowing_model, target, Constraints(min_fluorescence_cts=minimum), n_starts=3, max_iterations=15)
    assert result.fluorescence_met is True
    assert all(candidate.fluorescence_cts >= minimum for candidate in result.candidates)
    assert "fluorescence_cts" in result.to_frame().columns
    impossible = formulate(glowing_model, target, Constraints(min_fluorescence_cts=1e6), n_starts=2, max_iterations=5)
    assert impossible.fluorescence_met is False and not impossible.reachable
    assert "highest predicted fluorescence found is" in impossible.explanation and "1,000,000 ct/s" in impossible.explanation
    free = formulate(glowing_model, target, n_starts=2, max_iterations=5)
    assert free.fluorescence_met is None and all(c.fluorescence_cts is not None for c in free.candidates)


def test_formulate_with_a_minimum_on_a_model_without_head_says_it_cannot_check(glowing_dataset, quick_model):
    plain = clone(quick_model).fit(without_readings(glowing_dataset))
    result = formulate(plain, Target.from_Lab(85.0, -5.0, 60.0), Constraints(min_fluorescence_cts=3000), n_starts=2, max_iterations=5)
    assert result.fluorescence_met is None and "no fluorescence head" in result.explanation
    assert "fluorescence_cts" not in result.to_frame().columns
    with pytest.raises(ValueError, match="min_fluorescence_cts"):
        formulate(plain, Target.from_Lab(85.0, -5.0, 60.0), Constraints(min_fluorescence_cts=-1.0))


def test_on_the_real_data_the_head_beats_the_plain_linear_baseline_leave_recipe_out(real_data_dir):
    from model import load_dataset

    dataset, _ = load_dataset(real_data_dir)
    readings = fluorescence_readings(dataset)
    assert readings is not None, "the real folder's Fluorescence.csv was not read"
    X = dataset.recipes.to_numpy(dtype=float)
    frames = {"head": [], "baseline": []}
    for train, test in grouped_folds(dataset.recipe_ids, 5, 0):
        test = test[np.isfinite(readings[test])]
        head = FluorescenceHead(n_ensemble=2).fit(X[train], readings[train], dataset.colorants)
        fitted = np.isfinite(readings[train])
        C, thickness = X[:, :-1], X[:, -1:]
        features = np.column_stack([C, C * thickness, np.sqrt(C)])
        baseline = LinearRegression().fit(features[train][fitted], readings[train][fitted])
        for name, predicted in (("head", head.predict(X[test])), ("baseline", baseline.predict(features[test]))):
            frames[name].append(pd.DataFrame({FLUORESCENCE_MEASURED: readings[test], FLUORESCENCE_PREDICTED: predicted}))
    head_mae = fluorescence_metrics(pd.concat(frames["head"]))["fluorescence_mae"]
    baseline_mae = fluorescence_metrics(pd.concat(frames["baseline"]))["fluorescence_mae"]
    assert head_mae < baseline_mae
    assert head_mae < 300.0  # the goal (bench/fluorescence.py measures it over 3 seeds)


def test_fluorescent_colorants_are_the_fewest_that_account_for_every_glowing_film():
    from model.models.fluorescence import fluorescent_from_readings

    # columns: Glow (fluorescent), Quench (a yellow in many glowing mixtures, its own ladder reads 0), Other
    C = np.array([[10, 0, 0], [10, 5, 0], [20, 5, 1], [15, 8, 0], [0, 5, 0], [0, 10, 0], [0, 0, 2]], dtype=float)
    readings = np.array([5000, 3000, 4000, 2500, 0, 0, 0], dtype=float)
    assert fluorescent_from_readings(C, readings, ["Glow", "Quench", "Other"]) == ("Glow",)
    # Two fluorescent colorants, each in half of the glowing films: both are needed, both are taken.
    C2 = np.array([[10, 0], [0, 10], [10, 0], [0, 5]], dtype=float)
    assert fluorescent_from_readings(C2, np.array([4000, 3000, 4200, 1500.0]), ["A", "B"]) == ("A", "B")
    assert fluorescent_from_readings(C2, np.zeros(4), ["A", "B"]) == ()


def test_the_fluorescence_fact_gives_the_error_on_the_films_that_glow_when_the_card_has_it():
    from types import SimpleNamespace

    from model.registry.review import fluorescence_facts

    metrics = {"fluorescence_mae": 124.0, "fluorescence_rmse": 200.0, "fluorescence_r2": 0.9, "fluorescence_n_samples": 95}
    [(_, older)] = fluorescence_facts(SimpleNamespace(metrics=metrics))
    assert older == "124 ct/s on average (RMSE 200 ct/s, R² 0.900) over 95 films with a reading"
    [(_, newer)] = fluorescence_facts(SimpleNamespace(metrics={**metrics, "fluorescence_mae_glowing": 235.0, "fluorescence_n_glowing": 50}))
    assert newer == older + "; 235 ct/s on the 50 that glow (the others read 0)"
