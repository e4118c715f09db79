"""model.presentation: every figure names its axes with units; swatches and tables are what the pages show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.core.schema import BAND_COLUMNS, WAVELENGTHS_NM
from model.presentation import figures, report, swatches, tables


def _axis_titles(figure) -> list[str]:
    layout = figure.to_plotly_json()["layout"]
    return [layout[key]["title"]["text"] for key in sorted(layout) if key.startswith(("xaxis", "yaxis"))]


def _spectra(n: int, level: float = 0.5) -> np.ndarray:
    return np.full((n, len(BAND_COLUMNS)), level)


def test_spectra_figure_axes_and_a_range_that_grows_for_fluorescent_films():
    figure = figures.spectra_figure([{"y": _spectra(1, 0.4)[0], "name": "flat"}], height=300)
    assert _axis_titles(figure) == [figures.WAVELENGTH_TITLE, figures.REFLECTANCE_TITLE]
    assert list(figure.data[0].x) == list(WAVELENGTHS_NM)
    assert tuple(figure.layout.yaxis.range) == (0, 1.05)
    fluorescent = figures.spectra_figure([{"y": _spectra(1, 1.4)[0], "name": "bright"}], height=300, margin={"t": 0})
    assert fluorescent.layout.yaxis.range[1] == pytest.approx(1.05 * 1.4)
    assert fluorescent.layout.margin.t == 0  # a layout override replaces the default


def test_predicted_spectrum_overlays_the_nearest_samples_dotted():
    nearest = pd.DataFrame(_spectra(3, 0.3), columns=BAND_COLUMNS)
    nearest.insert(0, "sample_id", ["S1", "S2", "S3"])
    nearest.insert(1, "thickness_um", [8.0, 12.0, 8.0])
    figure = figures.predicted_spectrum_figure(_spectra(1)[0], nearest)
    assert [trace.name for trace in figure.data] == ["Predicted", "Measured S1 (8 µm)", "Measured S2 (12 µm)", "Measured S3 (8 µm)"]
    assert [trace.line.dash for trace in figure.data[1:]] == ["dot"] * 3
    assert [trace.line.color for trace in figure.data[1:]] == list(figures.LINE_COLOURS[:3])
    assert [trace.name for trace in figures.predicted_spectrum_figure(_spectra(1)[0]).data] == ["Predicted"]


def test_pinned_spectra_take_the_named_line_colours_in_order():
    figure = figures.pinned_spectra_figure(_spectra(2))
    assert [(trace.name, trace.line.color) for trace in figure.data] == [("#1", figures.LINE_COLOURS[0]), ("#2", figures.LINE_COLOURS[1])]
    assert len(figures.LINE_COLOUR_NAMES) == len(figures.LINE_COLOURS)


def _contrast_with_white(hex_colour: str) -> float:
    """WCAG 2.1 contrast ratio of an sRGB colour (``#rgb`` or ``#rrggbb``) against white, 1–21."""
    digits = hex_colour.lstrip("#")
    digits = "".join(2 * d for d in digits) if len(digits) == 3 else digits
    channels = np.array([int(digits[i:i + 2], 16) for i in (0, 2, 4)]) / 255.0
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    luminance = float(linear @ [0.2126, 0.7152, 0.0722])
    return 1.05 / (luminance + 0.05)


def test_formulation_spectrum_draws_the_target_only_when_it_has_one_and_a_white_candidate_visibly():
    with_target = figures.formulation_spectrum_figure(_spectra(1)[0], "#ffffff", _spectra(1, 0.2)[0])
    assert [trace.name for trace in with_target.data] == ["target", "predicted"]
    target, predicted = with_target.data
    np.testing.assert_array_equal(target.y, _spectra(1, 0.2)[0])
    assert target.line.dash == "dash" and predicted.line.dash in (None, "solid")  # told apart without colour
    # A white candidate on the white page must stay visible: WCAG 1.4.11 asks 3:1 for graphics.
    assert _contrast_with_white(predicted.line.color) >= 3.0, predicted.line.color
    colour_only = figures.formulation_spectrum_figure(_spectra(1)[0], "#3c8c5a")
    assert [trace.name for trace in colour_only.data] == ["predicted"] and colour_only.data[0].line.color == "#3c8c5a"
    assert _axis_titles(colour_only) == [figures.WAVELENGTH_TITLE, figures.SHORT_REFLECTANCE_TITLE]


@pytest.mark.parametrize(("n_rows", "legend"), [(20, True), (21, False)])
def test_measured_spectra_show_a_legend_only_while_it_can_be_read(n_rows, legend):
    table = pd.DataFrame(_spectra(n_rows), columns=BAND_COLUMNS)
    table.insert(0, "sample_id", [f"S{i}" for i in range(n_rows)])
    figure = figures.measured_spectra_figure(table)
    assert len(figure.data) == n_rows and figure.data[0].name == "S0"
    assert figure.layout.showlegend is legend
    assert figure.layout.title.text == "Spectra of the new measurements"


def test_challenger_per_recipe_bars_are_coloured_by_the_winner():
    per_recipe = pd.DataFrame({"recipe_id": ["A", "B", "C"], "difference": [0.4, -0.3, 0.01], "winner": ["challenger", "champion", "tie"]})
    figure = figures.challenger_per_recipe_figure(per_recipe)
    assert {trace.name: trace.marker.color for trace in figure.data} == {"challenger": "#2a9d8f", "champion": "#e76f51", "tie": "#adb5bd"}
    assert "ΔE00" in figure.layout.yaxis.title.text and "CIEDE2000" in figure.layout.yaxis.title.text


def test_error_histogram_marks_the_two_tolerance_lines():
    figure = figures.error_histogram(pd.DataFrame({"delta_e00": [0.2, 0.8, 1.5, 3.0]}))
    assert [shape.x0 for shape in figure.layout.shapes] == [1.0, 2.0]
    assert list(figure.data[0].x) == [0.2, 0.8, 1.5, 3.0]
    assert "CIEDE2000" in figure.layout.xaxis.title.text and "count" in figure.layout.yaxis.title.text


def test_error_histogram_counts_recipes_and_keeps_the_two_line_labels_apart():
    figure = figures.error_histogram(pd.DataFrame({"delta_e00": [0.2, 0.4]}))
    assert figure.layout.yaxis.title.text == "recipes (count)"
    # "ΔE00 1" ends at its line and "ΔE00 2" starts at its own: they cannot overlap at any width.
    labels = {annotation.text: (annotation.x, annotation.xanchor) for annotation in figure.layout.annotations}
    assert labels == {"ΔE00 1": (1.0, "right"), "ΔE00 2": (2.0, "left")}
    assert figure.layout.xaxis.range[1] >= 2.5  # both lines in view with every recipe under 1


def test_search_figures_group_trials_by_solver_and_mark_the_references():
    trials = pd.DataFrame({
        "candidate": ["trial-001", "trial-002", "trial-003"], "solver": ["adam", "lbfgs", "adam"], "layers": ["16", "32-32", "8"],
        "n_parameters": [100, 2000, 50], "cv_delta_e00_mean_headline": [1.2, 0.9, 2.0],
    })
    references = trials.head(2).assign(candidate=["baseline", "kubelka-munk"])
    figure = figures.score_against_size_figure(trials, references)
    assert [trace.name for trace in figure.data] == ["trials (adam)", "trials (lbfgs)", "baseline", "kubelka-munk"]
    assert list(figure.data[0].x) == [100, 50]
    assert [figure.data[2].marker.symbol, figure.data[3].marker.symbol] == ["diamond", "x"]
    assert figure.layout.xaxis.type == "log" and "count" in figure.layout.xaxis.title.text and "CIEDE2000" in figure.layout.yaxis.title.text


def test_parity_figure_has_one_panel_per_CIELAB_axis_with_units():
    predictions = pd.DataFrame({"sample_id": ["a", "b"], **{f"{axis}_{kind}": [1.0, 2.0] for axis in "Lab" for kind in ("measured", "predicted")}})
    figure = figures.parity_figure(predictions)
    assert len(figure.data) == 6  # points and the line of equality, per panel
    # Each panel's title names its quantity and unit; the axes say which is measured and which predicted.
    assert [note.text for note in figure.layout.annotations] == ["L* (0–100)", "a* (CIELAB units)", "b* (CIELAB units)"]
    assert [figure.layout[f"xaxis{n}"].title.text for n in ("", "2", "3")] == ["measured"] * 3
    assert figure.layout.yaxis.title.text == "predicted"


def test_recipe_errors_figure_has_the_visibility_line():
    figure = figures.recipe_errors_figure(pd.DataFrame({"recipe_id": ["A", "B"], "delta_e00": [1.5, 0.5]}))
    assert list(figure.data[0].x) == ["A", "B"] and figure.layout.shapes[0].y0 == 1.0
    assert figure.layout.yaxis.title.text == "mean ΔE00 (CIEDE2000)"


def test_swatch_html_escapes_its_label_and_sizes_the_block():
    html = swatches.swatch_html("#112233", height_px=90, label="<b>PG</b> 1%")
    assert "background:#112233;height:90px" in html and "&lt;b&gt;PG&lt;/b&gt; 1%" in html and "<b>" not in html
    assert "font-size" not in swatches.swatch_html("#112233")  # no label, no caption


def test_swatch_pair_and_data_uri():
    pair = swatches.swatch_pair_html("#aa0000", "#00bb00")
    assert pair.index("#aa0000") < pair.index("#00bb00") and "target" in pair and "predicted" in pair
    uri = swatches.swatch_data_uri("#0a0b0c")
    assert uri.startswith("data:image/svg+xml;utf8,") and "fill='%230a0b0c'" in uri


def test_with_swatch_column_puts_an_image_first_and_leaves_the_input_alone():
    table = pd.DataFrame({"name": ["a", "b", "c"], "hex": ["#000000", "#ffffff", "#ff0000"]})
    shown = swatches.with_swatch_column(table, 2)
    assert list(shown.columns) == ["swatch", "name", "hex"] and len(shown) == 2
    assert shown["swatch"].iloc[1] == swatches.swatch_data_uri("#ffffff")
    assert list(table.columns) == ["name", "hex"]  # a cached table must not change
    assert len(swatches.with_swatch_column(table)) == 3


def test_tolerance_legend_names_every_band():
    legend = report.tolerance_legend_html()
    assert "green: &lt; 1" not in legend  # written as text, not escaped twice
    assert "green: < 1" in legend and "amber: < 2" in legend and "red: ≥ 2" in legend


def test_log_axes_label_every_tick_in_full():
    ticks = figures.log_ticks([0.9, 1.4, 21.0])
    assert ticks["ticktext"] == ["0.5", "1", "2", "5", "10", "20", "50"]  # 20 reads "20", never "2"
    assert ticks["tickvals"] == [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    assert figures.log_ticks([200, 40_000])["ticktext"][-1] == "100,000"
    assert figures.log_ticks([float("nan"), 0.0, -1.0]) == {}
    trials = pd.DataFrame({"candidate": ["trial-001"], "solver": ["adam"], "layers": ["8"], "n_parameters": [120], "cv_delta_e00_mean_headline": [21.0]})
    figure = figures.score_against_size_figure(trials, trials.head(0))
    assert figure.layout.yaxis.ticktext == ("10", "20", "50")


def test_per_recipe_chart_keeps_its_title_clear_of_the_axis_title():
    per_recipe = pd.DataFrame({"recipe_id": ["A"], "difference": [0.4], "winner": ["challenger"]})
    figure = figures.challenger_per_recipe_figure(per_recipe)
    assert figure.layout.margin.t >= 50 and figure.layout.title.yanchor == "top"
    assert figure.layout.legend.y < 0  # below the plot, not over the title


def test_page_css_wraps_columns_and_never_cuts_metrics():
    from model.presentation import layout

    html = layout.page_style_html()
    assert html.startswith("<style>") and html.endswith("</style>")
    assert "flex-wrap:wrap" in html and f"min-width:min(100%,{layout.MIN_COLUMN_REM}rem)" in html
    assert '[data-testid="stMetricValue"]' in html and "text-overflow:clip" in html


def test_model_history_and_comparison_tables_name_order_and_round_for_a_reader():
    history = pd.DataFrame([{
        "version": "v2", "status": "champion", "comparable": "", "created_at": "2026-12-07T04:46:02+00:00", "trained_on": "Synthetic demo",
        "n_samples": 105, "n_recipes": 51, "store_version": "", "delta_e00_mean": 19.831612, "delta_e00_p95": 0.97951,
        "spectral_mae": 0.0107777, "last_promoted_at": "", "last_promoted_by": "",
    }])
    shown = tables.model_history_table(history)
    assert list(shown.columns[:5]) == ["version", "status", "trained on", "mean error per film (ΔE00)", "trained"]
    row = shown.iloc[0]
    assert (row["mean error per film (ΔE00)"], row["spectral error (reflectance 0–1)"]) == (19.83, 0.0108)
    assert (row["trained"], row["last promoted"]) == ("07 Dec 2026, 04:46 UTC", "")
    summary = pd.DataFrame({"champion": [19.83164, 0.0123456], "challenger": [1.234567, 0.0107777], "better": ["challenger", "challenger"]},
                           index=pd.Index(["mean ΔE00", "spectral MAE (reflectance 0–1)"], name="metric"))
    rounded = tables.comparison_summary_table(summary)
    assert rounded.loc["mean ΔE00", "champion"] == 19.83 and rounded.loc["spectral MAE (reflectance 0–1)", "challenger"] == 0.0108
    assert summary.loc["mean ΔE00", "champion"] == 19.83164  # the input is left alone
