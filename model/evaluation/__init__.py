"""Honest evaluation: leave-recipe-out folds, one fold loop, the metrics and the calibration of the uncertainty."""

from model.evaluation.calibration import calibration_table
from model.evaluation.cross_validation import Evaluation, cross_validate, per_recipe_fluorescence
from model.evaluation.folds import grouped_folds, split_test_recipes
from model.evaluation.metrics import fluorescence_metrics, format_metrics, normalised_lab_mae, score_prediction, summarise

__all__ = [
    "Evaluation",
    "calibration_table",
    "cross_validate",
    "fluorescence_metrics",
    "format_metrics",
    "grouped_folds",
    "normalised_lab_mae",
    "per_recipe_fluorescence",
    "score_prediction",
    "split_test_recipes",
    "summarise",
]
