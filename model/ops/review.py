"""The stakeholder view: how good the champion's predictions are, in plain words.

Everything the Overview page and the HTML report show is computed here, from the
champion's card and its **out-of-fold** predictions: the leave-recipe-out cross-validation
that training runs, where each recipe is predicted by a model that never saw it.
Training saves that per-sample table beside the card (:func:`save_out_of_fold`); for
older models it can be recomputed from the training data (:func:`compute_out_of_fold`).

Scales: ΔE00 in CIEDE2000 units (below 1 is hard to see, below 2 is close enough for
most commercial work); L* 0–100; swatches are display sRGB.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from model.core import colorimetry, settings
from model.core.files import atomic_write_text
from model.core.schema import RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, Dataset
from model.evaluation import cross_validate
from model.models.base import model_from_config
from model.ops import registry

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
    "swatch_grid_html",
    "error_histogram",
    "champion_facts",
    "previous_champion_comparison",
    "build_report",
]

#: The per-sample out-of-fold table, saved beside ``card.json`` in a model's folder.
OUT_OF_FOLD_FILE = registry.OUT_OF_FOLD_FILE
DELTA_E00_EXPLANATION = (
    "ΔE00 (CIEDE2000) is the standard measure of how different two colours look: below about 1 most "
    "people cannot see the difference side by side, and below 2 it is close enough for most commercial work."
)
#: Tolerance bands of a colour error: (upper ΔE00 bound, name, display colour).
TOLERANCE_COLOURS = ((1.0, "green", "#2e9d4a"), (2.0, "amber", "#e6a019"), (float("inf"), "red", "#d0342c"))
# The instrument's own repeatability on the real data (two readings of one recipe).
_INSTRUMENT_REPEATABILITY = 0.75


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
    """The headline from the out-of-fold table, or from the card's metrics when there is none."""
    if out_of_fold is None or out_of_fold.empty:
        return AccuracySummary(
            n_recipes=int(card.metrics.get("n_recipes", card.dataset.get("n_recipes", 0))),
            n_measurements=int(card.metrics.get("n_samples", card.dataset.get("n_samples", 0))),
            median_delta_e00=float(card.metrics["delta_e00_median_headline"]),
            share_under_1=None,
            share_under_2=None,
        )
    errors = out_of_fold["delta_e00"].to_numpy(dtype=float)
    return AccuracySummary(
        n_recipes=int(out_of_fold[RECIPE_ID_COLUMN].nunique()),
        n_measurements=int(out_of_fold[SAMPLE_ID_COLUMN].nunique()),
        median_delta_e00=float(np.median(errors)),
        share_under_1=float(np.mean(errors < 1.0)),
        share_under_2=float(np.mean(errors < 2.0)),
    )


def tolerance_band(delta_e00) -> np.ndarray:
    """``"green"`` (< 1), ``"amber"`` (< 2) or ``"red"`` (≥ 2) per ΔE00 value."""
    values = np.atleast_1d(np.asarray(delta_e00, dtype=float))
    names = np.full(values.shape, TOLERANCE_COLOURS[-1][1], dtype=object)
    for bound, name, _ in reversed(TOLERANCE_COLOURS):
        names[values < bound] = name
    return names


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


def swatch_grid_html(table: pd.DataFrame) -> str:
    """A grid of tiles: measured (left) and predicted (right) swatch, ΔE00 on a band-coloured bar."""
    colours = {name: colour for _, name, colour in TOLERANCE_COLOURS}
    tiles = []
    for row in table.itertuples(index=False):
        label = html.escape(str(getattr(row, SAMPLE_ID_COLUMN)))
        tiles.append(
            f'<div class="hc-tile" title="{label}: measured {row.measured_hex}, predicted {row.predicted_hex}">'
            f'<div class="hc-pair"><div style="background:{row.measured_hex}"></div><div style="background:{row.predicted_hex}"></div></div>'
            f'<div class="hc-bar" style="background:{colours[row.band]}">{row.delta_e00:.2f}</div>'
            f'<div class="hc-name">{label}</div></div>'
        )
    style = (
        "<style>.hc-grid{display:flex;flex-wrap:wrap;gap:6px;font-family:sans-serif}"
        ".hc-tile{width:92px;border:1px solid #ccc;border-radius:4px;overflow:hidden;background:#fff}"
        ".hc-pair{display:flex;height:46px}.hc-pair div{flex:1}"
        ".hc-bar{color:#fff;font-size:12px;font-weight:bold;text-align:center;padding:1px 0}"
        ".hc-name{font-size:10px;color:#333;text-align:center;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:1px 2px}"
        "</style>"
    )
    return style + '<div class="hc-grid">' + "".join(tiles) + "</div>"


def error_histogram(out_of_fold: pd.DataFrame) -> go.Figure:
    """Histogram of out-of-fold ΔE00 with the 1.0 and 2.0 tolerance lines."""
    errors = out_of_fold["delta_e00"].to_numpy(dtype=float)
    figure = go.Figure(go.Histogram(x=errors, xbins={"start": 0, "size": 0.25}, marker_color="#4a6fa5", name="measurements"))
    for bound, name, colour in TOLERANCE_COLOURS[:2]:
        figure.add_vline(x=bound, line_dash="dash", line_color=colour, annotation_text=f"ΔE00 {bound:g}")
    figure.update_layout(
        title="Colour error on recipes the model never saw",
        xaxis_title="colour error ΔE00 (CIEDE2000 units)",
        yaxis_title="predictions (count)",
        bargap=0.05,
        height=340,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        showlegend=False,
    )
    return figure


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
        ("Data", f"“{dataset.get('name', 'unknown')}”: {dataset.get('n_recipes', '?')} recipes, {dataset.get('n_samples', '?')} measurements"),
        ("Colorants", colorants),
        ("Mean colour error (never-seen recipes)", f"{card.metrics.get('delta_e00_mean_headline', float('nan')):.2f} ΔE00"),
        ("95 % of errors below", f"{card.metrics.get('delta_e00_p95_headline', float('nan')):.2f} ΔE00"),
        ("How it was tested", str(card.notes.get("evaluation", "leave-recipe-out cross-validation"))),
    ]


def previous_champion_comparison(card: registry.ModelCard, models_dir=None) -> str:
    """One sentence comparing the champion with the one it replaced (from the promotions log)."""
    history = [entry for entry in registry.promotion_history(models_dir) if entry.get("version") == card.version]
    previous_version = history[-1].get("previous") if history else None
    if not previous_version:
        return "This is the first champion: there is no earlier model to compare with."
    try:
        previous = registry.read_card(previous_version, models_dir)
    except registry.IntegrityError:
        return f"It replaced model {previous_version}, whose card can no longer be read."
    now, before = card.metrics.get("delta_e00_median_headline"), previous.metrics.get("delta_e00_median_headline")
    if now is None or before is None:
        return f"It replaced model {previous_version}."
    if np.isclose(now, before, atol=0.005):
        change = "the same median colour error"
    elif now < before:
        change = f"a lower median colour error ({now:.2f} ΔE00, was {before:.2f})"
    else:
        change = f"a higher median colour error ({now:.2f} ΔE00, was {before:.2f})"
    different_data = previous.dataset.get("fingerprint") != card.dataset.get("fingerprint")
    caveat = " Note: the two were tested on different data, so the comparison is indicative." if different_data else ""
    return f"Compared with the previous champion ({previous_version}, trained {_plain_date(previous.created_at)}), it has {change}.{caveat}"


def build_report(card: registry.ModelCard, out_of_fold: pd.DataFrame | None, models_dir=None) -> str:
    """The Overview as one self-contained HTML page (Plotly inlined, works offline).

    Parameters
    ----------
    card : ModelCard, the champion's.
    out_of_fold : DataFrame or None, from :func:`load_out_of_fold` or :func:`compute_out_of_fold`.
    models_dir : path, optional, for the comparison with the previous champion.

    Returns
    -------
    str, a complete HTML document.
    """
    summary = summarise_accuracy(card, out_of_fold)
    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in champion_facts(card))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Huecast accuracy report: model {html.escape(card.version)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}"
        "h1{font-size:26px}.headline{font-size:20px;background:#f3f6fa;border-left:6px solid #4a6fa5;padding:12px 16px}"
        "table.card th{text-align:left;padding:3px 12px 3px 0;color:#555;font-weight:normal}table.card td{padding:3px 0}"
        ".legend span{display:inline-block;padding:1px 8px;color:#fff;border-radius:3px;margin-right:6px}</style></head><body>",
        "<h1>How accurate are Huecast's colour predictions?</h1>",
        f"<p class='headline'>{html.escape(summary.sentence)}</p>",
        f"<p>{html.escape(DELTA_E00_EXPLANATION)} Two readings of the same film on the instrument differ by about "
        f"{_INSTRUMENT_REPEATABILITY} ΔE00, so no model can be expected to do much better than that.</p>",
        "<h2>The model</h2>",
        f"<table class='card'>{facts}</table>",
        f"<p>{html.escape(previous_champion_comparison(card, models_dir))}</p>",
    ]
    if out_of_fold is not None and not out_of_fold.empty:
        legend = "".join(
            f"<span style='background:{colour}'>{name}: {'≥ 2' if bound == float('inf') else f'< {bound:g}'}</span>"
            for bound, name, colour in TOLERANCE_COLOURS
        )
        parts += [
            "<h2>How the errors are spread</h2>",
            error_histogram(out_of_fold).to_html(full_html=False, include_plotlyjs=True),
            "<h2>Predicted next to measured, for every test measurement</h2>",
            "<p>Each tile: the measured colour (left) and the colour predicted by a model that never saw that recipe "
            f"(right), with the ΔE00 between them, worst first.</p><p class='legend'>{legend}</p>",
            swatch_grid_html(swatch_table(out_of_fold)),
        ]
    else:
        parts.append("<p>The per-measurement predictions of this model are not available, so only its summary figures are shown.</p>")
    parts.append(f"<p style='color:#777;font-size:12px'>Generated {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by Huecast.</p></body></html>")
    return "\n".join(parts)
