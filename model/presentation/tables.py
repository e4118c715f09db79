"""Tables for display: result tables with the headers a reader understands.

The numbers are not changed, only chosen and named; units are in the headers (ΔE00 in
CIEDE2000 units, spectral errors in reflectance factor 0–1, times in seconds).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["PLAN_COLUMNS", "experiment_plan_table", "MODEL_HISTORY_COLUMNS", "model_history_table", "comparison_summary_table", "LAB_QUANTITY_WORDS", "PATH_NAMES", "REPORTED_MARK", "lab_paths_by_quantity", "lab_paths_caption"]

#: The CIELAB quantities of :func:`model.serving.explore.lab_paths_table`, in words with their scale (for a caption).
LAB_QUANTITY_WORDS = {
    "L*": "lightness (0–100, above 100 for a fluorescent film)",
    "a*": "green (−) to red (+)",
    "b*": "blue (−) to yellow (+)",
    "C*": "chroma",
    "h°": "hue angle (degrees)",
}
#: Short names of the two prediction paths, so both columns fit beside the quantities at 800 px.
PATH_NAMES = {"From the spectrum": "spectrum", "From the CIELAB head": "Lab head"}
#: Marks the column of the path the model reports.
REPORTED_MARK = "✓"


def lab_paths_by_quantity(paths: pd.DataFrame) -> pd.DataFrame:
    """The two prediction paths' CIELAB as a reader scans it: a row per quantity, a column per path.

    Five short rows and two number columns fit any width (a row per path put b*, C* and h°
    off screen at 800 px); the path the model reports is marked :data:`REPORTED_MARK`, and
    :func:`lab_paths_caption` says what each quantity and the mark mean.

    Parameters
    ----------
    paths : DataFrame
        :func:`model.serving.explore.lab_paths_table`: a row per path, columns ``L*``,
        ``a*``, ``b*``, ``C*``, ``h°`` and ``headline`` (True for the reported path).

    Returns
    -------
    DataFrame, index ``L*`` … ``h°``; a column per path (:data:`PATH_NAMES`), the reported
    one named ``"<path> ✓"``. The numbers are not changed.
    """
    by_quantity = paths[list(LAB_QUANTITY_WORDS)].T
    names = [PATH_NAMES.get(str(path), str(path)) for path in paths.index]
    by_quantity.columns = [f"{name} {REPORTED_MARK}" if reported else name for name, reported in zip(names, paths["headline"])]
    by_quantity.index.name = "CIELAB"
    return by_quantity.astype(float)


def lab_paths_caption() -> str:
    """What the rows and the mark of :func:`lab_paths_by_quantity` mean, in one line."""
    quantities = "; ".join(f"{symbol} {words}" for symbol, words in LAB_QUANTITY_WORDS.items())
    return (f"{quantities}. Spectrum: the CIELAB of the predicted spectrum; Lab head: the network that predicts CIELAB directly. "
            f"{REPORTED_MARK} marks the path the model reports (chosen on validation). D65, 10° observer.")


#: The Plan table's columns from :meth:`model.formulation.ExperimentPlan.to_frame`, in the
#: order a chemist reads them (which recipe, its colour, why, how unsure, how to name the
#: readings), named in words; the colorants (wt %) follow, then the details.
PLAN_COLUMNS = {
    "recipe_id": "recipe",
    "swatch": "colour",
    "why": "why this recipe",
    "uncertainty (ΔE00)": "uncertainty today (ΔE00)",
    "measure as": "name the readings",
}
#: After the colorants: the predicted film and how the recipe relates to what was measured.
PLAN_DETAIL_COLUMNS = {
    "predicted film (µm)": "predicted film (µm)",
    "L*": "L*",
    "a*": "a*",
    "b*": "b*",
    "nearest measured recipe": "nearest measured recipe",
    "distance to it (wt %)": "distance to it (wt %)",
    "physics vs model (ΔE00)": "physics against model (ΔE00)",
    "hex": "colour code",
}


def experiment_plan_table(plan_frame: pd.DataFrame, colorants) -> pd.DataFrame:
    """A plan's suggestions as the Plan page shows them: what a reader needs first, in words.

    Parameters
    ----------
    plan_frame : DataFrame
        :meth:`model.formulation.ExperimentPlan.to_frame`, with a ``swatch`` image column
        added (:func:`model.presentation.swatches.with_swatch_column`).
    colorants : sequence of str
        The model's colorants; their ``<name> (wt %)`` columns follow :data:`PLAN_COLUMNS`.

    Returns
    -------
    DataFrame, a new table: :data:`PLAN_COLUMNS`, the colorants, then :data:`PLAN_DETAIL_COLUMNS`.
    """
    recipe = [f"{name} (wt %)" for name in colorants]
    columns = {**PLAN_COLUMNS, **{column: column for column in recipe}, **PLAN_DETAIL_COLUMNS}
    return plan_frame[[column for column in columns if column in plan_frame]].rename(columns=columns)


#: The model history's columns from :func:`model.jobs.retrain.model_history`, in the order
#: an admin reads them (which version, is it serving, on what data, how good, when), in words.
MODEL_HISTORY_COLUMNS = {
    "version": "version",
    "status": "status",
    "trained_on": "trained on",
    "delta_e00_mean": "mean error per film (ΔE00)",
    "created_at": "trained",
    "comparable": "comparable with the champion",
    "delta_e00_p95": "95 % of films below (ΔE00)",
    "n_samples": "measurements",
    "n_recipes": "recipes",
    "last_promoted_at": "last promoted",
    "last_promoted_by": "promoted by",
    "spectral_mae": "spectral error (reflectance 0–1)",
    "store_version": "store version",
}


def _plain_time(column: pd.Series) -> pd.Series:
    moments = pd.to_datetime(column.replace("", None), utc=True, errors="coerce", format="ISO8601")
    return moments.dt.strftime("%d %b %Y, %H:%M UTC").fillna("")


def model_history_table(history: pd.DataFrame) -> pd.DataFrame:
    """The model history as the Retrain page shows it: :data:`MODEL_HISTORY_COLUMNS`, in words.

    Errors are rounded as a colourist reads them (ΔE00 to 2 decimals, spectral error on
    reflectance 0–1 to 4) and times are written out (``07 Dec 2026, 04:46 UTC``).

    Parameters
    ----------
    history : DataFrame, :func:`model.jobs.retrain.model_history`.

    Returns
    -------
    DataFrame, a new table; the input is not changed.
    """
    shown = history[list(MODEL_HISTORY_COLUMNS)].copy()
    shown = shown.round({"delta_e00_mean": 2, "delta_e00_p95": 2, "spectral_mae": 4})
    for column in ("created_at", "last_promoted_at"):
        shown[column] = _plain_time(shown[column].astype(str))
    return shown.rename(columns=MODEL_HISTORY_COLUMNS)


def comparison_summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """A champion-against-challenger summary rounded as a colourist reads it: ΔE00 to 2 decimals, spectral error to 4.

    Parameters
    ----------
    summary : DataFrame
        :attr:`model.registry.comparison.Comparison.summary`: index ``metric`` (mean and p95
        ΔE00, spectral MAE on reflectance 0–1), columns ``champion``, ``challenger``, ``better``.

    Returns
    -------
    DataFrame, a new table; only the two number columns are rounded.
    """
    shown = summary.copy()
    for metric in shown.index:
        scores = shown.loc[metric, ["champion", "challenger"]].astype(float)
        shown.loc[metric, ["champion", "challenger"]] = scores.round(4 if "spectral" in str(metric) else 2)
    return shown
