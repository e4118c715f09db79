"""Plan experiments: the recipes whose measurements would teach the champion most, to make next."""

from __future__ import annotations

import streamlit as st

from dashboard import champion
from dashboard.app_pages._layout import set_up_page
from model.formulation import Constraints, Target
from model.formulation.experiments import DEFAULT_BATCH_SIZE, default_constraints, plan_experiments
from model.io.safe_csv import neutralise_formulas
from model.presentation import figures, tables
from model.presentation.swatches import with_swatch_column
from model.serving import explore

RESULT_KEY = "plan_result"
# Rows taller than 4 rem let Streamlit wrap a text cell; these hold eight lines of the "why" column, which
# stays narrow enough that the recipe, its colour and the reasons show side by side at 800 px.
PLAN_ROW_HEIGHT_PX = 170
PLAN_WHY_WIDTH_PX = 300
# The grid's header row (px): the table is made as tall as its rows, so no suggestion hides below a scroll.
TABLE_HEADER_PX = 38

set_up_page()
model, card = champion.full_model()
colorants = list(model.colorants_)


def _read_constraints(defaults: Constraints) -> Constraints:
    with st.expander("Allowed ranges", expanded=False):
        st.caption("Default: each colorant from 0 to 1.5× its highest measured level, and the measured film thicknesses.")
        minimum, maximum = {}, {}
        for name in colorants:
            low_column, high_column = st.columns(2)
            minimum[name] = low_column.number_input(f"{name} min (wt %)", 0.0, 100.0, 0.0, key=f"plan_min_{name}")
            maximum[name] = high_column.number_input(
                f"{name} max (wt %)", 0.0, 100.0, round(float(defaults.maximum[name]), 2), key=f"plan_max_{name}",
            )
        offered = [float(t) for t in defaults.thicknesses_um]
        thicknesses = st.multiselect("Films to draw (µm)", offered, default=offered, key="plan_thicknesses", accept_new_options=True)
    try:
        thicknesses_um = explore.parse_thicknesses(thicknesses, model)
    except ValueError as error:
        st.error(str(error))
        thicknesses_um = None
    return Constraints(minimum=minimum, maximum=maximum, thicknesses_um=thicknesses_um or offered)


def _read_target() -> tuple[Target | None, float]:
    if not st.toggle("Plan around a target colour", key="plan_use_target"):
        return None, 5.0
    colour_column, radius_column = st.columns(2)
    target = Target.from_hex(colour_column.color_picker("Target colour", "#3c8c5a", key="plan_target_hex"))
    radius = radius_column.slider("Radius around it (ΔE00)", 1.0, 30.0, 8.0, key="plan_radius")
    return target, radius


st.title("Plan experiments")
st.caption(
    "The recipes whose measurements would teach the model most: where it is least sure, far from every measured recipe, "
    "and spread out from each other. Make them, read them, and upload the readings with the downloaded recipe table on the Retrain page."
)
training = champion.training_data(card)
if training.dataset is None:
    st.warning(
        f"Cannot plan: {training.description}. Planning measures distances to the recipes the champion was trained on; "
        "an admin can retrain the champion on the measurement store (Retrain page); then come back."
    )
    st.stop()
st.caption(f"Measured so far: {training.dataset.n_recipes} recipes ({len(training.dataset)} films), from {training.description}.")
batch_size = st.number_input("How many recipes to make", 1, 24, DEFAULT_BATCH_SIZE, key="plan_batch_size")
constraints = _read_constraints(default_constraints(training.dataset))
target, radius = _read_target()

if st.button("Plan experiments", type="primary", key="plan_run"):
    bar = st.progress(0.0, text="Planning…")
    try:
        st.session_state[RESULT_KEY] = card.version, plan_experiments(
            model, training.dataset, constraints, batch_size=int(batch_size), target=target, radius_delta_e00=radius,
            progress=lambda fraction, message: bar.progress(fraction, text=message),
        )
    except ValueError as error:
        st.session_state.pop(RESULT_KEY, None)
        st.error(str(error))
    bar.empty()

# A plan made for an earlier champion (promoted away since) is not shown.
planned_for, plan = st.session_state.get(RESULT_KEY, (None, None))
if plan is not None and planned_for == card.version:
    around = f" around {plan.target_label}" if plan.target_label else ""
    st.subheader(f"{len(plan)} recipes to make next{around}")
    st.caption(f"Chosen from {plan.n_candidates:,} candidate recipes, by distance to {plan.n_measured_recipes} measured recipes and today's uncertainty.")
    st.dataframe(
        neutralise_formulas(tables.experiment_plan_table(with_swatch_column(plan.to_frame()), plan.colorants)),
        hide_index=True, key="plan_table", row_height=PLAN_ROW_HEIGHT_PX, height=TABLE_HEADER_PX + len(plan) * PLAN_ROW_HEIGHT_PX,
        column_config={
            "colour": st.column_config.ImageColumn("colour", width="small"),
            # Fixed width and tall rows: the reasons wrap onto several lines instead of running off the table.
            "why this recipe": st.column_config.TextColumn("why this recipe", width=PLAN_WHY_WIDTH_PX),
        },
    )
    st.markdown(plan.measurement_note())
    st.download_button(
        "Download the recipe table (CSV)", plan.recipe_table_csv(), file_name="huecast-next-recipes.csv", mime="text/csv", key="plan_download",
        help="The same format as the lab's Concentrations.csv: upload it with the instrument export on the Retrain page.",
    )
    st.plotly_chart(figures.experiment_plan_figure(plan), key="plan_chart")
