"""Predict: set a recipe, see the film's predicted spectrum and colour at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import common, state
from model import THICKNESS_COLUMN
from model.io.safe_csv import to_csv_bytes
from model.presentation import figures
from model.presentation.swatches import swatch_html
from model.serving import explore

MAX_PINNED = len(figures.LINE_COLOURS)  # one line colour per pinned recipe
NEAREST_SAMPLES = 3

model, card = common.champion()
colorants = list(model.colorants_)
trained = model.training_range_
bounds = explore.input_bounds(model)
inputs = list(bounds)


def _copy(source: str, target: str) -> None:
    st.session_state[target] = st.session_state[source]


for name, value in explore.default_recipe(model).items():
    st.session_state.setdefault(state.predict_input_key(name), value)
    st.session_state[state.predict_slider_key(name)] = st.session_state[state.predict_input_key(name)]
st.session_state.setdefault(state.PREDICT_PINNED, [])

st.title("Predict a film's colour")
st.caption("Set the weight percent of each colorant and the film thickness; the prediction updates as you type.")

recipe_column, result_column = st.columns([2, 3], gap="large")

with recipe_column:
    st.subheader("Recipe")
    for name, (low, high, step) in bounds.items():
        unit = "µm" if name == THICKNESS_COLUMN else "%"
        label = "Film thickness (µm)" if name == THICKNESS_COLUMN else f"{name} (wt %)"
        number_key, slider_key = state.predict_input_key(name), state.predict_slider_key(name)
        number_column, slider_column = st.columns([2, 3])
        number_column.number_input(
            label, min_value=low, max_value=high, step=step, format="%.2f", key=number_key, on_change=_copy, args=(number_key, slider_key)
        )
        slider_column.slider(
            f"{label} slider", min_value=low, max_value=high, step=step, key=slider_key, on_change=_copy, args=(slider_key, number_key),
            label_visibility="hidden",
        )
        st.caption(f"Trained on {trained.minimum[name]:g}–{trained.maximum[name]:g} {unit}")

recipe = explore.recipe_frame(
    {c: st.session_state[state.predict_input_key(c)] for c in colorants}, st.session_state[state.predict_input_key(THICKNESS_COLUMN)], colorants
)
prediction = model.predict(recipe)
hex_code = str(prediction.hex[0])
Lab = prediction.Lab[0]

with result_column:
    st.subheader("Predicted colour")
    st.html(swatch_html(hex_code, height_px=140, label=f"{hex_code} (display sRGB)"))
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
    if explore.is_untrusted(uncertainty):
        st.warning(
            f"The model's networks disagree on this recipe (band ΔE00 {uncertainty:.1f}). Do not rely on this "
            "prediction: mix and measure a drawdown, and add it to the training data."
        )

    training = common.training_samples(card)
    nearest = training.nearest(recipe, trained, k=NEAREST_SAMPLES) if training is not None else None
    st.plotly_chart(figures.predicted_spectrum_figure(prediction.reflectance[0], nearest), key="predict_spectrum")
    if nearest is not None:
        st.caption("Dotted: the nearest measured samples in the training data (recipe distance scaled by each input's trained range).")
    else:
        st.caption("The training measurements of this model are not available here, so no measured samples are shown.")

    pin_column, download_column = st.columns(2)
    pinned = st.session_state[state.PREDICT_PINNED]
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
    for index, (column, row) in enumerate(zip(st.columns(MAX_PINNED), pinned)):
        with column:
            label = f"#{index + 1} ({figures.LINE_COLOUR_NAMES[index]} line): {explore.describe_recipe(row, colorants)}; {row[THICKNESS_COLUMN]:g} µm"
            st.html(swatch_html(str(pinned_prediction.hex[index]), height_px=90, label=label))
            L, a, b = pinned_prediction.Lab[index]
            st.caption(f"L* {L:.2f}, a* {a:.2f}, b* {b:.2f}")
            if st.button("Unpin", key=f"predict_unpin_{index}"):
                pinned.pop(index)
                st.rerun()
    st.plotly_chart(figures.pinned_spectra_figure(pinned_prediction.reflectance), key="predict_pinned_spectra")
