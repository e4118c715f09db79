"""Predict: set a recipe, see the film's predicted spectrum and colour at once.

The recipe lives in the URL (``?FluoYellow=12.5&thickness_um=8``, one parameter per
input, and a ``pin`` per pinned recipe), so a link can be shared and a reload keeps it;
within a session it is also kept in :mod:`dashboard.state`'s value keys, so a visit to
another page keeps it too. The boxes take what people type, a decimal comma included,
and say so when an entry cannot be used (:func:`model.serving.explore.read_entry`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import champion, state
from dashboard.app_pages._layout import set_up_page
from model import THICKNESS_COLUMN
from model.io.precision import round_for_reading
from model.io.safe_csv import neutralise_formulas, to_csv_bytes
from model.presentation import figures
from model.presentation.swatches import swatch_html
from model.presentation.tables import lab_paths_by_quantity, lab_paths_caption
from model.presentation.wording import band_sentence
from model.serving import explore

MAX_PINNED = len(figures.LINE_COLOURS)  # one line colour per pinned recipe
NEAREST_SAMPLES = 3
NOTE_KEY = "predict_entry_notes"
LINK_PROBLEMS_KEY = "predict_link_problems"

set_up_page()
model, card = champion.predictor()  # the serving snapshot: this page runs before scikit-learn has loaded
colorants = list(model.colorants_)
trained = model.training_range_
bounds = explore.input_bounds(model)
inputs = list(bounds)


def _slider_value(name: str, value: float) -> float:
    low, high, _ = bounds[name]
    return float(min(max(value, low), high))


def _typed(name: str) -> None:
    """A box was edited: use the number if it can be used, else keep the text and say why."""
    reading = explore.read_entry(st.session_state[state.predict_input_key(name)], name, bounds[name])
    if reading.value is None:
        st.session_state[state.predict_problem_key(name)] = reading.problem
        return
    st.session_state.pop(state.predict_problem_key(name), None)
    st.session_state[state.predict_value_key(name)] = reading.value
    if reading.note:
        st.session_state[NOTE_KEY] = {**st.session_state.get(NOTE_KEY, {}), name: reading.note}


def _slid(name: str) -> None:
    st.session_state.pop(state.predict_problem_key(name), None)
    st.session_state[state.predict_value_key(name)] = float(st.session_state[state.predict_slider_key(name)])


# ---- the recipe: this session's values, else the link's, else the default -----------------
if any(state.predict_value_key(name) not in st.session_state for name in inputs):
    link = explore.recipe_from_query(st.query_params.to_dict(), bounds, explore.default_recipe(model))
    for name in inputs:
        st.session_state.setdefault(state.predict_value_key(name), link.recipe[name])
    st.session_state[LINK_PROBLEMS_KEY] = link.problems
if state.PREDICT_PINNED not in st.session_state:
    pin_values = st.query_params.get_all(explore.PIN_QUERY_KEY)
    st.session_state[state.PREDICT_PINNED] = explore.pins_from_query(pin_values, bounds, MAX_PINNED)
    pins_note = explore.dropped_pins_note(pin_values, bounds)
    if pins_note:
        st.session_state[LINK_PROBLEMS_KEY] = [*st.session_state.get(LINK_PROBLEMS_KEY, []), pins_note]
for name in inputs:
    value = float(st.session_state[state.predict_value_key(name)])
    if state.predict_input_key(name) not in st.session_state:  # back from another page: Streamlit dropped the typed text
        st.session_state.pop(state.predict_problem_key(name), None)
    if state.predict_problem_key(name) not in st.session_state:  # a refused entry stays as typed, with its message
        st.session_state[state.predict_input_key(name)] = explore.format_entry(value)
    st.session_state[state.predict_slider_key(name)] = _slider_value(name, value)
pinned = st.session_state[state.PREDICT_PINNED]
values = {name: float(st.session_state[state.predict_value_key(name)]) for name in inputs}

# The URL always names the recipe shown (and the pins), so it can be copied at any moment.
wanted_query = {**explore.recipe_to_query(values, inputs), explore.PIN_QUERY_KEY: explore.pins_to_query(pinned, inputs)}
current_query = {key: st.query_params.get_all(key) for key in st.query_params}
if current_query != {key: value if isinstance(value, list) else [value] for key, value in wanted_query.items() if value != []}:
    st.query_params.from_dict(wanted_query)

st.title("Predict a film's colour")
st.caption(
    "Set the weight percent of each colorant and the film thickness; the prediction updates as you type "
    "(a decimal comma, as in 1,5, is fine). The address bar holds this recipe: copy it to share the prediction."
)
for problem in st.session_state.get(LINK_PROBLEMS_KEY, []):
    st.warning(problem)

recipe_column, result_column = st.columns([2, 3], gap="large")

with recipe_column:
    st.subheader("Recipe")
    notes = st.session_state.pop(NOTE_KEY, {})
    for name, (low, high, step) in bounds.items():
        unit = "µm" if name == THICKNESS_COLUMN else "%"
        label = "Film thickness (µm)" if name == THICKNESS_COLUMN else f"{name} (wt %)"
        box_column, slider_column = st.columns([1, 1], vertical_alignment="bottom")
        box_column.text_input(label, key=state.predict_input_key(name), on_change=_typed, args=(name,))
        slider_column.slider(
            f"{label} slider", min_value=low, max_value=high, step=step, key=state.predict_slider_key(name), on_change=_slid, args=(name,),
            label_visibility="collapsed",
        )
        problem = st.session_state.get(state.predict_problem_key(name))
        if problem:
            st.error(f"{problem} The prediction still uses {explore.format_entry(values[name])} {'µm' if name == THICKNESS_COLUMN else 'wt %'}.", icon=":material/error:")
        elif name in notes:
            st.caption(notes[name])
        st.caption(f"Trained on {trained.minimum[name]:g}–{trained.maximum[name]:g} {unit}; this box takes {low:g}–{high:g} {unit}.")

recipe = explore.recipe_frame({c: values[c] for c in colorants}, values[THICKNESS_COLUMN], colorants)
prediction = model.predict(recipe)
hex_code = str(prediction.hex[0])
Lab = prediction.Lab[0]
refused = [name for name in inputs if st.session_state.get(state.predict_problem_key(name))]

with result_column:
    st.subheader("Predicted colour")
    if refused:
        st.warning(
            f"Not the recipe you typed: the entry for {', '.join(refused)} could not be used (see the red note), "
            "so this is the prediction for the last recipe that could."
        )
    st.html(swatch_html(hex_code, height_px=140, label=f"{hex_code} (display sRGB)"))
    if prediction.out_of_gamut[0]:
        st.caption("This colour is outside the sRGB gamut: the swatch shows the nearest displayable colour.")
    L_column, a_column, b_column = st.columns(3)
    L_column.metric("L*", f"{Lab[0]:.2f}")
    a_column.metric("a*", f"{Lab[1]:.2f}")
    b_column.metric("b*", f"{Lab[2]:.2f}")
    if prediction.has_fluorescence:
        st.metric("Fluorescence", f"{prediction.fluorescence_cts[0]:,.0f} ct/s", help="Predicted fluorescence intensity in counts per second")
        st.caption(
            "Predicted fluorescence intensity (counts per second, as the lab's reader measures it); exactly 0 for a recipe "
            f"without a fluorescent colorant ({', '.join(model.fluorescent_colorants) or 'none in the training data'})."
        )
    st.caption(f"Headline path: {'the spectrum' if prediction.headline == 'spectral' else 'the CIELAB head'} (chosen on validation). D65, 10° observer.")
    if prediction.out_of_range[0]:
        st.warning(
            "This recipe is outside what the model was trained on, so the prediction is a guess: "
            f"{prediction.out_of_range_detail[0]}."
        )

    if prediction.has_physics:  # what the physics alone says, beside the headline
        physics_Lab = prediction.Lab_physics[0]
        physics_swatch, physics_words = st.columns([1, 3], vertical_alignment="center")
        physics_swatch.html(swatch_html(str(prediction.hex_physics[0]), height_px=60, label="physics alone"))
        physics_words.caption(
            f"Physics alone (a fluorescent Kubelka–Munk film): L* {physics_Lab[0]:.2f}, a* {physics_Lab[1]:.2f}, "
            f"b* {physics_Lab[2]:.2f}, ΔE00 {prediction.delta_e00_physics[0]:.2f} from the prediction above, "
            "which adds what the networks learnt the physics misses."
        )

    # A row per quantity and a column per path: all five quantities and both paths fit at 800 px.
    paths = lab_paths_by_quantity(explore.lab_paths_table(prediction))
    st.dataframe(
        neutralise_formulas(paths),
        column_config={
            "_index": st.column_config.TextColumn("CIELAB", width="small"),
            **{path: st.column_config.NumberColumn(path, format="%.2f", width="small") for path in paths.columns},
        },
        key="predict_paths",
    )
    st.caption(lab_paths_caption())
    delta_e00 = float(prediction.delta_e00_paths[0])
    st.caption(
        f"Self-check: the two paths differ by ΔE00 = {delta_e00:.2f}. "
        + ("They agree." if delta_e00 < 1 else "A large difference means the model is less sure of this recipe.")
    )
    uncertainty = float(prediction.uncertainty[0])
    if np.isfinite(uncertainty):
        st.caption("Uncertainty: " + band_sentence(uncertainty, prediction.uncertainty_coverage))
    if explore.is_untrusted(uncertainty):
        st.warning(
            f"Recipes like this are hard for the model (band ΔE00 {uncertainty:.1f}). Do not rely on this "
            "prediction: mix and measure a drawdown, and add it to the training data."
        )

    training = champion.training_samples(card)
    nearest = training.nearest(recipe, trained, k=NEAREST_SAMPLES) if training is not None else None
    st.plotly_chart(figures.predicted_spectrum_figure(prediction.reflectance[0], nearest), key="predict_spectrum")
    if nearest is not None:
        st.caption("Dotted: the nearest measured samples in the training data (recipe distance scaled by each input's trained range).")
    else:
        st.caption("The training measurements of this model are not available here, so no measured samples are shown.")

    pin_column, download_column = st.columns(2)
    if pin_column.button("Pin this recipe", disabled=len(pinned) >= MAX_PINNED, key="predict_pin",
                         help=f"Keep up to {MAX_PINNED} recipes to compare side by side; they stay while you visit other pages, and in the link."):
        pinned.append(recipe.iloc[0].to_dict())
        st.rerun()
    download_column.download_button(
        "Download this prediction (CSV)",
        # Built on click, not on every rerun; at the precision a lab reads (the CLI and the API keep every digit).
        data=lambda: to_csv_bytes(round_for_reading(prediction.to_frame(), colorants)),
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
