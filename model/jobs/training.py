"""Train a model the honest way: leave-recipe-out CV first, then the final fit on all data.

The CLI's ``train`` and the dashboard's Retrain page both call :func:`train_and_evaluate`,
so a model's card always carries figures measured the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sklearn.base import clone

from model.core.schema import Dataset
from model.evaluation import Evaluation, cross_validate
from model.evaluation.cross_validation import DEFAULT_CV_SEEDS, DEFAULT_N_SPLITS
from model.models.base import ColourModel, default_model
from model.registry import registry
from model.registry.registry import ModelRegistry

__all__ = ["TrainingResult", "evaluate_configuration", "train_and_evaluate", "save_trained", "DEFAULT_CV_SEEDS", "DEFAULT_N_SPLITS"]


@dataclass(frozen=True)
class TrainingResult:
    """A model fitted on all of ``dataset`` and its leave-recipe-out evaluation."""

    model: ColourModel
    evaluation: Evaluation
    dataset: Dataset


def evaluate_configuration(
    dataset: Dataset,
    model: ColourModel | None = None,
    *,
    n_splits: int = DEFAULT_N_SPLITS,
    seeds=DEFAULT_CV_SEEDS,
    n_jobs: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[ColourModel, Evaluation]:
    """The first half of :func:`train_and_evaluate`: cross-validate ``model`` grouped by recipe and pick its headline path.

    The headline CIELAB path (spectral or CIELAB head) is the one with the lower
    leave-recipe-out mean ΔE00: decided by validation, recorded in the model's config
    when it has a ``headline`` hyperparameter.

    Returns
    -------
    (unfitted ColourModel, Evaluation)
        A copy of ``model`` with the chosen headline, ready for the final fit on all of
        ``dataset``, and its evaluation reported with that headline.
    """
    model = clone(model if model is not None else default_model())
    evaluation = cross_validate(dataset, model, n_splits=n_splits, seeds=seeds, n_jobs=n_jobs, progress=progress)
    # A model with a CIELAB head lets validation choose the path it reports; others report the spectrum's.
    chooses_headline = "headline" in model.get_params(deep=False)
    headline = evaluation.best_headline() if chooses_headline else model.headline
    if chooses_headline:
        model.set_params(headline=headline)
    return model, evaluation.with_headline(headline)


def train_and_evaluate(
    dataset: Dataset,
    model: ColourModel | None = None,
    *,
    n_splits: int = DEFAULT_N_SPLITS,
    seeds=DEFAULT_CV_SEEDS,
    n_jobs: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> TrainingResult:
    """Cross-validate ``model`` grouped by recipe, pick the headline path, fit on everything.

    Parameters
    ----------
    dataset : Dataset
    model : unfitted ColourModel, default :func:`~model.models.base.default_model`; it is not modified.
    n_splits, seeds : folds per seed and the seeds (see ``evaluation.cross_validate``).
    n_jobs : int, folds in parallel.
    progress : callable(fraction, message), optional; 0–0.85 is CV, the rest the final fit.

    See :func:`evaluate_configuration` for how the headline path is chosen.
    """

    def cv_progress(fraction, message):
        if progress:
            progress(0.85 * fraction, f"cross-validation: {message}")

    model, evaluation = evaluate_configuration(dataset, model, n_splits=n_splits, seeds=seeds, n_jobs=n_jobs, progress=cv_progress)

    def fit_progress(fraction, message):
        if progress:
            progress(0.85 + 0.15 * fraction, f"final fit: {message}")

    model.fit(dataset, progress=fit_progress)
    return TrainingResult(model=model, evaluation=evaluation, dataset=dataset)


def _fluorescence_notes(model: ColourModel) -> dict:
    """What the card says about the fluorescence head (ct/s): nothing for a model without one."""
    head = model.fluorescence_head_
    if head is None:
        return {}
    fluorescent = ", ".join(head.fluorescent_colorants_) or "none"
    return {
        "fluorescence": f"fluorescence head (ct/s): gated MLP ensemble trained on {head.n_trained_} of {head.n_readings_} films with a reading; "
        f"fluorescent colorants (present in the films that read above 0): {fluorescent}; exactly 0 without one",
    }


def save_trained(result: TrainingResult, *, models_dir=None, store_version: str | None = None, notes: dict | None = None) -> registry.ModelCard:
    """Save a :class:`TrainingResult` as a new version with its card (not promoted)."""
    dataset = result.dataset
    dataset_info = {
        "name": dataset.name,
        "fingerprint": dataset.fingerprint(),
        "store_version": store_version,
        "n_samples": len(dataset),
        "n_recipes": dataset.n_recipes,
        "colorants": list(dataset.colorants),
        "training_range": {
            "minimum": result.model.training_range_.minimum,
            "maximum": result.model.training_range_.maximum,
        },
    }
    protocol = {
        "evaluation": f"leave-recipe-out, {result.evaluation.per_sample['fold'].nunique()} folds grouped by recipe, "
        f"seeds {sorted(result.evaluation.per_sample['seed'].unique().tolist())}",
        "headline": result.model.headline,
        "headline_reason": "lower leave-recipe-out mean ΔE00 of the two CIELAB paths",
        **_fluorescence_notes(result.model),
    }
    return ModelRegistry(models_dir).save_model(
        result.model,
        metrics=result.evaluation.metrics,
        dataset_info=dataset_info,
        notes={**protocol, **(notes or {})},
        tables={registry.OUT_OF_FOLD_FILE: result.evaluation.per_sample},
    )
