"""Leave-recipe-out evaluation: grouped folds, per-sample errors and the summary table.

A recipe is measured at two thicknesses and sometimes twice, so a random row split
puts the same recipe on both sides and flatters the model. Every split here groups by
``recipe_id``. Colour error is CIEDE2000 between CIELAB computed from the measured
spectrum and each predicted CIELAB path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupKFold

from model.core import colorimetry
from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, Dataset
from model.models.mlp import FormulationModel, ModelConfig

__all__ = [
    "grouped_folds",
    "split_test_recipes",
    "score_prediction",
    "summarise",
    "cross_validate",
    "Evaluation",
    "format_metrics",
    "normalised_lab_mae",
]

PATHS = ("spectral", "head", "headline")


def grouped_folds(recipe_ids, n_splits: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row indices of ``n_splits`` (train, test) folds, no recipe on both sides.

    Parameters
    ----------
    recipe_ids : array_like of str, one per measurement.
    n_splits : int
        Clipped to the number of distinct recipes.
    seed : int
        Shuffles which recipes share a fold.
    """
    recipe_ids = np.asarray(recipe_ids).astype(str)
    n_groups = len(np.unique(recipe_ids))
    if n_groups < 2:
        raise ValueError(f"Leave-recipe-out needs at least 2 recipes; got {n_groups}.")
    splitter = GroupKFold(n_splits=min(n_splits, n_groups), shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(recipe_ids, groups=recipe_ids)]


def split_test_recipes(recipe_ids, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) with ``test_fraction`` of the recipes held out, grouped by recipe."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction!r}: use a fraction between 0 and 1, e.g. 0.2.")
    recipe_ids = np.asarray(recipe_ids).astype(str)
    recipes = np.unique(recipe_ids)
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * len(recipes))))
    test_recipes = rng.choice(recipes, size=n_test, replace=False)
    is_test = np.isin(recipe_ids, test_recipes)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def normalised_lab_mae(Lab_true, Lab_pred) -> float:
    """The old system's normalised CIELAB MAE over (L/100, (a+128)/256, (b+128)/256, C/150, h/360).

    Hue differences are taken the short way round the circle (the old system regressed
    h° directly; on these colours, far from 0/360°, the two agree).
    """
    LCh_true, LCh_pred = colorimetry.Lab_to_LCh(Lab_true), colorimetry.Lab_to_LCh(Lab_pred)
    errors = [
        np.abs(Lab_true[:, 0] - Lab_pred[:, 0]) / 100,
        np.abs(Lab_true[:, 1] - Lab_pred[:, 1]) / 256,
        np.abs(Lab_true[:, 2] - Lab_pred[:, 2]) / 256,
        np.abs(LCh_true[:, 1] - LCh_pred[:, 1]) / 150,
    ]
    hue = np.abs(LCh_true[:, 2] - LCh_pred[:, 2]) % 360
    errors.append(np.minimum(hue, 360 - hue) / 360)
    return float(np.mean(errors))


def score_prediction(dataset: Dataset, prediction) -> pd.DataFrame:
    """Per-sample errors of ``prediction`` against the measured ``dataset`` (same row order).

    Returns a frame with ids, inputs, measured and predicted CIELAB (L* 0–100) for each
    path, ``delta_e00_spectral``, ``delta_e00_head``, ``delta_e00`` (headline path),
    ``spectral_mae`` and both spectra as ``measured_R…`` / ``predicted_R…``.
    """
    measured_Lab = colorimetry.reflectance_to_Lab(dataset.reflectance)
    frame = dataset.table[[SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *dataset.colorants, THICKNESS_COLUMN]].reset_index(drop=True).copy()
    for i, axis in enumerate("Lab"):
        frame[f"{axis}_measured"] = measured_Lab[:, i]
        frame[f"{axis}_spectral"] = prediction.Lab_spectral[:, i]
        frame[f"{axis}_head"] = prediction.Lab_head[:, i]
    frame["delta_e00_spectral"] = colorimetry.delta_E00(measured_Lab, prediction.Lab_spectral)
    frame["delta_e00_head"] = colorimetry.delta_E00(measured_Lab, prediction.Lab_head)
    frame["delta_e00"] = frame["delta_e00_head"] if prediction.headline == "head" else frame["delta_e00_spectral"]
    frame["delta_e00_paths"] = prediction.delta_e00_paths
    frame["spectral_mae"] = np.abs(dataset.reflectance - prediction.reflectance).mean(axis=1)
    measured = pd.DataFrame(dataset.reflectance, columns=[f"measured_{c}" for c in BAND_COLUMNS])
    predicted = pd.DataFrame(prediction.reflectance, columns=[f"predicted_{c}" for c in BAND_COLUMNS])
    return pd.concat([frame, measured, predicted], axis=1)


def _path_Lab(per_sample: pd.DataFrame, path: str) -> np.ndarray:
    return per_sample[[f"{axis}_{path}" for axis in "Lab"]].to_numpy(dtype=float)


def summarise(per_sample: pd.DataFrame, headline: str | None = None) -> dict[str, float]:
    """Summary metrics of a per-sample frame from :func:`score_prediction`.

    Keys: ``delta_e00_{mean,median,p95,max}_{spectral,head,headline}``,
    ``spectral_{mae,rmse,r2}``, ``lab_{mae,rmse,r2}`` (headline path),
    ``normalised_lab_mae`` (headline path), ``n_samples``, ``n_recipes``.
    """
    measured = per_sample[[f"measured_{c}" for c in BAND_COLUMNS]].to_numpy(dtype=float)
    predicted = per_sample[[f"predicted_{c}" for c in BAND_COLUMNS]].to_numpy(dtype=float)
    metrics: dict[str, float] = {"n_samples": int(len(per_sample)), "n_recipes": int(per_sample[RECIPE_ID_COLUMN].nunique())}
    for path, column in (("spectral", "delta_e00_spectral"), ("head", "delta_e00_head"), ("headline", "delta_e00")):
        errors = per_sample[column].to_numpy(dtype=float)
        metrics[f"delta_e00_mean_{path}"] = float(np.mean(errors))
        metrics[f"delta_e00_median_{path}"] = float(np.median(errors))
        metrics[f"delta_e00_p95_{path}"] = float(np.percentile(errors, 95))
        metrics[f"delta_e00_max_{path}"] = float(np.max(errors))
    residual = measured - predicted
    metrics["spectral_mae"] = float(np.mean(np.abs(residual)))
    metrics["spectral_rmse"] = float(np.sqrt(np.mean(residual**2)))
    metrics["spectral_r2"] = float(r2_score(measured, predicted))
    if headline is None:
        headline = "head" if np.allclose(per_sample["delta_e00"], per_sample["delta_e00_head"]) else "spectral"
    Lab_true, Lab_pred = _path_Lab(per_sample, "measured"), _path_Lab(per_sample, headline)
    metrics["lab_mae"] = float(np.mean(np.abs(Lab_true - Lab_pred)))
    metrics["lab_rmse"] = float(np.sqrt(np.mean((Lab_true - Lab_pred) ** 2)))
    metrics["lab_r2"] = float(r2_score(Lab_true, Lab_pred))
    metrics["normalised_lab_mae"] = normalised_lab_mae(Lab_true, Lab_pred)
    return metrics


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


def _as_factory(model) -> Callable[[int], object]:
    if isinstance(model, ModelConfig):
        return lambda seed: FormulationModel(model.replace(random_state=model.random_state + 1000 * seed))
    if callable(model):
        return model
    raise TypeError(f"model must be a ModelConfig or a callable(seed) returning an unfitted model; got {type(model).__name__}.")


def _run_fold(make_model, dataset: Dataset, seed: int, fold: int, train, test) -> pd.DataFrame:
    model = make_model(seed).fit(dataset.subset(train))
    held_out = dataset.subset(test)
    per_sample = score_prediction(held_out, model.predict(held_out.recipes))
    per_sample.insert(0, "fold", fold)
    per_sample.insert(0, "seed", seed)
    return per_sample


def cross_validate(
    dataset: Dataset,
    model=None,
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
    model : ModelConfig or callable(seed) -> unfitted model, default ``ModelConfig()``
        Anything with ``fit(Dataset)`` and ``predict(recipes) -> Prediction``.
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
    make_model = _as_factory(ModelConfig() if model is None else model)
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


def format_metrics(metrics: dict[str, float], title: str = "") -> str:
    """The evaluation table as plain text (what the CLI and bench scripts print)."""
    lines = [title] if title else []
    lines.append(f"{'ΔE00 (CIEDE2000)':<22}{'mean':>8}{'median':>8}{'p95':>8}{'max':>8}")
    for path, label in (("headline", "headline path"), ("spectral", "spectral path"), ("head", "CIELAB head")):
        values = [metrics[f"delta_e00_{stat}_{path}"] for stat in ("mean", "median", "p95", "max")]
        lines.append(f"{label:<22}" + "".join(f"{v:>8.3f}" for v in values))
    lines.append(
        f"spectral  MAE {metrics['spectral_mae']:.4f}  RMSE {metrics['spectral_rmse']:.4f}  R² {metrics['spectral_r2']:.4f}"
    )
    lines.append(f"CIELAB    MAE {metrics['lab_mae']:.3f}   RMSE {metrics['lab_rmse']:.3f}   R² {metrics['lab_r2']:.4f}")
    lines.append(f"normalised CIELAB MAE (old system's measure) {metrics['normalised_lab_mae']:.4f}")
    lines.append(f"{int(metrics['n_samples'])} measurements of {int(metrics['n_recipes'])} recipes, leave-recipe-out")
    return "\n".join(lines)
