"""Leave-recipe-out cross-validation: one fold loop for every model and every caller.

Each fold refits an unfitted copy of the model (``ColourModel.reseeded``) on the
training recipes and scores it on the held-out ones (:func:`model.evaluation.metrics.score_prediction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd
from joblib import Parallel, delayed

from model.core.schema import RECIPE_ID_COLUMN, Dataset
from model.evaluation.folds import grouped_folds
from model.evaluation.metrics import FLUORESCENCE_MEASURED, FLUORESCENCE_PREDICTED, score_prediction, summarise
from model.models.base import ColourModel
from model.models.colorant_checks import quiet_colorant_warnings, warn_degenerate_colorants

__all__ = ["DEFAULT_CV_SEEDS", "DEFAULT_N_SPLITS", "Evaluation", "cross_validate", "per_recipe_fluorescence"]

#: Training's and a comparison's cross-validation: 5 leave-recipe-out folds, repeated with 3 seeds.
DEFAULT_N_SPLITS = 5
DEFAULT_CV_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`cross_validate`.

    Attributes
    ----------
    metrics : dict, each metric averaged over seeds (see :func:`summarise` for keys).
    metrics_by_seed : DataFrame, one row per seed.
    per_sample : DataFrame, every out-of-fold prediction with ``seed`` and ``fold``.
    """

    metrics: dict[str, float]
    metrics_by_seed: pd.DataFrame
    per_sample: pd.DataFrame

    def with_headline(self, path: str) -> "Evaluation":
        """The same predictions, re-summarised with ``path`` (``"spectral"`` or ``"head"``) as headline."""
        if path not in ("spectral", "head"):
            raise ValueError(f"path={path!r}: use 'spectral' or 'head'.")
        per_sample = self.per_sample.copy()
        per_sample["delta_e00"] = per_sample[f"delta_e00_{path}"]
        per_sample["uncertainty"] = per_sample[f"uncertainty_{path}"]
        return _evaluation_from_samples(per_sample, path)

    def best_headline(self) -> str:
        """The CIELAB path with the lower mean ΔE00 in this evaluation (ties go to the spectral path)."""
        spectral, head = self.metrics["delta_e00_mean_spectral"], self.metrics["delta_e00_mean_head"]
        return "head" if head < spectral else "spectral"

    def per_recipe(self) -> pd.DataFrame:
        """Mean ΔE00 (each path) and spectral MAE per recipe, worst first."""
        columns = ["delta_e00", "delta_e00_spectral", "delta_e00_head", "spectral_mae"]
        table = self.per_sample.groupby(RECIPE_ID_COLUMN)[columns].mean()
        return table.sort_values("delta_e00", ascending=False).reset_index()

    @property
    def has_fluorescence(self) -> bool:
        """Whether the evaluated model predicted fluorescence and some film had a reading."""
        return "fluorescence_mae" in self.metrics

    def per_recipe_fluorescence(self) -> pd.DataFrame | None:
        """Per recipe over films with a reading: mean measured and predicted fluorescence and
        mean absolute error (ct/s), worst first; None when the model has no fluorescence head."""
        if not self.has_fluorescence:
            return None
        return per_recipe_fluorescence(self.per_sample)


def per_recipe_fluorescence(per_sample: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold fluorescence per recipe (ct/s), worst first: ``recipe_id``, ``n_readings``,
    ``fluorescence_measured_cts``, ``fluorescence_predicted_cts``, ``fluorescence_abs_error_cts``."""
    scored = per_sample.dropna(subset=[FLUORESCENCE_MEASURED, FLUORESCENCE_PREDICTED]).copy()
    scored["fluorescence_abs_error_cts"] = (scored[FLUORESCENCE_MEASURED] - scored[FLUORESCENCE_PREDICTED]).abs()
    table = scored.groupby(RECIPE_ID_COLUMN).agg(
        n_readings=(FLUORESCENCE_MEASURED, "size"),
        fluorescence_measured_cts=(FLUORESCENCE_MEASURED, "mean"),
        fluorescence_predicted_cts=(FLUORESCENCE_PREDICTED, "mean"),
        fluorescence_abs_error_cts=("fluorescence_abs_error_cts", "mean"),
    )
    return table.sort_values("fluorescence_abs_error_cts", ascending=False).reset_index()


def _as_factory(model) -> Callable[[int], ColourModel]:
    if isinstance(model, ColourModel):
        return model.reseeded
    if callable(model):
        return model
    raise TypeError(
        f"model must be an unfitted ColourModel (e.g. default_model()) or a callable(seed) returning one; got {type(model).__name__}."
    )


def _run_fold(make_model, dataset: Dataset, seed: int, fold: int, train, test) -> pd.DataFrame:
    with quiet_colorant_warnings():  # said once about the whole data, in cross_validate, not once per fold
        model = make_model(seed).fit(dataset.subset(train))
    held_out = dataset.subset(test)
    per_sample = score_prediction(held_out, model.predict(held_out.recipes))
    per_sample.insert(0, "fold", fold)
    per_sample.insert(0, "seed", seed)
    return per_sample


def cross_validate(
    dataset: Dataset,
    model,
    *,
    n_splits: int = 5,
    seeds=(0,),
    n_jobs: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> Evaluation:
    """Leave-recipe-out cross-validation, repeated over ``seeds``.

    Parameters
    ----------
    dataset : Dataset
    model : ColourModel or callable(seed) -> unfitted ColourModel
        A model is refitted per fold as ``model.reseeded(seed)``; a callable builds each fold's model.
    n_splits : int
        Folds per seed, grouped by recipe.
    seeds : iterable of int
        Each seed reshuffles the recipe folds and reseeds the model.
    n_jobs : int
        Folds run in parallel through joblib (``-1`` for every core).
    progress : callable(fraction, message), optional

    Returns
    -------
    Evaluation
    """
    make_model = _as_factory(model)
    warn_degenerate_colorants(dataset)
    tasks = [
        (seed, fold, train, test)
        for seed in seeds
        for fold, (train, test) in enumerate(grouped_folds(dataset.recipe_ids, n_splits, seed))
    ]
    results = []
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    for done, frame in enumerate(runner(delayed(_run_fold)(make_model, dataset, *task) for task in tasks), start=1):
        results.append(frame)
        if progress:
            progress(done / len(tasks), f"fold {done}/{len(tasks)}")
    per_sample = pd.concat(results, ignore_index=True)
    return _evaluation_from_samples(per_sample)


def _evaluation_from_samples(per_sample: pd.DataFrame, headline: str | None = None) -> Evaluation:
    by_seed = pd.DataFrame([{"seed": seed, **summarise(group, headline)} for seed, group in per_sample.groupby("seed")])
    metrics = {key: float(by_seed[key].mean()) for key in by_seed.columns if key != "seed"}
    return Evaluation(metrics=metrics, metrics_by_seed=by_seed, per_sample=per_sample)
