"""Formulate: find recipes whose predicted colour matches a target colour or spectrum."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import champion, state
from dashboard.app_pages._layout import set_up_page
from model import THICKNESS_COLUMN
from model.formulation import METAMERISM_ILLUMINANTS, Constraints, SpectrumParseError, Target, formulate
from model.io.precision import READING_DECIMALS, round_for_reading
from model.io.safe_csv import to_csv_bytes
from model.presentation import figures
from model.presentation.swatches import swatch_pair_html
from model.presentation.wording import UNCALIBRATED_NOTE, band_sentence
from model.serving import explore
from model.store.measurements import open_store

RESULT_KEY = "formulate_result"
# What the stored result was searched for: a result is shown only while the target is the same.
RESULT_TARGET_KEY = "formulate_result_target"
TARGET_KINDS = ("Colour (picker or hex)", "CIELAB values", "Pasted spectrum", "Measured sample")

set_up_page()
# The serving snapshot when the champion has one: formulating needs only predictions, and
# serving them needs no unpickling in this process (the full champion otherwise).
model, card = champion.predictor()
colorants = list(model.colorants_)
trained = model.training_range_


@st.cache_data(show_spinner="Loading the measured samples…", max_entries=2)
def _store_dataset(store_version: str):
    # Keyed on the store's version: an upload, exclusion or inclusion changes the samples offered.
    return open_store().to_dataset()


def _read_target() -> Target | None:
    kind = st.radio("Target", TARGET_KINDS, horizontal=True, key="formulate_target_kind")
    try:
        if kind == TARGET_KINDS[0]:
            return Target.from_hex(st.color_picker("Target colour", "#3c8c5a", key="formulate_hex"))
        if kind == TARGET_KINDS[1]:
            L_column, a_column, b_column = st.columns(3)
            L = L_column.number_input("L* (0–100)", 0.0, 100.0, 60.0, key="formulate_L")
            a = a_column.number_input("a*", -128.0, 128.0, -20.0, key="formulate_a")
            b = b_column.number_input("b*", -128.0, 128.0, 30.0, key="formulate_b")
            return Target.from_Lab(L, a, b)
        if kind == TARGET_KINDS[2]:
            text = st.text_area(
                "Paste 31 reflectance values (400–700 nm, 10 nm steps), or a whole row copied from the instrument export",
                key="formulate_spectrum_text",
                height=110,
            )
            return Target.from_pasted(text) if text.strip() else None
        dataset = _store_dataset(open_store().version())
        sample_id = st.selectbox("Measured sample (from the measurement store)", list(dataset.sample_ids), key="formulate_sample")
        return Target.from_sample(dataset, sample_id) if sample_id else None
    except (SpectrumParseError, ValueError) as error:
        st.error(str(error))
        return None


def _read_constraints() -> Constraints:
    with st.expander("Constraints", expanded=False):
        allowed = st.multiselect("Allowed colorants", colorants, default=colorants, key="formulate_allowed")
        minimum, maximum = {}, {}
        for name in allowed:
            low_column, high_column = st.columns(2)
            minimum[name] = low_column.number_input(f"{name} min (wt %)", 0.0, 100.0, 0.0, key=f"formulate_min_{name}")
            maximum[name] = high_column.number_input(
                f"{name} max (wt %)", 0.0, 100.0, float(trained.maximum[name]), key=f"formulate_max_{name}",
                help=f"Trained up to {trained.maximum[name]:g} wt %; above that the recipe is flagged.",
            )
        max_total = st.number_input("Maximum total (wt %; 0 means no limit)", 0.0, 100.0, 0.0, key="formulate_max_total")
        offered = explore.trained_thicknesses(trained)
        thicknesses = st.multiselect("Allowed thicknesses (µm)", offered, default=offered, key="formulate_thicknesses", accept_new_options=True)
        min_fluorescence = 0.0
        if model.has_fluorescence:  # only a model trained with fluorescence readings can predict it
            min_fluorescence = st.number_input(
                "Minimum fluorescence (ct/s; 0 means no minimum)", 0.0, 1e6, 0.0, step=100.0, key="formulate_min_fluorescence",
                help="Every proposed recipe must be predicted to glow at least this much (counts per second).",
            )
    try:
        thicknesses_um = explore.parse_thicknesses(thicknesses, model)
    except ValueError as error:
        st.error(str(error))
        thicknesses_um = None
    return Constraints(
        colorants=allowed, minimum=minimum, maximum=maximum, max_total=max_total or None, thicknesses_um=thicknesses_um,
        min_fluorescence_cts=min_fluorescence or None,
    )


def _target_key(target: Target | None) -> tuple | None:
    """What identifies a target for display: its label, CIELAB and spectrum (rounded past any visible difference)."""
    if target is None:
        return None
    spectrum = None if target.reflectance is None else tuple(np.round(target.reflectance, 6))
    return (target.label, tuple(np.round(target.Lab, 6)), spectrum)


def _copy_to_predict(recipe: dict) -> None:
    state.send_recipe_to_predict(st.session_state, recipe)
    st.switch_page(state.PREDICT_PAGE)


st.title("Formulate a recipe for a target colour")
st.caption("Give a target; Huecast searches the champion model for recipes whose predicted colour matches it.")
target = _read_target()
for note in target.notes if target else ():
    st.caption(f"Read the spectrum: {note}.")
constraints = _read_constraints()
n_candidates = st.slider("How many recipes to propose", 1, 5, 3, key="formulate_n_candidates")

if st.button("Find recipes", type="primary", disabled=target is None, key="formulate_run"):
    try:
        with st.spinner("Searching…"):
            st.session_state[RESULT_KEY] = formulate(model, target, constraints, n_candidates=n_candidates)
            st.session_state[RESULT_TARGET_KEY] = _target_key(target)
    except ValueError as error:
        st.session_state.pop(RESULT_KEY, None)
        st.error(str(error))

if st.session_state.get(RESULT_TARGET_KEY) != _target_key(target):
    st.session_state.pop(RESULT_KEY, None)  # recipes for another target must not be read as answers to this one
result = st.session_state.get(RESULT_KEY)
if result is not None:
    (st.success if result.reachable else st.warning)(result.explanation)
    st.caption(f"Searched {result.n_predictions:,} recipes in {result.seconds:.1f} s for {result.target.label}.")
    st.download_button(
        # At the precision a lab reads, as shown below (the API keeps every digit).
        "Download these recipes (CSV)", to_csv_bytes(round_for_reading(result.to_frame(), colorants)), file_name="huecast-formulation.csv",
        mime="text/csv", key="formulate_download",
    )
    n_risky = sum(candidate.is_risky for candidate in result.candidates)
    if n_risky == len(result.candidates):
        st.caption(
            "Every recipe found carries a risk (named under each): the model is unsure of recipes like these. "
            "Mix and measure one before relying on it."
        )
    elif n_risky:
        st.caption(
            f"{n_risky} of {len(result.candidates)} recipes carry a risk (named under each): they are listed after the others, "
            "even when their predicted colour is closer. Mix and measure one before relying on it."
        )
    st.caption(
        "Ranked by the expected colour difference to the target: the predicted ΔE00 and the uncertainty band together, "
        "so a recipe predicted a little closer but with a wide band comes after one the model can stand behind."
    )
    if any(np.isfinite(c.uncertainty) and c.uncertainty_coverage is None for c in result.candidates):
        st.caption(UNCALIBRATED_NOTE)
    for rank, candidate in enumerate(result.candidates, start=1):
        band = f", band ±{candidate.uncertainty:.1f}" if np.isfinite(candidate.uncertainty) else ""
        st.subheader(f"Recipe {rank}: ΔE00 {candidate.delta_e00:.1f} to target{band} ({candidate.risk_label})")
        left, middle, right = st.columns([2, 2, 3])
        with left:
            st.html(swatch_pair_html(result.target.hex, candidate.hex))
            if candidate.is_risky:
                st.warning("Risk: " + " ".join(candidate.risks) + " Do not rely on this prediction without a drawdown.", icon=":material/warning:")
            else:
                st.caption(
                    f"Risk: {candidate.risk_label.removesuffix(' risk')}. {band_sentence(candidate.uncertainty, candidate.uncertainty_coverage)} "
                    f"Expected ΔE00 to the target: {candidate.expected_delta_e00:.1f}. The two prediction paths agree within "
                    f"ΔE00 {candidate.delta_e00_paths:.1f}; inside the training range."
                )
        with middle:
            wt_percent = READING_DECIMALS["wt_percent"]
            recipe_lines = [f"**{name}**: {round(candidate.recipe[name], wt_percent):g} wt %" for name in candidate.colorants_used]
            st.markdown("  \n".join(recipe_lines or ["no colorant"]) + f"  \n**film**: {candidate.recipe[THICKNESS_COLUMN]:g} µm")
            if candidate.fluorescence_cts is not None:
                st.markdown(f"Fluorescence: {candidate.fluorescence_cts:,.0f} ct/s (predicted)")
            if candidate.spectral_rms is not None:
                st.markdown(f"Spectral RMS: {candidate.spectral_rms:.2f} % reflectance")
            for illuminant in METAMERISM_ILLUMINANTS:
                if candidate.metamerism:
                    st.markdown(f"ΔE00 under {illuminant}: {candidate.metamerism[illuminant]:.2f}")
            if st.button("Open in Predict", key=f"formulate_copy_{rank}"):
                _copy_to_predict(candidate.recipe)
        with right:
            figure = figures.formulation_spectrum_figure(candidate.reflectance, candidate.hex, result.target.reflectance)
            st.plotly_chart(figure, key=f"formulate_spectrum_{rank}")
