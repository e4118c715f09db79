"""Predict: set a recipe, see the film's predicted spectrum and colour at once."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import common
from model import BAND_COLUMNS, THICKNESS_COLUMN, WAVELENGTHS_NM
from model.io.safe_csv import to_csv_bytes
from model.serving import explore

MAX_PINNED = 4
# Distinct on white; one per pinned recipe, named in the swatch captions.
LINE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
LINE_COLOUR_NAMES = ["blue", "red", "green", "purple"]
PINNED_KEY = "predict_pinned"
# Beyond a band of 3 ΔE00 the difference is obvious to anyone; say not to rely on it.
UNTRUSTED_UNCERTAINTY = 3.0

model, card = common.champion()
colorants = list(model.colorants_)
trained = model.training_range_
inputs = [*colorants, THICKNESS_COLUMN]


def _number_key(name: str) -> str:
    return f"predict_{name}"


def _slider_key(name: str) -> str:
    return f"predict_{name}_slider"


def _nice_ceiling(value: float) -> float:
    # Allow going past the trained maximum (the page warns) without a slider so long it is useless.
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return math.ceil(value / magnitude * 2) / 2 * magnitude


def _bounds(name: str) -> tuple[float, float]:
    if name == THICKNESS_COLUMN:
        return max(0.5, float(math.floor(trained.minimum[name] / 2))), float(_nice_ceiling(1.5 * trained.maximum[name]))
    return 0.0, float(min(100.0, _nice_ceiling(1.5 * trained.maximum[name])))


def _default(name: str) -> float:
    # A single pigment at half its trained maximum gives a clear colour on first load.
    if name == THICKNESS_COLUMN:
        return float(round((trained.minimum[name] + trained.maximum[name]) / 2, 2))
    return float(round(trained.maximum[name] / 2, 2)) if name == colorants[0] else float(trained.minimum[name])


def _spectrum_figure(traces: list[dict], height: int) -> go.Figure:
    """Reflectance spectra on the 31-band grid; each trace gives ``y``, ``name`` and ``line``."""
    # Built from a dict: Plotly's per-property setters cost tens of ms on every rerun.
    # Fluorescent colorants reflect more than a white (R > 1), so the axis grows with the data.
    highest = max(float(np.max(trace["y"])) for trace in traces)
    return go.Figure(
        {
            "data": [{"type": "scatter", "mode": "lines", "x": WAVELENGTHS_NM, **trace} for trace in traces],
            "layout": {
                "xaxis": {"title": {"text": "Wavelength (nm)"}},
                "yaxis": {"title": {"text": "Reflectance factor (1 = perfect white)"}, "range": [0, max(1.05, 1.05 * highest)]},
                "height": height,
                "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
                "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0},
            },
        }
    )


def _copy(source: str, target: str) -> None:
    st.session_state[target] = st.session_state[source]


for name in inputs:
    if _number_key(name) not in st.session_state:
        st.session_state[_number_key(name)] = _default(name)
    st.session_state[_slider_key(name)] = st.session_state[_number_key(name)]
st.session_state.setdefault(PINNED_KEY, [])

st.title("Predict a film's colour")
st.caption("Set the weight percent of each colorant and the film thickness; the prediction updates as you type.")

recipe_column, result_column = st.columns([2, 3], gap="large")

with recipe_column:
    st.subheader("Recipe")
    for name in inputs:
        low, high = _bounds(name)
        unit = "µm" if name == THICKNESS_COLUMN else "%"
        label = "Film thickness (µm)" if name == THICKNESS_COLUMN else f"{name} (wt %)"
        step = 0.1 if name == THICKNESS_COLUMN else 0.05
        number_column, slider_column = st.columns([2, 3])
        number_column.number_input(
            label,
            min_value=low,
            max_value=high,
            step=step,
            format="%.2f",
            key=_number_key(name),
            on_change=_copy,
            args=(_number_key(name), _slider_key(name)),
        )
        slider_column.slider(
            f"{label} slider",
            min_value=low,
            max_value=high,
            step=step,
            key=_slider_key(name),
            on_change=_copy,
            args=(_slider_key(name), _number_key(name)),
            label_visibility="hidden",
        )
        st.caption(f"Trained on {trained.minimum[name]:g}–{trained.maximum[name]:g} {unit}")

recipe = explore.recipe_frame({c: st.session_state[_number_key(c)] for c in colorants}, st.session_state[_number_key(THICKNESS_COLUMN)], colorants)
prediction = model.predict(recipe)
hex_code = str(prediction.hex[0])
Lab = prediction.Lab[0]

with result_column:
    st.subheader("Predicted colour")
    st.html(common.swatch_html(hex_code, height_px=140, label=f"{hex_code} (display sRGB)"))
    if prediction.out_of_gamut[0]:
        st.caption("This colour is outside the sRGB gamut: the swatch shows the nearest displayable colour.")
    L_column, a_column, b_column = st.columns(3)
    L_column.metric("L*", f"{Lab[0]:.2f}")
    a_column.metric("a*", f"{Lab[1]:.2f}")
    b_column.metric("b*", f"{Lab[2]:.2f}")
    st.caption(f"Headline path: {'the spectrum' if prediction.headline == 'spectral' else 'the CIELAB head'} (chosen on validation). D65, 10° observer.")
    if prediction.out_of_range[0]:
        st.warning(
            "This recipe is outside what the model was trained on, so the prediction is a guess: "
            f"{prediction.out_of_range_detail[0]}."
        )

    st.dataframe(
        explore.lab_paths_table(prediction),
        column_config={
            "L*": st.column_config.NumberColumn(format="%.2f"),
            "a*": st.column_config.NumberColumn(format="%.2f"),
            "b*": st.column_config.NumberColumn(format="%.2f"),
            "C*": st.column_config.NumberColumn(format="%.2f"),
            "h°": st.column_config.NumberColumn(format="%.1f"),
            "headline": st.column_config.CheckboxColumn("reported"),
        },
    )
    delta_e00 = float(prediction.delta_e00_paths[0])
    st.caption(
        f"Self-check: the two paths differ by ΔE00 = {delta_e00:.2f}. "
        + ("They agree." if delta_e00 < 1 else "A large difference means the model is less sure of this recipe.")
    )
    uncertainty = float(prediction.uncertainty[0])
    if np.isfinite(uncertainty):
        st.caption(
            f"Uncertainty: the measured colour should lie within about ΔE00 {uncertainty:.1f} of this prediction "
            "(on recipes the model never saw, about two in three real errors fell inside such a band)."
        )
        if uncertainty > UNTRUSTED_UNCERTAINTY:
            st.warning(
                f"The model's networks disagree on this recipe (band ΔE00 {uncertainty:.1f}). Do not rely on this "
                "prediction: mix and measure a drawdown, and add it to the training data."
            )

    training = common.training_samples(card)
    nearest = training.nearest(recipe, trained, k=3) if training is not None else None
    # Line colours are for telling curves apart, not the film's colour: a pale film's own
    # colour would vanish on the white chart. The swatches show the colour.
    traces = [{"y": prediction.reflectance[0], "name": "Predicted", "line": {"color": "#222222", "width": 4}}]
    if nearest is not None:
        traces += [
            {"y": reflectance, "name": f"Measured {sample_id} ({thickness_um:g} µm)", "line": {"color": line_colour, "dash": "dot", "width": 2}}
            for sample_id, thickness_um, reflectance, line_colour in zip(
                nearest["sample_id"], nearest[THICKNESS_COLUMN], nearest[BAND_COLUMNS].to_numpy(dtype=float), LINE_COLOURS
            )
        ]
    figure = _spectrum_figure(traces, height=380)
    st.plotly_chart(figure, key="predict_spectrum")
    if nearest is not None:
        st.caption("Dotted: the nearest measured samples in the training data (recipe distance scaled by each input's trained range).")
    else:
        st.caption("The training measurements of this model are not available here, so no measured samples are shown.")

    pin_column, download_column = st.columns(2)
    pinned = st.session_state[PINNED_KEY]
    if pin_column.button("Pin this recipe", disabled=len(pinned) >= MAX_PINNED, key="predict_pin",
                         help=f"Keep up to {MAX_PINNED} recipes to compare side by side."):
        pinned.append(recipe.iloc[0].to_dict())
        st.rerun()
    download_column.download_button(
        "Download this prediction (CSV)",
        data=lambda: to_csv_bytes(prediction.to_frame()),  # built on click, not on every rerun
        file_name="huecast-prediction.csv",
        mime="text/csv",
        key="predict_download",
    )

if pinned:
    st.subheader(f"Pinned recipes ({len(pinned)} of {MAX_PINNED})")
    pinned_prediction = model.predict(pd.DataFrame(pinned, columns=inputs))
    swatch_columns = st.columns(MAX_PINNED)
    comparison_traces = []
    for index, (column, row) in enumerate(zip(swatch_columns, pinned)):
        pinned_hex = str(pinned_prediction.hex[index])
        description = ", ".join(f"{c} {row[c]:g}%" for c in colorants if row[c]) or "no colorant"
        with column:
            st.html(common.swatch_html(pinned_hex, height_px=90, label=f"#{index + 1} ({LINE_COLOUR_NAMES[index]} line): {description}; {row[THICKNESS_COLUMN]:g} µm"))
            L, a, b = pinned_prediction.Lab[index]
            st.caption(f"L* {L:.2f}, a* {a:.2f}, b* {b:.2f}")
            if st.button("Unpin", key=f"predict_unpin_{index}"):
                pinned.pop(index)
                st.rerun()
        comparison_traces.append({"y": pinned_prediction.reflectance[index], "name": f"#{index + 1}", "line": {"color": LINE_COLOURS[index], "width": 3}})
    comparison = _spectrum_figure(comparison_traces, height=320)
    st.plotly_chart(comparison, key="predict_pinned_spectra")
