"""Overview: how good the champion's predictions are, in plain words (anyone can see it)."""

from __future__ import annotations

import streamlit as st

from dashboard import champion
from dashboard.app_pages._layout import set_up_page
from model.io.safe_csv import neutralise_formulas
from model.presentation import figures, report
from model.presentation.demo_notice import DEMO_ACCURACY_CAVEAT
from model.presentation.swatches import swatch_grid_html
from model.registry import review
from model.registry.registry import ModelRegistry
from model.registry.training_data import trained_on_demo

set_up_page()
model, card = champion.full_model()
models_dir = str(ModelRegistry().root)


@st.cache_data(show_spinner="This model has no saved test predictions; recomputing them once (about a minute)…", max_entries=4)
def _out_of_fold(version: str, models_dir: str):
    # Keyed by version (immutable once saved) and shared by all users; never mutate the result.
    return review.out_of_fold_table(ModelRegistry(models_dir).read_card(version), models_dir)


@st.cache_data(show_spinner=False, max_entries=4)
def _report_html(version: str, models_dir: str) -> bytes:
    # The report inlines Plotly (several MB), so it is built once per version, not per rerun.
    return report.build_report(ModelRegistry(models_dir).read_card(version), _out_of_fold(version, models_dir), models_dir).encode("utf-8")


out_of_fold = _out_of_fold(card.version, models_dir)
summary = review.summarise_accuracy(card, out_of_fold)
st.title("How accurate are the predictions?")
# A demo model's figures are the simulator's, not the lab's: said in the same box as the headline.
caveat = f" {DEMO_ACCURACY_CAVEAT}" if trained_on_demo(card.dataset) else ""
st.info(summary.sentence + caveat, icon=":material/insights:")
st.caption(review.DELTA_E00_EXPLANATION)

facts_column, chart_column = st.columns([2, 3], gap="large")
with facts_column:
    st.subheader("The model in use")
    for label, value in review.champion_facts(card, summary):
        st.markdown(f"**{label}:** {value}")
    st.markdown(review.previous_champion_comparison(card, models_dir))
with chart_column:
    if out_of_fold is not None:
        st.plotly_chart(figures.error_histogram(review.recipe_errors(out_of_fold)), key="overview_histogram")
        st.caption(f"Each bar counts recipes: {summary.n_recipes} in all, as in the sentence above.")

if out_of_fold is None:
    st.warning("The data this model was trained on cannot be found, so the predicted-versus-measured swatches are not shown.")
else:
    st.subheader("Predicted next to measured")
    st.caption(
        f"Each tile is one film ({summary.n_measurements} in all): the measured colour (left) and the colour predicted by a model "
        "that never saw that recipe (right), with the ΔE00 between them"
        + (f", averaged over the {summary.n_seeds} repeats of the test" if summary.n_seeds > 1 else "")
        + ". A recipe's error in the chart above is the mean of its tiles. Green under 1, amber under 2, red 2 or more. Worst first."
    )
    st.html(swatch_grid_html(review.swatch_table(out_of_fold)))
    fluorescence = review.fluorescence_by_recipe(out_of_fold)
    if fluorescence is not None:
        st.subheader("Fluorescence, recipe by recipe")
        st.caption("Measured and predicted fluorescence intensity (ct/s) of each recipe with a reading, by a model that never saw it. Worst first.")
        st.dataframe(neutralise_formulas(fluorescence), hide_index=True, key="overview_fluorescence")

st.download_button(
    "Download this overview as a report (HTML, works offline)",
    data=_report_html(card.version, models_dir),
    file_name=f"huecast-report-{card.version}.html",
    mime="text/html",
    key="overview_download_report",
)
