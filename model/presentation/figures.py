"""Every Plotly figure Huecast draws, for the dashboard's pages and the report.

Each function takes tables or arrays computed elsewhere (:mod:`model.registry`, :mod:`model.jobs`,
:mod:`model.serving`) and returns a ``plotly.graph_objects.Figure``; none computes a
statistic. Every axis names its quantity and unit: wavelength in nm, reflectance factor
(0–1, 1 = a perfect white; fluorescent films exceed it), ΔE00 in CIEDE2000 units, L*
0–100, a* and b* in CIELAB units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, WAVELENGTHS_NM
from model.core.tolerance import TOLERANCE_COLOURS

__all__ = [
    "LINE_COLOURS",
    "LINE_COLOUR_NAMES",
    "WAVELENGTH_TITLE",
    "REFLECTANCE_TITLE",
    "SHORT_REFLECTANCE_TITLE",
    "spectra_figure",
    "predicted_spectrum_figure",
    "pinned_spectra_figure",
    "formulation_spectrum_figure",
    "measured_spectra_figure",
    "challenger_per_recipe_figure",
    "error_histogram",
    "score_against_size_figure",
    "parity_figure",
    "recipe_errors_figure",
    "experiment_plan_figure",
    "log_ticks",
]

#: Distinct on white, one per compared curve; :data:`LINE_COLOUR_NAMES` names them in captions.
LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
LINE_COLOUR_NAMES = ("blue", "red", "green", "purple")
WAVELENGTH_TITLE = "Wavelength (nm)"
REFLECTANCE_TITLE = "Reflectance factor (1 = perfect white; above 1 for fluorescent films)"
# For charts too low for the long title; fluorescent films re-emit light and can exceed 1.
SHORT_REFLECTANCE_TITLE = "Reflectance factor (0–1, >1 if fluorescent)"
_WINNER_COLOURS = {"challenger": "#2a9d8f", "champion": "#e76f51", "tie": "#adb5bd"}
_REFERENCE_SYMBOLS = ("diamond", "x", "square", "cross")


def spectra_figure(traces: Sequence[dict], *, height: int, y_title: str = REFLECTANCE_TITLE, **layout) -> go.Figure:
    """Reflectance spectra on the 31-band grid (400–700 nm, 10 nm steps).

    Parameters
    ----------
    traces : sequence of dict
        One per curve: ``y`` (31 reflectance factors, 0–1 and above for fluorescent
        films) and Plotly scatter properties such as ``name`` and ``line``.
    height : int, in CSS pixels.
    y_title : str, the reflectance axis's title.
    **layout
        Plotly layout properties that replace the defaults (``margin``, ``legend``,
        ``title``, ``showlegend``…).

    Returns
    -------
    plotly.graph_objects.Figure
        The y axis starts at 0 and reaches at least 1.05, further when a curve does.
    """
    # Built from a dict: Plotly's per-property setters cost tens of ms on every rerun.
    highest = max((float(np.max(trace["y"])) for trace in traces), default=1.0)
    defaults = {
        "xaxis": {"title": {"text": WAVELENGTH_TITLE}},
        "yaxis": {"title": {"text": y_title}, "range": [0, max(1.05, 1.05 * highest)]},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0},
    }
    data = [{"type": "scatter", "mode": "lines", "x": WAVELENGTHS_NM, **trace} for trace in traces]
    return go.Figure({"data": data, "layout": {**defaults, **layout}})


def predicted_spectrum_figure(reflectance, nearest: pd.DataFrame | None = None, *, height: int = 380) -> go.Figure:
    """One predicted spectrum (thick, dark) and the nearest measured samples (dotted).

    Parameters
    ----------
    reflectance : array_like, shape (31,), reflectance factor.
    nearest : DataFrame, optional
        From :meth:`model.serving.explore.TrainingSamples.nearest`: ``sample_id``,
        ``thickness_um`` and ``R400 … R700``; at most :data:`LINE_COLOURS` rows are drawn.
    height : int, in CSS pixels.
    """
    # Line colours tell curves apart; they are not the film's colour, which a pale film
    # would make vanish on the white chart. The swatches show the colour.
    traces = [{"y": reflectance, "name": "Predicted", "line": {"color": "#222222", "width": 4}}]
    if nearest is not None:
        traces += [
            {"y": measured, "name": f"Measured {sample_id} ({thickness_um:g} µm)", "line": {"color": colour, "dash": "dot", "width": 2}}
            for sample_id, thickness_um, measured, colour in zip(
                nearest[SAMPLE_ID_COLUMN], nearest[THICKNESS_COLUMN], nearest[BAND_COLUMNS].to_numpy(dtype=float), LINE_COLOURS
            )
        ]
    return spectra_figure(traces, height=height)


def pinned_spectra_figure(reflectances, *, height: int = 320) -> go.Figure:
    """Pinned recipes' predicted spectra, named ``#1``, ``#2``… in :data:`LINE_COLOURS` order.

    ``reflectances`` has shape (n, 31) with n at most ``len(LINE_COLOURS)``; reflectance factor.
    """
    traces = [
        {"y": reflectance, "name": f"#{index + 1}", "line": {"color": LINE_COLOURS[index], "width": 3}}
        for index, reflectance in enumerate(reflectances)
    ]
    return spectra_figure(traces, height=height)


def formulation_spectrum_figure(candidate_reflectance, candidate_hex: str, target_reflectance=None) -> go.Figure:
    """A proposed recipe's predicted spectrum in its own colour, over the target's when there is one.

    Parameters
    ----------
    candidate_reflectance : array_like, shape (31,), reflectance factor.
    candidate_hex : str, the candidate's display sRGB; white is drawn grey to stay visible.
    target_reflectance : array_like, shape (31,), optional (a colour target has no spectrum).
    """
    traces = []
    if target_reflectance is not None:
        traces.append({"y": target_reflectance, "name": "target", "line": {"color": "#222", "dash": "dash"}})
    traces.append({"y": candidate_reflectance, "name": "predicted", "line": {"color": candidate_hex if candidate_hex != "#ffffff" else "#888"}})
    return spectra_figure(traces, height=230, y_title=SHORT_REFLECTANCE_TITLE, margin={"l": 50, "r": 10, "t": 10, "b": 40}, legend={"orientation": "h", "y": 1.15})


def measured_spectra_figure(table: pd.DataFrame, *, title: str = "Spectra of the new measurements", max_legend: int = 20) -> go.Figure:
    """Measured spectra, one curve per row of ``table`` (``sample_id`` and ``R400 … R700``).

    The legend is shown only for at most ``max_legend`` curves, where it can still be read.
    """
    traces = [{"y": row, "name": str(sample_id)} for sample_id, row in zip(table[SAMPLE_ID_COLUMN], table[BAND_COLUMNS].to_numpy(dtype=float))]
    return spectra_figure(
        traces, height=380, title={"text": title}, showlegend=len(table) <= max_legend,
        legend={"title": {"text": SAMPLE_ID_COLUMN}}, margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )


def challenger_per_recipe_figure(per_recipe: pd.DataFrame) -> go.Figure:
    """Bars of champion − challenger mean ΔE00 per recipe, coloured by the winner.

    ``per_recipe`` is :attr:`model.jobs.retrain.Comparison.per_recipe` (``recipe_id``,
    ``difference`` in ΔE00, ``winner``: challenger, champion or tie).
    """
    figure = px.bar(
        per_recipe,
        x=RECIPE_ID_COLUMN,
        y="difference",
        color="winner",
        color_discrete_map=_WINNER_COLOURS,
    )
    # The title sits above the plot with its own margin and the legend below the axis, so
    # neither runs into the axis titles at any width.
    figure.update_layout(
        title={"text": "Where each wins, per recipe (above 0: the challenger is better)", "x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        xaxis_title="Recipe",
        yaxis_title="ΔE00 champion − challenger<br>(CIEDE2000)",
        height=440,
        margin={"l": 70, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "x": 0, "y": -0.25, "yanchor": "top", "title": {"text": "better"}},
    )
    return figure


def error_histogram(recipe_errors: pd.DataFrame) -> go.Figure:
    """Histogram of each recipe's out-of-fold ΔE00, with the 1.0 and 2.0 tolerance lines.

    ``recipe_errors`` is :func:`model.registry.review.recipe_errors` (``delta_e00``: one
    row per recipe, its error averaged over its films and the CV seeds), so the bars count
    recipes, as the Overview's headline does. The two lines' labels sit on opposite sides
    of their lines (ΔE00 1 to the left, 2 to the right), so they never overlap, however
    narrow the chart.
    """
    errors = recipe_errors["delta_e00"].to_numpy(dtype=float)
    figure = go.Figure(go.Histogram(x=errors, xbins={"start": 0, "size": 0.25}, marker_color="#4a6fa5", name="recipes"))
    for (bound, _, colour), position in zip(TOLERANCE_COLOURS[:2], ("top left", "top right")):
        figure.add_vline(x=bound, line_dash="dash", line_color=colour, annotation_text=f"ΔE00 {bound:g}", annotation_position=position)
    figure.update_layout(
        # Short titles: at 800 px the chart is under 300 px wide, and Plotly never wraps a title.
        title="Error per unseen recipe",
        xaxis_title="ΔE00 (CIEDE2000 units)",
        yaxis_title="recipes (count)",
        # Both lines stay in view even when every recipe is under 1.
        xaxis={"range": [0, max(2.5, 0.25 * np.ceil(errors.max(initial=0) / 0.25 + 1))]},
        bargap=0.05,
        height=340,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        showlegend=False,
    )
    return figure


def score_against_size_figure(trials: pd.DataFrame, references: pd.DataFrame) -> go.Figure:
    """Search trials' CV mean ΔE00 against their trainable parameters, one colour per solver (networks) or members (hybrids).

    Parameters
    ----------
    trials, references : DataFrame
        :attr:`model.jobs.search.SearchResult.trials` and ``.references``: ``candidate``,
        ``layers``, ``n_parameters``, ``cv_delta_e00_mean_headline``, and ``solver`` (network
        trials) or ``n_ensemble`` (hybrid trials, which have no solver). Each reference row is
        one large marker, named by its candidate.
    """
    figure = go.Figure()
    by_solver = "solver" in trials and trials["solver"].notna().any()
    groups = trials.groupby("solver") if by_solver else trials.groupby(trials["n_ensemble"].astype(float).astype(int))
    for value, group in groups:
        figure.add_scatter(
            x=group["n_parameters"], y=group["cv_delta_e00_mean_headline"], mode="markers",
            name=f"trials ({value})" if by_solver else f"trials ({value} member{'s' if value > 1 else ''})",
            text=group["candidate"] + " · " + group["layers"].astype(str), hovertemplate="%{text}<br>%{x} parameters<br>CV ΔE00 %{y:.2f}<extra></extra>",
        )
    for (_, row), symbol in zip(references.iterrows(), _REFERENCE_SYMBOLS):
        figure.add_scatter(
            x=[row["n_parameters"]], y=[row["cv_delta_e00_mean_headline"]], mode="markers", name=row["candidate"], marker={"symbol": symbol, "size": 12}
        )
    figure.update_layout(height=380, margin={"t": 20})
    x_values = pd.concat([trials["n_parameters"], references["n_parameters"]]).to_numpy(dtype=float)
    y_values = pd.concat([trials["cv_delta_e00_mean_headline"], references["cv_delta_e00_mean_headline"]]).to_numpy(dtype=float)
    # Explicit ticks: Plotly's own log ticks label 20 as "2" when an axis spans under a decade or two.
    figure.update_xaxes(type="log", title="trainable parameters (count, log scale)", **log_ticks(x_values))
    figure.update_yaxes(type="log", title="CV mean ΔE00 (CIEDE2000, log scale)", **log_ticks(y_values))
    return figure


def log_ticks(values) -> dict:
    """``tickvals`` and ``ticktext`` for a log axis over ``values``: 1, 2, 5 × powers of ten, written in full.

    Returns an empty dict when there is no positive finite value (Plotly's default then).
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return {}
    low, high = np.floor(np.log10(values.min())), np.ceil(np.log10(values.max()))
    ticks = [mantissa * 10.0**power for power in np.arange(low, high + 1) for mantissa in (1, 2, 5)]
    ticks = [tick for tick in ticks if values.min() / 2.5 <= tick <= values.max() * 2.5]
    return {"tickvals": ticks, "ticktext": [f"{tick:,.10g}" for tick in ticks]}


def parity_figure(predictions: pd.DataFrame) -> go.Figure:
    """Predicted against measured L*, a* and b*, one panel each, with the line of equality.

    ``predictions`` has ``sample_id`` and ``{L,a,b}_measured``, ``{L,a,b}_predicted``
    (L* 0–100; a*, b* in CIELAB units), as :meth:`model.jobs.search.SearchResult.predictions`.
    """
    # Each quantity and its unit in the panel's title; the axes say only "measured" and "predicted", and only
    # the first panel names its y axis: at an 800 px window each panel is about 100 px wide, and the long axis
    # titles ("measured a* (CIELAB units)") ran over the neighbouring panels (issue 26).
    parity = make_subplots(
        rows=1, cols=3, subplot_titles=("L* (0–100)", "a* (CIELAB units)", "b* (CIELAB units)"), horizontal_spacing=PARITY_PANEL_GAP,
    )
    for column, axis in enumerate("Lab", start=1):
        measured, predicted = predictions[f"{axis}_measured"], predictions[f"{axis}_predicted"]
        low, high = float(min(measured.min(), predicted.min())), float(max(measured.max(), predicted.max()))
        parity.add_scatter(x=measured, y=predicted, mode="markers", text=predictions[SAMPLE_ID_COLUMN], showlegend=False, row=1, col=column,
                           hovertemplate="%{text}<br>measured %{x:.1f}<br>predicted %{y:.1f}<extra></extra>")
        parity.add_scatter(x=[low, high], y=[low, high], mode="lines", line={"dash": "dot", "color": "grey"}, showlegend=False, row=1, col=column)
        parity.update_xaxes(title="measured", nticks=4, row=1, col=column)
        parity.update_yaxes(title="predicted" if column == 1 else None, nticks=5, row=1, col=column)
    parity.update_layout(height=340, margin={"t": 40, "l": 60, "r": 10, "b": 50})
    return parity


#: Gap between the parity panels, as a fraction of the plotting width: room for the next panel's tick labels
#: (about 45 px of a 450 px chart, the main column at an 800 px window with the sidebar open).
PARITY_PANEL_GAP = 0.12


def recipe_errors_figure(per_recipe: pd.DataFrame) -> go.Figure:
    """Mean ΔE00 per test recipe as bars (``recipe_id``, ``delta_e00``), with the ΔE00 1 line."""
    bars = go.Figure(go.Bar(x=per_recipe[RECIPE_ID_COLUMN], y=per_recipe["delta_e00"]))
    bars.add_hline(y=1.0, line_dash="dot", annotation_text="ΔE00 1: barely visible")
    bars.update_layout(height=320, margin={"t": 20})
    bars.update_xaxes(title="test recipe")
    bars.update_yaxes(title="mean ΔE00 (CIEDE2000)")
    return bars


#: The Plan chart's plot area as laid out at 800 px (the narrowest supported width), in CSS px:
#: labels placed apart at this width stay apart at any wider one (points only move further apart).
_PLAN_PLOT_PX = (300, 320)
#: A label's box ("PLAN12" in 12 px type, with a margin) and a suggestion marker's radius, in CSS px.
_PLAN_LABEL_PX = (52, 18)
_PLAN_MARKER_PX = 10


def _padded_range(values: np.ndarray, fraction: float = 0.12) -> list[float]:
    low, high = float(np.min(values)), float(np.max(values))
    pad = max(fraction * (high - low), 2.0)
    return [low - pad, high + pad]


def _label_offsets(x_px: np.ndarray, y_px: np.ndarray) -> list[int]:
    """A vertical offset (px, negative = above) for each point's label, so no label overlaps another label or marker.

    Greedy, in the order given: each label takes the first offset, nearest first, whose box
    clears the labels already placed and every marker. The boxes are centred on their
    points horizontally, so two labels can only collide where their points are closer than
    a label's width; the vertical offsets keep those apart.
    """
    width, height = _PLAN_LABEL_PX
    placed: list[tuple[float, float]] = []
    offsets = []
    candidates = [sign * step for step in range(20, 200, 18) for sign in (-1, 1)]
    for x, y in zip(x_px, y_px):
        for offset in candidates:
            centre = y + offset
            clear_of_labels = all(abs(x - other_x) >= width or abs(centre - other_y) >= height for other_x, other_y in placed)
            clear_of_markers = all(
                abs(x - marker_x) >= width / 2 + _PLAN_MARKER_PX or abs(centre - marker_y) >= height / 2 + _PLAN_MARKER_PX
                for marker_x, marker_y in zip(x_px, y_px)
            )
            if clear_of_labels and clear_of_markers:
                break
        placed.append((x, centre))
        offsets.append(offset)
    return offsets


def experiment_plan_figure(plan) -> go.Figure:
    """A plan's suggested films on the a*–b* plane (marker size: today's uncertainty) over the measured films (grey).

    ``plan`` is a :class:`model.formulation.ExperimentPlan`. Each suggestion is named
    (``PLAN1``…) by a label on a short line, placed above or below its marker so that no
    two labels overlap, however close the suggestions lie (see :func:`_label_offsets`).
    """
    figure = go.Figure()
    figure.add_scatter(
        x=plan.measured_Lab[:, 1], y=plan.measured_Lab[:, 2], mode="markers", name="measured films",
        marker={"color": "#bbbbbb", "size": 7}, hovertemplate="a* %{x:.1f}, b* %{y:.1f}<extra>measured</extra>",
    )
    suggestions = plan.suggestions
    Lab = np.array([s.Lab for s in suggestions]).reshape(-1, 3)
    uncertainty = np.array([s.uncertainty for s in suggestions])
    figure.add_scatter(
        x=Lab[:, 1], y=Lab[:, 2], mode="markers", name="suggested (size: uncertainty)", text=[s.recipe_id for s in suggestions],
        customdata=uncertainty, hovertemplate="%{text}: a* %{x:.1f}, b* %{y:.1f}, ±%{customdata:.1f} ΔE00<extra></extra>",
        marker={"color": [s.hex for s in suggestions], "size": 12 + 6 * np.sqrt(uncertainty / max(uncertainty.max(initial=0), 1e-9)),
                "line": {"color": "#222222", "width": 1.5}},
    )
    # Fixed ranges, so a point's place on screen (and so its label's) is known when the labels are laid out.
    x_range = _padded_range(np.concatenate([plan.measured_Lab[:, 1], Lab[:, 1]]))
    y_range = _padded_range(np.concatenate([plan.measured_Lab[:, 2], Lab[:, 2]]))
    width_px, height_px = _PLAN_PLOT_PX
    x_px = (Lab[:, 1] - x_range[0]) / (x_range[1] - x_range[0]) * width_px
    y_px = (y_range[1] - Lab[:, 2]) / (y_range[1] - y_range[0]) * height_px  # screen y grows downwards
    for suggestion, a_star, b_star, offset in zip(suggestions, Lab[:, 1], Lab[:, 2], _label_offsets(x_px, y_px)):
        figure.add_annotation(
            x=a_star, y=b_star, text=suggestion.recipe_id, ax=0, ay=offset, showarrow=True, arrowhead=0, arrowwidth=1,
            arrowcolor="#555555", font={"size": 12}, bgcolor="rgba(255,255,255,0.85)",
        )
    figure.update_layout(
        height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.08},
        xaxis={"title": {"text": "a* (CIELAB units, green − / red +)"}, "range": x_range},
        yaxis={"title": {"text": "b* (CIELAB units, blue − / yellow +)"}, "range": y_range},
    )
    return figure
