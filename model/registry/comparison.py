"""Champion and challenger scored fairly: the same leave-recipe-out folds, no model scored on a recipe it saw.

How champion and challenger are compared
----------------------------------------
Both are scored on the **same leave-recipe-out folds of the new dataset**
(:func:`model.evaluation.cross_validation.grouped_folds`; same ``n_splits`` and seeds, so the same
recipes are held out together), and each side is refitted in every fold so that no
model is ever scored on a recipe it was trained on:

- *challenger*: its configuration fitted on the new dataset minus the held-out recipes.
  This is the cross-validation :func:`~model.jobs.training.train_and_evaluate` runs anyway.
- *champion*: the champion's configuration fitted on **the champion's own training
  data** (rebuilt from the store version or dataset fingerprint on its card) minus the
  held-out recipes. That is what the champion would have been had it not seen those
  recipes, so both sides answer the same question: how well would you predict a recipe
  you have not seen, given the data and configuration you have?

Scoring the champion's saved model directly would flatter it on every recipe it was
trained on (most of the new dataset, usually); comparing only configurations on the new
data would ignore what the new measurements add. If the champion's training data cannot
be rebuilt (it was trained outside the store), the champion's configuration is refitted
on the new dataset's folds instead, and the comparison says so: it then compares
configurations only. Each side reports its own headline CIELAB path (chosen on
validation when it was trained).

A comparison is saved as plain files (``comparison.json`` and ``per_recipe.csv``), never
pickled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from model.core.files import atomic_write_json
from model.core.schema import RECIPE_ID_COLUMN, Dataset
from model.evaluation import Evaluation, cross_validate
from model.evaluation.cross_validation import DEFAULT_CV_SEEDS, DEFAULT_N_SPLITS
from model.models.base import ColourModel
from model.models.colorant_checks import degenerate_colorant_notes

__all__ = ["TIE_DELTA_E00", "SUMMARY_METRICS", "Comparison", "compare_on_same_folds", "write_comparison", "read_comparison"]

#: Per-recipe mean ΔE00 differences smaller than this are a tie: far below the 0.75 ΔE00
#: between two readings of one recipe on the real instrument, so nobody could tell.
TIE_DELTA_E00 = 0.05
#: The summary's rows: label → key of ``Evaluation.metrics``.
SUMMARY_METRICS = {
    "mean ΔE00": "delta_e00_mean_headline",
    "p95 ΔE00": "delta_e00_p95_headline",
    "spectral MAE (reflectance 0–1)": "spectral_mae",
}
COMPARISON_FILE = "comparison.json"
PER_RECIPE_FILE = "per_recipe.csv"


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger scored on the same leave-recipe-out folds.

    Attributes
    ----------
    champion_version, challenger_version : str or None
    protocol : str, how the two were scored, in words.
    summary : DataFrame, index ``metric`` (mean ΔE00, p95 ΔE00, spectral MAE), columns
        ``champion, challenger, better``.
    per_recipe : DataFrame, one row per recipe: ``recipe_id``, ``champion_delta_e00``,
        ``challenger_delta_e00``, ``champion_spectral_mae``, ``challenger_spectral_mae``,
        ``difference`` (champion − challenger ΔE00; positive means the challenger is
        better) and ``winner`` (``"challenger"``, ``"champion"`` or ``"tie"``).
    warnings : list of str
    """

    champion_version: str | None
    challenger_version: str | None
    protocol: str
    summary: pd.DataFrame
    per_recipe: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def challenger_wins(self) -> bool:
        """True when the challenger has the lower mean ΔE00 (headline path)."""
        return float(self.summary.loc["mean ΔE00", "challenger"]) < float(self.summary.loc["mean ΔE00", "champion"])


class _FittedOnReference:
    """The champion's procedure in one fold: its config, fitted on its own training data
    minus the recipes the fold holds out of the new dataset."""

    def __init__(self, model: ColourModel, reference: Dataset, new_recipe_ids) -> None:
        self.model = model
        self.reference = reference
        self.new_recipe_ids = frozenset(np.asarray(new_recipe_ids).astype(str))

    def fit(self, fold_train: Dataset) -> _FittedOnReference:
        held_out = self.new_recipe_ids - set(fold_train.recipe_ids)
        keep = ~np.isin(self.reference.recipe_ids, sorted(held_out))
        if keep.sum() < 2:
            raise ValueError("The champion's training data has fewer than 2 measurements outside this fold's held-out recipes.")
        self.model_ = clone(self.model).fit(self.reference.subset(keep))
        return self

    def predict(self, recipes: pd.DataFrame):
        # A colorant the champion's data never had is one it cannot use: it sees 0 wt %.
        missing = [c for c in self.model_.input_columns if c not in recipes.columns]
        return self.model_.predict(recipes.assign(**{c: 0.0 for c in missing}) if missing else recipes)


def _summary(champion: Evaluation, challenger: Evaluation) -> pd.DataFrame:
    rows = []
    for label, key in SUMMARY_METRICS.items():
        a, b = champion.metrics[key], challenger.metrics[key]
        rows.append({"metric": label, "champion": a, "challenger": b, "better": "challenger" if b < a else ("champion" if a < b else "equal")})
    return pd.DataFrame(rows).set_index("metric")


def _per_recipe(champion: Evaluation, challenger: Evaluation) -> pd.DataFrame:
    def by_recipe(evaluation: Evaluation, side: str) -> pd.DataFrame:
        table = evaluation.per_sample.groupby(RECIPE_ID_COLUMN)[["delta_e00", "spectral_mae"]].mean()
        return table.rename(columns={"delta_e00": f"{side}_delta_e00", "spectral_mae": f"{side}_spectral_mae"})

    table = by_recipe(champion, "champion").join(by_recipe(challenger, "challenger"), how="outer").reset_index()
    table["difference"] = table["champion_delta_e00"] - table["challenger_delta_e00"]
    table["winner"] = np.where(table["difference"] > TIE_DELTA_E00, "challenger", np.where(table["difference"] < -TIE_DELTA_E00, "champion", "tie"))
    return table.sort_values("difference", ascending=False).reset_index(drop=True)


def _champion_side(dataset: Dataset, champion: ColourModel, champion_reference: Dataset | None, reference_description: str):
    """What ``cross_validate`` fits as the champion in each fold, that basis in words, and warnings."""
    if champion_reference is None:
        basis = "the champion's configuration refitted on the new dataset (its own training data is not in the store, so this compares configurations only)"
        return champion, basis, []

    def fitted_on_reference(seed: int):
        return _FittedOnReference(champion.reseeded(seed), champion_reference, dataset.recipe_ids)

    basis = f"{reference_description or 'the champion’s training data'} minus each fold's held-out recipes, with the champion's configuration"
    unknown = [c for c in dataset.colorants if c not in champion_reference.colorants and (dataset.table[c] > 0).any()]
    warnings_ = [f"The champion's training data has no measurements with {', '.join(unknown)}; it predicts those recipes as if that colorant were absent."] if unknown else []
    return fitted_on_reference, basis, warnings_


def compare_on_same_folds(
    dataset: Dataset,
    *,
    challenger: ColourModel,
    champion: ColourModel,
    champion_reference: Dataset | None,
    challenger_evaluation: Evaluation | None = None,
    n_splits: int = DEFAULT_N_SPLITS,
    seeds=DEFAULT_CV_SEEDS,
    champion_version: str | None = None,
    challenger_version: str | None = None,
    reference_description: str = "",
    n_jobs: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[Comparison, Evaluation, Evaluation]:
    """Score champion and challenger on the same leave-recipe-out folds of ``dataset``.

    See the module docstring for why each side is refitted per fold, and on what.

    Parameters
    ----------
    dataset : Dataset, the new training data.
    challenger, champion : unfitted ColourModel
        The champion keeps the headline path it was chosen with.
    champion_reference : Dataset or None
        The champion's training data; None refits the champion's config on ``dataset``.
    challenger_evaluation : Evaluation, optional
        The challenger's cross-validation from ``train_and_evaluate`` with the same
        ``n_splits`` and ``seeds`` (reused: same folds, so no need to fit it again).
    n_splits, seeds : the folds (``evaluation.grouped_folds``).
    n_jobs : int, folds fitted in parallel (joblib; ``-1`` for every core). The scores are the same either way.
    progress : callable(fraction, message), optional

    Returns
    -------
    (Comparison, champion Evaluation, challenger Evaluation)
    """
    seeds = tuple(seeds)
    champion_side, basis, warnings_ = _champion_side(dataset, champion, champion_reference, reference_description)
    warnings_ += degenerate_colorant_notes(dataset)  # the fits warn too, but from a job process no person reads
    steps = 1 if challenger_evaluation is not None else 2

    def report(offset: int, label: str):
        return (lambda fraction, message: progress((offset + fraction) / steps, f"{label}: {message}")) if progress else None

    champion_evaluation = cross_validate(dataset, champion_side, n_splits=n_splits, seeds=seeds, n_jobs=n_jobs, progress=report(0, "champion"))
    if challenger_evaluation is None:
        challenger_evaluation = cross_validate(dataset, challenger, n_splits=n_splits, seeds=seeds, n_jobs=n_jobs, progress=report(1, "challenger"))
        challenger_evaluation = challenger_evaluation.with_headline(challenger_evaluation.best_headline())
    same_configuration = challenger.kind == champion.kind and challenger.config() == champion.config()
    if same_configuration and champion_reference is None:
        warnings_.append("Same configuration and same data: the two sides score the same by construction.")
    protocol = (
        f"Leave-recipe-out on the new dataset ({len(dataset)} measurements of {dataset.n_recipes} recipes): "
        f"{n_splits} folds grouped by recipe × seeds {list(seeds)}, the same folds for both. "
        f"Challenger: its configuration fitted on the new dataset minus each fold's held-out recipes. "
        f"Champion: {basis}. No model is scored on a recipe it was fitted on."
    )
    summary, per_recipe = _summary(champion_evaluation, challenger_evaluation), _per_recipe(champion_evaluation, challenger_evaluation)
    comparison = Comparison(champion_version, challenger_version, protocol, summary, per_recipe, warnings_)
    return comparison, champion_evaluation, challenger_evaluation


def write_comparison(folder, comparison: Comparison) -> None:
    """Save ``comparison`` in ``folder`` as ``comparison.json`` and ``per_recipe.csv``."""
    folder = Path(folder)
    comparison.per_recipe.to_csv(folder / PER_RECIPE_FILE, index=False)
    atomic_write_json(
        folder / COMPARISON_FILE,
        {
            "champion_version": comparison.champion_version,
            "challenger_version": comparison.challenger_version,
            "protocol": comparison.protocol,
            "summary": comparison.summary.reset_index().to_dict(orient="records"),
            "warnings": comparison.warnings,
        },
    )


def read_comparison(folder) -> Comparison:
    """The comparison saved in ``folder`` by :func:`write_comparison` (JSON and CSV: data, never unpickled).

    Raises
    ------
    FileNotFoundError
        ``folder`` holds no comparison (the job had no champion to compare with).
    """
    folder = Path(folder)
    data = json.loads((folder / COMPARISON_FILE).read_text(encoding="utf-8"))
    per_recipe = pd.read_csv(folder / PER_RECIPE_FILE, dtype={RECIPE_ID_COLUMN: str})
    summary = pd.DataFrame(data["summary"]).set_index("metric")
    return Comparison(data["champion_version"], data["challenger_version"], data["protocol"], summary, per_recipe, data["warnings"])
