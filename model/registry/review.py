"""Reviewing models: how good the champion's predictions are, in plain words.

Everything the Overview page and the HTML report show is computed here, from the
champion's card and its **out-of-fold** predictions: the leave-recipe-out cross-validation
that training runs, where each recipe is predicted by a model that never saw it.
Training saves that per-sample table beside the card (:func:`save_out_of_fold`); for
older models it is recomputed from the training data (:func:`out_of_fold_table` does
either). The admin's review of a challenger (who wins per recipe) is here too; which
versions can be rolled back to is the door's (:func:`model.registry.promotion.rollback_options`);
a configuration search's verdict is :mod:`model.registry.search_review`'s.

Only numbers and words: the figures and the report's HTML are drawn from them by
:mod:`model.presentation`.

Scales: ΔE00 in CIEDE2000 units (below 1 is hard to see, below 2 is close enough for
most commercial work); L* 0–100; swatches are display sRGB.
"""

from __future__ import annotations

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
from model.evaluation import cross_validate
from model.evaluation.metrics import FLUORESCENCE_MEASURED, FLUORESCENCE_PREDICTED
from model.models.base import model_from_config
from model.registry import promotion, registry
from model.registry.registry import ModelRegistry
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
    "recipe_errors",
    "swatch_table",
    "champion_facts",
    "fluorescence_by_recipe",
    "previous_champion_comparison",
    "out_of_fold_table",
    "RECOMPUTING_MESSAGE",
    "INSTRUMENT_REPEATABILITY",
    "recipe_wins",
    "data_name",
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


def _seed_count(out_of_fold: pd.DataFrame) -> int:
    return int(out_of_fold["seed"].nunique()) if "seed" in out_of_fold else 1


def _mean_over_seeds(out_of_fold: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per film (``sample_id``): ``columns`` averaged over the cross-validation's seeds."""
    return out_of_fold.groupby([RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN], sort=False)[columns].mean().reset_index()


def recipe_errors(out_of_fold: pd.DataFrame) -> pd.DataFrame:
    """Each recipe's out-of-fold colour error: the mean ΔE00 over its films and the CV seeds.

    The one count behind the Overview's headline, histogram and facts: each recipe the
    model never saw counts once, however many films it has and however many times
    (seeds) the cross-validation was repeated.

    Parameters
    ----------
    out_of_fold : DataFrame
        From :func:`out_of_fold_table`: ``recipe_id``, ``sample_id``, ``delta_e00``
        (CIEDE2000) and, with repeats, ``seed``.

    Returns
    -------
    DataFrame
        ``recipe_id``, ``n_films``, ``n_seeds`` and ``delta_e00``, worst first.
    """
    films = _mean_over_seeds(out_of_fold, ["delta_e00"])
    table = films.groupby(RECIPE_ID_COLUMN, sort=False).agg(n_films=(SAMPLE_ID_COLUMN, "size"), delta_e00=("delta_e00", "mean")).reset_index()
    table.insert(2, "n_seeds", _seed_count(out_of_fold))
    return table.sort_values("delta_e00", ascending=False, kind="mergesort").reset_index(drop=True)


@dataclass(frozen=True)
class AccuracySummary:
    """The headline numbers, measured on recipes each model never saw.

    Attributes
    ----------
    n_recipes, n_measurements : int
    median_delta_e00 : float
        Per recipe (see :func:`recipe_errors`) when the out-of-fold table is known, else
        the card's median over measurements.
    share_under_1, share_under_2 : float or None
        Fractions (0–1) of recipes predicted within ΔE00 1 and 2; None when only the
        card's summary metrics are available.
    mean_delta_e00, p95_delta_e00 : float or None
        Mean and 95th percentile of the per-recipe errors; None without the table.
    n_seeds : int
        How many times the cross-validation was repeated (each recipe's error is the mean).
    """

    n_recipes: int
    n_measurements: int
    median_delta_e00: float
    share_under_1: float | None
    share_under_2: float | None
    mean_delta_e00: float | None = None
    p95_delta_e00: float | None = None
    n_seeds: int = 1

    @property
    def per_recipe(self) -> bool:
        """True when the figures count recipes (from the out-of-fold table), not the card's measurements."""
        return self.share_under_1 is not None

    @property
    def sentence(self) -> str:
        text = (
            f"On {self.n_recipes} recipes the model never saw, the median colour error was "
            f"{self.median_delta_e00:.2f} ΔE00"
        )
        if not self.per_recipe:
            return text + "."
        repeats = f" and the {self.n_seeds} repeats of the test" if self.n_seeds > 1 else ""
        return (
            text + f", with {100 * self.share_under_1:.0f} % of recipes under 1.0 (hard to see) and "
            f"{100 * self.share_under_2:.0f} % under 2.0 (close enough for most commercial work). "
            f"A recipe's error is the mean over its films{repeats}."
        )


def summarise_accuracy(card: registry.ModelCard, out_of_fold: pd.DataFrame | None = None) -> AccuracySummary:
    """The headline, counted per recipe from the out-of-fold table, or the card's metrics when there is none.

    With the table every figure is over :func:`recipe_errors` (each recipe once, its
    error averaged over its films and the CV seeds), so the headline, the histogram
    (:func:`model.presentation.figures.error_histogram` of the same table) and
    :func:`champion_facts` agree.
    """
    if out_of_fold is None or out_of_fold.empty:
        return AccuracySummary(
            n_recipes=int(card.metrics.get("n_recipes", card.dataset.get("n_recipes", 0))),
            n_measurements=int(card.metrics.get("n_samples", card.dataset.get("n_samples", 0))),
            median_delta_e00=float(card.metrics["delta_e00_median_headline"]),
            share_under_1=None,
            share_under_2=None,
        )
    errors = recipe_errors(out_of_fold)["delta_e00"].to_numpy(dtype=float)
    return AccuracySummary(
        n_recipes=len(errors),
        n_measurements=int(out_of_fold[SAMPLE_ID_COLUMN].nunique()),
        median_delta_e00=float(np.median(errors)),
        share_under_1=float(np.mean(errors < 1.0)),
        share_under_2=float(np.mean(errors < 2.0)),
        mean_delta_e00=float(np.mean(errors)),
        p95_delta_e00=float(np.percentile(errors, 95)),
        n_seeds=_seed_count(out_of_fold),
    )


def swatch_table(out_of_fold: pd.DataFrame) -> pd.DataFrame:
    """One row per measurement (film): measured and predicted swatch, ΔE00 and its band, worst first.

    With several cross-validation seeds, the predicted colour is the mean of the seeds'
    CIELAB and the ΔE00 the mean of theirs, as in :func:`recipe_errors`: a recipe's
    error is the mean of its tiles, so the histogram never shows an error beyond the worst tile.
    """
    headline = "head" if np.allclose(out_of_fold["delta_e00"], out_of_fold["delta_e00_head"]) and not np.allclose(
        out_of_fold["delta_e00"], out_of_fold["delta_e00_spectral"]
    ) else "spectral"
    measured_columns = ["L_measured", "a_measured", "b_measured"]
    predicted_columns = [f"L_{headline}", f"a_{headline}", f"b_{headline}"]
    films = _mean_over_seeds(out_of_fold, [*measured_columns, *predicted_columns, "delta_e00"])
    measured = films[measured_columns].to_numpy(dtype=float)
    predicted = films[predicted_columns].to_numpy(dtype=float)
    table = pd.DataFrame(
        {
            SAMPLE_ID_COLUMN: films[SAMPLE_ID_COLUMN].astype(str),
            RECIPE_ID_COLUMN: films[RECIPE_ID_COLUMN].astype(str),
            "measured_hex": colorimetry.sRGB_to_hex(colorimetry.Lab_to_sRGB(measured)[0]),
            "predicted_hex": colorimetry.sRGB_to_hex(colorimetry.Lab_to_sRGB(predicted)[0]),
            "delta_e00": films["delta_e00"].to_numpy(dtype=float),
        }
    )
    table["band"] = tolerance_band(table["delta_e00"])
    return table.sort_values("delta_e00", ascending=False, kind="mergesort").reset_index(drop=True)


def _plain_date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%d %B %Y, %H:%M UTC")
    except ValueError:
        return iso


def champion_facts(card: registry.ModelCard, summary: AccuracySummary | None = None) -> list[tuple[str, str]]:
    """The card in plain words: (label, value) pairs.

    With a per-recipe ``summary`` (:func:`summarise_accuracy` of the out-of-fold table) the
    mean and 95th percentile are its, so they count what the headline and the histogram
    count; without one they are the card's, over measurements.
    """
    dataset = card.dataset
    colorants = ", ".join(dataset.get("colorants", [])) or "unknown"
    if summary is not None and summary.per_recipe:
        errors = [
            ("Mean colour error per recipe (never seen)", f"{summary.mean_delta_e00:.2f} ΔE00"),
            ("95 % of recipes below", f"{summary.p95_delta_e00:.2f} ΔE00"),
        ]
    else:
        errors = [
            ("Mean colour error (never-seen recipes)", f"{card.metrics.get('delta_e00_mean_headline', float('nan')):.2f} ΔE00"),
            ("95 % of measurements below", f"{card.metrics.get('delta_e00_p95_headline', float('nan')):.2f} ΔE00"),
        ]
    return [
        ("Version", card.version),
        ("Trained", _plain_date(card.created_at)),
        ("Data", f"“{data_name(dataset)}”: {dataset.get('n_recipes', '?')} recipes, {dataset.get('n_samples', '?')} measurements"),
        ("Colorants", colorants),
        *errors,
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
    if "fluorescence_mae_glowing" in metrics:  # cards saved before it have only the figure over every reading
        value += (
            f"; {metrics['fluorescence_mae_glowing']:.0f} ct/s on the {int(metrics['fluorescence_n_glowing'])} that glow "
            "(the others read 0)"
        )
    return [("Fluorescence error (never-seen recipes)", value)]


def fluorescence_by_recipe(out_of_fold: pd.DataFrame | None) -> pd.DataFrame | None:
    """Out-of-fold fluorescence per recipe (ct/s), worst first, with unit-labelled columns; None without a head.

    Counted as :func:`recipe_errors` counts: ``films with a reading`` is the number of
    films (not films × CV seeds); each film's measured and predicted intensity and its
    absolute error are first averaged over the seeds, then over the recipe's films.
    """
    if out_of_fold is None or FLUORESCENCE_PREDICTED not in out_of_fold.columns:
        return None
    scored = out_of_fold.dropna(subset=[FLUORESCENCE_MEASURED, FLUORESCENCE_PREDICTED]).copy()
    if scored.empty:
        return None
    scored["error (ct/s)"] = (scored[FLUORESCENCE_MEASURED] - scored[FLUORESCENCE_PREDICTED]).abs()
    films = _mean_over_seeds(scored, [FLUORESCENCE_MEASURED, FLUORESCENCE_PREDICTED, "error (ct/s)"])
    table = films.groupby(RECIPE_ID_COLUMN, sort=False).agg(**{
        "films with a reading": (SAMPLE_ID_COLUMN, "size"),
        "measured (ct/s)": (FLUORESCENCE_MEASURED, "mean"),
        "predicted (ct/s)": (FLUORESCENCE_PREDICTED, "mean"),
        "error (ct/s)": ("error (ct/s)", "mean"),
    })
    table = table.sort_values("error (ct/s)", ascending=False, kind="mergesort").reset_index().rename(columns={RECIPE_ID_COLUMN: "recipe"})
    return table.round({"measured (ct/s)": 0, "predicted (ct/s)": 0, "error (ct/s)": 0})


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
    models = ModelRegistry(models_dir)
    history = [entry for entry in models.promotion_history() if entry.get("version") == card.version]
    previous_version = history[-1].get("previous") if history else None
    if not previous_version:
        return "This is the first champion: there is no earlier model to compare with."
    try:
        previous = models.read_card(previous_version)
    except registry.IntegrityError:
        return f"It replaced model {previous_version}, whose card can no longer be read."
    reason = history[-1].get("override_reason")
    because = f" It was promoted with this reason: “{reason}”." if reason else ""
    named = f"the previous champion ({previous_version}, trained {_plain_date(previous.created_at)})"
    why = promotion.why_not_comparable(previous, card)
    if why:
        return f"It replaced {named}, {why}; the two predict different colorants, so their errors are not compared.{because}"
    same_data = card.dataset.get("fingerprint") and card.dataset.get("fingerprint") == previous.dataset.get("fingerprint")
    # The mean, as the sidebar and the same-folds comparison quote it (the headline's median counts recipes).
    now, before = card.metrics.get("delta_e00_mean_headline"), previous.metrics.get("delta_e00_mean_headline")
    if same_data and card.notes.get("evaluation") == previous.notes.get("evaluation") and now is not None and before is not None:
        return f"Compared with {named}, on the same data and folds it has {_change(now, before, 'mean colour error')}.{because}"
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
