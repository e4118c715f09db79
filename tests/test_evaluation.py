import numpy as np
import pytest

from model import cross_validate, grouped_folds
from model.core.prediction import TrainingRange, build_prediction
from model.evaluation import score_prediction, split_test_recipes, summarise


def test_folds_never_put_a_recipe_on_both_sides():
    recipe_ids = np.repeat([f"r{i}" for i in range(23)], 3)
    for seed in range(4):
        folds = grouped_folds(recipe_ids, n_splits=5, seed=seed)
        assert len(folds) == 5
        covered = np.concatenate([test for _, test in folds])
        assert sorted(covered) == list(range(len(recipe_ids)))
        for train, test in folds:
            assert not set(recipe_ids[train]) & set(recipe_ids[test])


def test_test_split_is_grouped_and_sized():
    recipe_ids = np.repeat([f"r{i}" for i in range(40)], 2)
    train, test = split_test_recipes(recipe_ids, 0.2, seed=3)
    assert len(set(recipe_ids[test])) == 8
    assert not set(recipe_ids[train]) & set(recipe_ids[test])


class _Oracle:
    """Predicts the measured spectrum of the nearest training recipe: exact on seen recipes."""

    def fit(self, dataset):
        self.dataset_ = dataset
        return self

    def predict(self, recipes):
        train = self.dataset_.recipes.to_numpy(float)
        rows = [np.argmin(((train - r) ** 2).sum(axis=1)) for r in recipes.to_numpy(float)]
        return build_prediction(recipes, self.dataset_.reflectance[rows], None, "spectral", TrainingRange.from_recipes(self.dataset_.recipes))


def test_perfect_prediction_scores_zero(tiny_dataset):
    prediction = _Oracle().fit(tiny_dataset).predict(tiny_dataset.recipes)
    metrics = summarise(score_prediction(tiny_dataset, prediction))
    assert metrics["delta_e00_mean_headline"] == pytest.approx(0, abs=1e-9)
    assert metrics["spectral_mae"] == pytest.approx(0, abs=1e-12)
    assert metrics["spectral_r2"] == pytest.approx(1)
    assert metrics["normalised_lab_mae"] == pytest.approx(0, abs=1e-12)


def test_leave_recipe_out_is_honest(tiny_dataset):
    # A lookup model is perfect in-sample; leave-recipe-out must show it has never seen the test recipes.
    evaluation = cross_validate(tiny_dataset, lambda seed: _Oracle(), n_splits=4, seeds=(0, 1))
    assert evaluation.metrics["delta_e00_mean_headline"] > 0.5
    assert set(evaluation.per_sample["seed"]) == {0, 1}
    assert len(evaluation.per_sample) == 2 * len(tiny_dataset)
    for (seed, fold), group in evaluation.per_sample.groupby(["seed", "fold"]):
        others = evaluation.per_sample[(evaluation.per_sample.seed == seed) & (evaluation.per_sample.fold != fold)]
        assert not set(group.recipe_id) & set(others.recipe_id)
    per_recipe = evaluation.per_recipe()
    assert per_recipe["delta_e00"].is_monotonic_decreasing
    assert len(per_recipe) == tiny_dataset.n_recipes


def test_headline_choice_resummarises(tiny_dataset, quick_model):
    evaluation = cross_validate(tiny_dataset, quick_model, n_splits=3)
    for path in ("spectral", "head"):
        resummarised = evaluation.with_headline(path)
        assert resummarised.metrics["delta_e00_mean_headline"] == pytest.approx(evaluation.metrics[f"delta_e00_mean_{path}"])
    best = evaluation.best_headline()
    assert evaluation.metrics[f"delta_e00_mean_{best}"] <= min(
        evaluation.metrics["delta_e00_mean_spectral"], evaluation.metrics["delta_e00_mean_head"]
    )
