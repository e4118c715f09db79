"""The stakeholder report: the Overview page as one self-contained HTML file.

``python -m model report`` and the Overview page's download both write
:func:`build_report`. Plotly's JavaScript is inlined, so the file opens offline and can be
mailed. The numbers come from :mod:`model.registry.review`; this module only lays them out.
"""

from __future__ import annotations

import html
from datetime import datetime

import pandas as pd

from model.presentation.demo_notice import DEMO_ACCURACY_CAVEAT
from model.presentation.figures import error_histogram
from model.presentation.swatches import swatch_grid_html
from model.registry import review
from model.registry.registry import ModelCard
from model.registry.training_data import trained_on_demo

__all__ = ["REPORT_CSS", "build_report", "tolerance_legend_html"]

#: The report's page styles (the swatch grid brings its own).
REPORT_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}"
    "h1{font-size:26px}.headline{font-size:20px;background:#f3f6fa;border-left:6px solid #4a6fa5;padding:12px 16px}"
    "table.card th{text-align:left;padding:3px 12px 3px 0;color:#555;font-weight:normal}table.card td{padding:3px 0}"
    ".legend span{display:inline-block;padding:1px 8px;color:#fff;border-radius:3px;margin-right:6px}"
    # A header sits over its numbers: every cell right-aligned (pandas aligns only the header row), names left.
    "table.numbers{border-collapse:collapse}table.numbers th,table.numbers td{text-align:right;padding:3px 10px}"
    "table.numbers th:first-child,table.numbers td:first-child{text-align:left}"
    "table.numbers thead th{border-bottom:1px solid #999;vertical-align:bottom}"
)


def tolerance_legend_html() -> str:
    """One coloured label per tolerance band (``green: < 1`` …), as ``span`` elements."""
    return "".join(
        f"<span style='background:{colour}'>{name}: {'≥ 2' if bound == float('inf') else f'< {bound:g}'}</span>"
        for bound, name, colour in review.TOLERANCE_COLOURS
    )


def _summary_section(card: ModelCard, out_of_fold: pd.DataFrame | None, models_dir) -> list[str]:
    summary = review.summarise_accuracy(card, out_of_fold)
    caveat = f" {DEMO_ACCURACY_CAVEAT}" if trained_on_demo(card.dataset) else ""
    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in review.champion_facts(card, summary))
    return [
        "<h1>How accurate are Huecast's colour predictions?</h1>",
        f"<p class='headline'>{html.escape(summary.sentence + caveat)}</p>",
        (
            f"<p>{html.escape(review.DELTA_E00_EXPLANATION)} Two readings of the same film on the instrument differ by about "
            f"{review.INSTRUMENT_REPEATABILITY} ΔE00, so no model can be expected to do much better than that.</p>"
        ),
        "<h2>The model</h2>",
        f"<table class='card'>{facts}</table>",
        f"<p>{html.escape(review.previous_champion_comparison(card, models_dir))}</p>",
    ]


def _errors_section(out_of_fold: pd.DataFrame | None) -> list[str]:
    if out_of_fold is None or out_of_fold.empty:
        return ["<p>The per-measurement predictions of this model are not available, so only its summary figures are shown.</p>"]
    recipe_errors = review.recipe_errors(out_of_fold)
    repeats = int(recipe_errors["n_seeds"].iloc[0])
    averaged = f", averaged over the {repeats} repeats of the test" if repeats > 1 else ""
    return [
        "<h2>How the errors are spread</h2>",
        f"<p>Each bar counts recipes ({len(recipe_errors)} in all, as in the sentence above); a recipe's error is the mean over its films{averaged}.</p>",
        error_histogram(recipe_errors).to_html(full_html=False, include_plotlyjs=True),
        "<h2>Predicted next to measured, for every test measurement</h2>",
        (
            "<p>Each tile is one film: the measured colour (left) and the colour predicted by a model that never saw that recipe "
            f"(right), with the ΔE00 between them{averaged}, worst first.</p><p class='legend'>{tolerance_legend_html()}</p>"
        ),
        swatch_grid_html(review.swatch_table(out_of_fold)),
    ]


def _fluorescence_section(out_of_fold: pd.DataFrame | None) -> list[str]:
    table = review.fluorescence_by_recipe(out_of_fold)
    if table is None:
        return []
    return [
        "<h2>Fluorescence, recipe by recipe</h2>",
        (
            "<p>Measured and predicted fluorescence intensity (ct/s) of every recipe with a reading, predicted by a model "
            "that never saw that recipe; worst first.</p>"
        ),
        table.to_html(index=False, float_format=lambda v: f"{v:,.0f}", border=0, classes="numbers", justify="right"),
    ]


def build_report(card: ModelCard, out_of_fold: pd.DataFrame | None, models_dir=None) -> str:
    """The Overview as one self-contained HTML page (Plotly inlined, works offline).

    Parameters
    ----------
    card : ModelCard, the champion's.
    out_of_fold : DataFrame or None
        From :func:`model.registry.review.out_of_fold_table`; without it the report shows the
        card's summary figures only.
    models_dir : path, optional, for the comparison with the previous champion.

    Returns
    -------
    str, a complete HTML document.
    """
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Huecast accuracy report: model {html.escape(card.version)}</title>",
        f"<style>{REPORT_CSS}</style></head><body>",
        *_summary_section(card, out_of_fold, models_dir),
        *_errors_section(out_of_fold),
        *_fluorescence_section(out_of_fold),
        f"<p style='color:#777;font-size:12px'>Generated {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by Huecast.</p></body></html>",
    ]
    return "\n".join(parts)
