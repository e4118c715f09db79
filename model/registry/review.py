"""Reviewing models: how good the champion's predictions are, in plain words.

Everything the Overview page and the HTML report show is computed here, from the
champion's card and its **out-of-fold** predictions: the leave-recipe-out cross-validation
that training runs, where each recipe is predicted by a model that never saw it.
Training saves that per-sample table beside the card (:func:`save_out_of_fold`); for
older models it is recomputed from the training data (:func:`out_of_fold_table` does
either). The admin's review of a challenger (who wins per recipe) is here too; which
versions can be rolled back to is the door's (:func:`model.registry.promotion.rollback_options`).

Only numbers and words: the figures and the report's HTML are drawn from them by
:mod:`model.presentation`.

Scales: ΔE00 in CIEDE2000 units (below 1 is hard to see, below 2 is close enough for
most commercial work); L* 0–100; swatches are display sRGB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from model.core import colorimetry, settings
from model.core.files import atomic_write_text
from model.core.schema import RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, Dataset

# Re-exported here: the tolerance bands and data_name live in light modules the first page imports.
from model.core.tolerance import DELTA_E00_EXPLANATION, TOLERANCE_COLOURS, tolerance_band
from model.evaluation import cross_validate, per_recipe_fluorescence
from model.evaluation.metrics import FLUORESCENCE_PREDICTED
from model.evaluation.search_space import BASELINE, PHYSICS
from model.models.base import model_from_config
from model.registry import promotion, registry
from model.registry.training_data import data_name, find_training_data

__all__ = [
    "OUT_OF_FOLD_FILE",
    "DELTA_E00_EXPLANATION",
    "TOLERANCE_COLOURS",
    "save_out_of_fold",
    "load_out_of_fold",
    "compute_out_of_fold",
    "AccuracySummary",
    "summarise_accuracy",
    "tolerance_band",
    "swatch_table",
    "champion_facts",
    "previous_champion_comparison",
    "out_of_fold_table",
    "RECOMPUTING_MESSAGE",
    "INSTRUMENT_REPEATABILITY",
    "recipe_wins",
    "data_name",
    "describe_configuration",
    "SearchVerdict",
    "search_verdict",
    "search_scores",
    "search_matches_champion",
]

#: The per-sample out-of-fold table, saved beside ``card.json`` in a model's folder.
OUT_OF_FOLD_FILE = registry.OUT_OF_FOLD_FILE
#: The instrument's own repeatability on the real data (ΔE00 between two readings of one recipe).
INSTRUMENT_REPEATABILITY = 0.75
#: What :func:`out_of_fold_table` tells its ``progress`` before it recomputes.
RECOMPUTING_MESSAGE = "No saved out-of-fold predictions; recomputing them (one cross-validation)"


# --------------------------------------------------------------------------------------
# The out-of-fold table: saved by training, or recomputed
# --------------------------------------------------------------------------------------


def _version_folder(version: str, models_dir) -> Path:
    root = settings.models_dir(models_dir)
    if not version or Path(version).name != version:
        raise ValueError(f"{version!r} is not a model version name.")
    return root / version


def save_out_of_fold(evaluation, version: str, models_dir=None) -> Path:
    """Save an evaluation's out-of-fold predictions beside the model's card.

    ``training.save_trained`` already writes this table with the model; this is for
    models saved another way (tests, older versions).

    Parameters
    ----------
    evaluation : Evaluation
        From ``evaluation.cross_validate`` (its ``per_sample`` table: ids, inputs,
        measured and predicted CIELAB, ΔE00 per path, both spectra, ``seed``, ``fold``).
    version : str
        The model version folder the evaluation belongs to.
    models_dir : path, optional; default :func:`settings.models_dir`.

    Returns
    -------
    pathlib.Path, the written CSV.
    """
    folder = _version_folder(version, models_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"No model version folder {folder}; save the model first, then its out-of-fold table.")
    path = folder / OUT_OF_FOLD_FILE
    atomic_write_text(path, evaluation.per_sample.to_csv(index=False))  # a page loading it never sees half
    return path


def load_out_of_fold(version: str, models_dir=None) -> pd.DataFrame | None:
    """The saved out-of-fold table of a model version, or None when it has none."""
    path = _version_folder(version, models_dir) / OUT_OF_FOLD_FILE
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={SAMPLE_ID_COLUMN: str, RECIPE_ID_COLUMN: str})


def compute_out_of_fold(card: registry.ModelCard, dataset: Dataset, *, n_splits: int = 5, seeds=(0,), progress=None) -> pd.DataFrame:
    """Recompute leave-recipe-out predictions with the card's configuration.

    Slower than loading the saved table (one model fit per fold); one seed by default,
    so it may differ slightly from the card's figures, which average three seeds.
    """
    model = model_from_config(card.kind, card.config)
    evaluation = cross_validate(dataset, model, n_splits=n_splits, seeds=seeds, progress=progress)
    return evaluation.with_headline(model.headline).per_sample


def out_of_fold_table(card: registry.ModelCard, models_dir=None, *, progress=None) -> pd.DataFrame | None:
    """A model's out-of-fold table: the one saved beside its card, else recomputed.

    The Overview page and ``python -m model report`` both start here.

    Parameters
    ----------
    card : ModelCard
        The model whose table is wanted.
    models_dir : path, optional; default :func:`settings.models_dir`.
    progress : callable(fraction, message), optional
        Told :data:`RECOMPUTING_MESSAGE` (fraction 0) before a recomputation starts, then
        the cross-validation's progress. Loading a saved table calls nothing.

    Returns
    -------
    DataFrame or None
        See :func:`save_out_of_fold` for the columns. None when nothing is saved and the
        training data cannot be found (:func:`model.registry.training_data.find_training_data`).
    """
    saved = load_out_of_fold(card.version, models_dir)
    if saved is not None:
        return saved
    dataset = find_training_data(card).dataset
    if dataset is None:
        return None
    if progress is not None:
        progress(0.0, RECOMPUTING_MESSAGE)
    return compute_out_of_fold(card, dataset, progress=progress)


# --------------------------------------------------------------------------------------
# What the page and the report say
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracySummary:
    """The headline numbers, measured on recipes each model never saw.

    Attributes
    ----------
    n_recipes, n_measurements : int
    median_delta_e00 : float
    share_under_1, share_under_2 : float or None
        Fractions (0–1) of measurements predicted within ΔE00 1 and 2; None when only the
        card's summary metrics are available.
    """

    n_recipes: int
    n_measurements: int
    median_delta_e00: float
    share_under_1: float | None
    share_under_2: float | None

    @property
    def sentence(self) -> str:
        text = (
            f"On {self.n_recipes} recipes the model never saw, the median colour error was "
            f"{self.median_delta_e00:.2f} ΔE00"
        )
        if self.share_under_1 is None:
            return text + "."
        return (
            text + f", with {100 * self.share_under_1:.0f} % under 1.0 (hard to see) and "
            f"{100 * self.share_under_2:.0f} % under 2.0 (close enough for most commercial work)."
        )


def summarise_accuracy(card: registry.ModelCard, out_of_fold: pd.DataFrame | None = None) -> AccuracySummary:
    """The headline from the out-of-fold table, or from the card's metrics when there is none.

    The median is the card's (``delta_e00_median_headline``, averaged over the CV seeds)
    whenever the card has one, so the headline and :func:`previous_champion_comparison`
    quote the same number; the shares under 1 and 2 come from the out-of-fold table.
    """
    if out_of_fold is None or out_of_fold.empty:
        return AccuracySummary(
            n_recipes=int(card.metrics.get("n_recipes", card.dataset.get("n_recipes", 0))),
            n_measurements=int(card.metrics.get("n_samples", card.dataset.get("n_samples", 0))),
            median_delta_e00=float(card.metrics["delta_e00_median_headline"]),
            share_under_1=None,
            share_under_2=None,
        )
    errors = out_of_fold["delta_e00"].to_numpy(dtype=float)
    median = card.metrics.get("delta_e00_median_headline")
    return AccuracySummary(
        n_recipes=int(out_of_fold[RECIPE_ID_COLUMN].nunique()),
        n_measurements=int(out_of_fold[SAMPLE_ID_COLUMN].nunique()),
        median_delta_e00=float(np.median(errors) if median is None else median),
        share_under_1=float(np.mean(errors < 1.0)),
        share_under_2=float(np.mean(errors < 2.0)),
    )


def swatch_table(out_of_fold: pd.DataFrame) -> pd.DataFrame:
    """One row per measurement: measured and predicted swatch, ΔE00 and its band, worst first.

    With several cross-validation seeds, each measurement's first seed is shown.
    """
    first_seed = out_of_fold[out_of_fold["seed"] == out_of_fold["seed"].min()] if "seed" in out_of_fold else out_of_fold
    first_seed = first_seed.drop_duplicates(SAMPLE_ID_COLUMN).reset_index(drop=True)
    headline = "head" if np.allclose(first_seed["delta_e00"], first_seed["delta_e00_head"]) and not np.allclose(
        first_seed["delta_e00"], first_seed["delta_e00_spectral"]
    ) else "spectral"
    measured = first_seed[["L_measured", "a_measured", "b_measured"]].to_numpy(dtype=float)
    predicted = first_seed[[f"L_{headline}", f"a_{headline}", f"b_{headline}"]].to_numpy(dtype=float)
    table = pd.DataFrame(
        {
            SAMPLE_ID_COLUMN: first_seed[SAMPLE_ID_COLUMN].astype(str),
            RECIPE_ID_COLUMN: first_seed[RECIPE_ID_COLUMN].astype(str),
            "measured_hex": colorimetry.sRGB_to_hex(colorimetry.Lab_to_sRGB(measured)[0]),
            "predicted_hex": colorimetry.sRGB_to_hex(colorimetry.Lab_to_sRGB(predicted)[0]),
            "delta_e00": first_seed["delta_e00"].to_numpy(dtype=float),
        }
    )
    table["band"] = tolerance_band(table["delta_e00"])
    return table.sort_values("delta_e00", ascending=False, kind="mergesort").reset_index(drop=True)


def _plain_date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%d %B %Y, %H:%M UTC")
    except ValueError:
        return iso


def champion_facts(card: registry.ModelCard) -> list[tuple[str, str]]:
    """The card in plain words: (label, value) pairs."""
    dataset = card.dataset
    colorants = ", ".join(dataset.get("colorants", [])) or "unknown"
    return [
        ("Version", card.version),
        ("Trained", _plain_date(card.created_at)),
        ("Data", f"“{data_name(dataset)}”: {dataset.get('n_recipes', '?')} recipes, {dataset.get('n_samples', '?')} measurements"),
        ("Colorants", colorants),
        ("Mean colour error (never-seen recipes)", f"{card.metrics.get('delta_e00_mean_headline', float('nan')):.2f} ΔE00"),
        ("95 % of errors below", f"{card.metrics.get('delta_e00_p95_headline', float('nan')):.2f} ΔE00"),
        *fluorescence_facts(card),
        ("How it was tested", str(card.notes.get("evaluation", "leave-recipe-out cross-validation"))),
    ]


def fluorescence_facts(card: registry.ModelCard) -> list[tuple[str, str]]:
    """The fluorescence head's leave-recipe-out accuracy in plain words; empty for a model without a head."""
    metrics = card.metrics
    if "fluorescence_mae" not in metrics:
        return []
    value = (
        f"{metrics['fluorescence_mae']:.0f} ct/s on average (RMSE {metrics['fluorescence_rmse']:.0f} ct/s, "
        f"R² {metrics['fluorescence_r2']:.3f}) over {int(metrics['fluorescence_n_samples'])} films with a reading"
    )
    return [("Fluorescence error (never-seen recipes)", value)]


def fluorescence_by_recipe(out_of_fold: pd.DataFrame | None) -> pd.DataFrame | None:
    """Out-of-fold fluorescence per recipe (ct/s), worst first, with unit-labelled columns; None without a head."""
    if out_of_fold is None or FLUORESCENCE_PREDICTED not in out_of_fold.columns:
        return None
    table = per_recipe_fluorescence(out_of_fold)
    if table.empty:
        return None
    return table.rename(columns={
        "recipe_id": "recipe", "n_readings": "films with a reading", "fluorescence_measured_cts": "measured (ct/s)",
        "fluorescence_predicted_cts": "predicted (ct/s)", "fluorescence_abs_error_cts": "error (ct/s)",
    }).round({"measured (ct/s)": 0, "predicted (ct/s)": 0, "error (ct/s)": 0})


def _change(now: float, before: float, what: str) -> str:
    if np.isclose(now, before, atol=0.005):
        return f"the same {what}"
    return f"a {'lower' if now < before else 'higher'} {what} ({now:.2f} ΔE00, was {before:.2f})"


def previous_champion_comparison(card: registry.ModelCard, models_dir=None) -> str:
    """One sentence comparing the champion with the one it replaced (from the promotions log).

    Figures stand side by side ("0.83, was 0.86") only when both were scored on the same
    data and folds: the cards' own leave-recipe-out figures when they were trained on the
    same data, else the same-folds comparison made when the champion was promoted
    (:func:`model.registry.promotion.same_folds_errors`). A model of other data or colorants
    (the synthetic demo) is named, never compared. A written override reason is quoted.
    """
    history = [entry for entry in registry.promotion_history(models_dir) if entry.get("version") == card.version]
    previous_version = history[-1].get("previous") if history else None
    if not previous_version:
        return "This is the first champion: there is no earlier model to compare with."
    try:
        previous = registry.read_card(previous_version, models_dir)
    except registry.IntegrityError:
        return f"It replaced model {previous_version}, whose card can no longer be read."
    reason = history[-1].get("override_reason")
    because = f" It was promoted with this reason: “{reason}”." if reason else ""
    named = f"the previous champion ({previous_version}, trained {_plain_date(previous.created_at)})"
    why = promotion.why_not_comparable(previous, card)
    if why:
        return f"It replaced {named}, {why}; the two predict different colorants, so their errors are not compared.{because}"
    same_data = card.dataset.get("fingerprint") and card.dataset.get("fingerprint") == previous.dataset.get("fingerprint")
    now, before = card.metrics.get("delta_e00_median_headline"), previous.metrics.get("delta_e00_median_headline")
    if same_data and card.notes.get("evaluation") == previous.notes.get("evaluation") and now is not None and before is not None:
        return f"Compared with {named}, on the same data and folds it has {_change(now, before, 'median colour error')}.{because}"
    scored = promotion.same_folds_errors(card.version, previous_version, models_dir)
    if scored is not None:
        now, before, n_recipes, _ = scored
        return f"Compared with {named}, on the same {n_recipes} recipes and folds it has {_change(now, before, 'mean colour error')}.{because}"
    return (
        f"It replaced {named}, trained on {data_name(previous.dataset)}; the two were never scored on the same recipes, "
        f"so their errors are not compared.{because}"
    )


# --------------------------------------------------------------------------------------
# The admin's review: a challenger, and the model history
# --------------------------------------------------------------------------------------


def recipe_wins(per_recipe: pd.DataFrame) -> dict[str, int]:
    """How many recipes each side wins in a champion-against-challenger comparison.

    Parameters
    ----------
    per_recipe : DataFrame
        :attr:`model.jobs.retrain.Comparison.per_recipe`, with a ``winner`` column
        (``"challenger"``, ``"champion"`` or ``"tie"``).

    Returns
    -------
    dict
        ``{"challenger": n, "champion": n, "tie": n}``; a side that wins nothing has 0.
    """
    counts = per_recipe["winner"].value_counts()
    return {side: int(counts.get(side, 0)) for side in ("challenger", "champion", "tie")}


# --------------------------------------------------------------------------------------
# A configuration search, in plain words (the Compare page)
# --------------------------------------------------------------------------------------


def describe_configuration(row: Mapping) -> str:
    """A search trial's network in words: ``"2 networks, each with layers of 128 and 64 neurons"``.

    ``row`` is a trials row of :class:`model.jobs.search_result.SearchResult` (``layers``
    as ``"128-64"``, ``n_ensemble``).
    """
    layers = [part for part in str(row.get("layers", "") or "").split("-") if part and part != "nan"]
    if not layers:
        return "the Kubelka–Munk physics model" if row.get("candidate") == PHYSICS else "a network"
    size = f"one layer of {layers[0]} neurons" if len(layers) == 1 else f"layers of {', '.join(layers[:-1])} and {layers[-1]} neurons"
    ensemble = row.get("n_ensemble")
    count = int(ensemble) if ensemble is not None and not (isinstance(ensemble, float) and math.isnan(ensemble)) else 1
    return f"{count} networks, each with {size}" if count > 1 else f"one network with {size}"


def _relative(value: float, reference: float) -> str:
    """``"36 % lower than"`` / ``"12 % higher than"`` / ``"the same as"`` (errors: lower is better)."""
    if not (math.isfinite(value) and math.isfinite(reference)) or reference == 0:
        return "not comparable with"
    change = 100.0 * (value - reference) / abs(reference)
    if abs(change) < 0.5:
        return "the same as"
    return f"{abs(change):.0f} % {'lower' if change < 0 else 'higher'} than"


@dataclass(frozen=True)
class SearchVerdict:
    """The one-sentence answer of a configuration search, and the numbers in it.

    Attributes
    ----------
    best : str, the rank-1 trial (ranked on cross-validation of the training recipes).
    best_description : str, its network in words.
    best_error, baseline_error, physics_error : float
        Mean ΔE00 (CIEDE2000) on the held-out test recipes, which no model saw: the best
        configuration, the old system's configuration and the Kubelka–Munk physics model.
    sentence : str, which is better and by how much, in words.
    tone : str, ``"success"`` only when the best configuration beats both references (good
        news); ``"warning"`` when a reference predicts better.
    """

    best: str
    best_description: str
    best_error: float
    baseline_error: float
    physics_error: float
    sentence: str
    tone: str = "success"


def search_verdict(result) -> SearchVerdict:
    """Which configuration a search found best, its error on unseen recipes, and how that compares.

    Parameters
    ----------
    result : :class:`model.jobs.search_result.SearchResult`

    Returns
    -------
    SearchVerdict
        ``sentence`` reads, for example: "The best configuration, trial-049 (2 networks,
        each with layers of 128 and 64 neurons), missed recipes it had never seen by
        1.20 ΔE00 on average: 52 % lower than the old system's configuration (2.52) and
        43 % lower than the physics model alone (2.10)." When a reference predicts better, it
        says so first: "The physics model alone predicted recipes it had never seen 59 %
        closer than the best configuration of this search, …".
    """
    best_row, baseline_row, physics_row = (result.row(name) for name in (result.best, BASELINE, PHYSICS))
    best_error, baseline_error, physics_error = (float(row["test_delta_e00_mean_headline"]) for row in (best_row, baseline_row, physics_row))
    description = describe_configuration(best_row)
    references = sorted([(physics_error, "the physics model alone"), (baseline_error, "the old system's configuration")])
    (winner_error, winner), (other_error, other) = references
    if not winner_error < best_error:
        sentence = (
            f"The best configuration, {result.best} ({description}), missed recipes it had never seen by "
            f"{best_error:.2f} ΔE00 on average: {_relative(best_error, baseline_error)} the old system's configuration "
            f"({baseline_error:.2f}) and {_relative(best_error, physics_error)} the physics model alone ({physics_error:.2f})."
        )
        return SearchVerdict(result.best, description, best_error, baseline_error, physics_error, sentence)
    closer = 100.0 * (best_error - winner_error) / best_error
    sentence = (
        f"{winner[:1].upper()}{winner[1:]} predicted recipes it had never seen {closer:.0f} % closer than the best configuration "
        f"of this search, {result.best} ({description}): {winner_error:.2f} against {best_error:.2f} ΔE00 on average. "
        f"No configuration here beats it; {other} missed by {other_error:.2f}."
    )
    return SearchVerdict(result.best, description, best_error, baseline_error, physics_error, sentence, tone="warning")


#: The score columns of :func:`search_scores`, from a trials row, with plain headers.
_SCORE_COLUMNS = {
    "test_delta_e00_mean_headline": "mean error (ΔE00)",
    "test_delta_e00_p95_headline": "95 % below (ΔE00)",
    "test_spectral_mae": "spectral error",
    "test_fit_seconds": "training (s)",
}


def search_scores(result) -> pd.DataFrame:
    """The best configuration, the old system's and the physics model, scored on the test recipes.

    Returns
    -------
    DataFrame
        One row each (``configuration``, in words), the columns of :data:`_SCORE_COLUMNS`
        (mean and 95th-percentile ΔE00, spectral MAE on reflectance 0–1, training seconds)
        and ``vs old configuration`` ("52 % lower error"). All figures
        are on recipes no model saw (the search's held-out test recipes).
    """
    rows = []
    baseline_error = float(result.row(BASELINE)["test_delta_e00_mean_headline"])
    for name, label in ((result.best, f"best ({result.best})"), (BASELINE, "old configuration"), (PHYSICS, "physics alone (Kubelka–Munk)")):
        row = result.row(name)
        error = float(row["test_delta_e00_mean_headline"])
        rows.append(
            {
                "configuration": label,
                **{header: float(row[key]) if key in row else float("nan") for key, header in _SCORE_COLUMNS.items()},
                "vs old configuration": "—" if name == BASELINE else f"{_relative(error, baseline_error).removesuffix(' than')} error",
            }
        )
    return pd.DataFrame(rows)


def search_matches_champion(search_meta: Mapping, card: registry.ModelCard) -> bool:
    """True when the search ran on the same data (dataset fingerprint) as the champion was trained on.

    A search of other data (the synthetic demo, after a model of real data was promoted)
    is stale: its ranking says nothing certain about the model in use.
    """
    fingerprint = (search_meta.get("dataset") or {}).get("fingerprint")
    return bool(fingerprint) and fingerprint == card.dataset.get("fingerprint")
