"""Batch: upload a CSV of recipes, get every row's predicted colour and spectrum back."""

from __future__ import annotations

import streamlit as st

from dashboard import champion
from dashboard.app_pages._layout import champion_is_demo, set_up_page
from model.io import IngestError
from model.io.precision import round_for_reading
from model.io.safe_csv import neutralise_formulas, to_csv_bytes
from model.presentation.demo_notice import demo_colorants_note
from model.presentation.swatches import with_swatch_column
from model.serving import batch

RESULT_KEY = "batch_result"
SHOWN_ROWS = 1_000  # the table in the page; the download has every row
EAGER_DOWNLOAD_ROWS = 10_000
# Streamlit wraps a cell's text only in rows taller than 4 rem (64 px): three lines of a problem's sentence.
PROBLEM_ROW_PX = 72

set_up_page()
model, card = champion.predictor()  # the serving snapshot: this page only predicts, and may run before scikit-learn has loaded
colorants = list(model.colorants_)
demo = champion_is_demo()

st.title("Predict a batch of recipes")
st.markdown(
    f"Upload a CSV with one row per recipe: a column per colorant in wt % "
    f"({', '.join(f'`{c}`' for c in colorants)}) and `thickness_um` in µm. Commas or semicolons; "
    f"`12.5` and `12.5%` both mean 12.5 wt %. Other columns (a name, a sample id) are passed through. "
    f"At most {batch.MAX_BATCH_ROWS:,} rows per file."
)
st.download_button(
    "Download a template (CSV)",
    data=to_csv_bytes(batch.template_frame(model)),
    file_name="huecast-recipes-template.csv",
    mime="text/csv",
    key="batch_template",
)

upload = st.file_uploader("CSV of recipes", type=["csv", "txt"], key="batch_upload")
if upload is None:
    st.session_state.pop(RESULT_KEY, None)
    st.stop()

def _show_problems(problems, key: str) -> None:
    """Problems in a grid as wide as the page; the sentence column stretches, and its rows are tall enough to wrap."""
    st.dataframe(
        neutralise_formulas(batch.problems_frame(problems)), key=key, hide_index=True, width="stretch", row_height=PROBLEM_ROW_PX,
        column_config={"row": st.column_config.NumberColumn("row", width="small"), "problem": st.column_config.TextColumn("problem", width="medium")},
    )


def _column_config(table) -> dict:
    """Headers in words with units, narrow colour columns (so L*, a*, b* and the band show at 800 px), recipe columns labelled wt % and µm."""
    config = {
        "swatch": st.column_config.ImageColumn("swatch", help="Display sRGB of the predicted colour", width="small"),
        "L": st.column_config.NumberColumn("L*", format="%.2f", width="small", help="Predicted lightness, 0–100 (D65, 10°)"),
        "a": st.column_config.NumberColumn("a*", format="%.2f", width="small", help="Predicted red (+) to green (−)"),
        "b": st.column_config.NumberColumn("b*", format="%.2f", width="small", help="Predicted yellow (+) to blue (−)"),
        "uncertainty_delta_e00": st.column_config.NumberColumn(
            "± ΔE00", format="%.1f", width="small", help="Uncertainty band: how far a measured film of this recipe may be from the prediction (ΔE00)"
        ),
        "out_of_range": st.column_config.CheckboxColumn(
            "outside training", width="medium", help="Outside the recipes the model was trained on: less reliable (the reason is further right)"
        ),
        "C": st.column_config.NumberColumn("C*", format="%.2f", help="Predicted chroma"),
        "h": st.column_config.NumberColumn("h°", format="%.1f", help="Predicted hue angle, degrees"),
        "delta_e00_paths": st.column_config.NumberColumn("ΔE00 between paths", format="%.2f", help="Self-check: the two prediction paths differ by this"),
        "fluorescence_cts": st.column_config.NumberColumn(
            "fluorescence (ct/s)", format="%.0f", help="Predicted fluorescence intensity; empty when the model was trained without fluorescence readings"
        ),
        "out_of_range_detail": st.column_config.TextColumn("outside training: why", width="large"),
        "out_of_gamut": st.column_config.CheckboxColumn("outside sRGB", help="The swatch shows the nearest displayable colour"),
        "uncertainty_coverage": st.column_config.NumberColumn("band coverage", format="%.2f", help="The share of recipes like this that come within the band"),
    }
    for name in colorants:
        config[name] = st.column_config.NumberColumn(f"{name} (wt %)", format="%.3f")
    config["thickness_um"] = st.column_config.NumberColumn("film (µm)", format="%.1f")
    return {column: setting for column, setting in config.items() if column in table.columns}


def _download_bytes(table) -> bytes:
    """The CSV a person downloads: the reader's column order, at the precision a lab reads (the CLI keeps every digit)."""
    return to_csv_bytes(round_for_reading(table, colorants))


content = upload.getvalue()
# The result is kept per file content and model, so widget reruns do not predict again.
result_id = batch.result_key(content, card.version)
stored = st.session_state.get(RESULT_KEY)
if stored is None or stored[0] != result_id:
    progress_bar = st.progress(0.0, text="Reading and checking the file…")
    try:
        outcome = batch.predict_csv(
            content, model, name=upload.name, progress=lambda fraction, message: progress_bar.progress(fraction, text=message),
            suggest_renames=not demo,  # the demo's colorants are not the lab's: a close name is no typo
        )
    except IngestError as error:
        outcome = error
    progress_bar.empty()
    st.session_state[RESULT_KEY] = stored = (result_id, outcome)
outcome = stored[1]

if isinstance(outcome, IngestError):
    st.error(f"{upload.name} cannot be used as it is; nothing was predicted. Fix these and upload it again:")
    if demo and batch.names_missing_colorants(outcome, colorants):
        st.info(demo_colorants_note(colorants), icon=":material/science:")
    _show_problems(outcome.problems, "batch_file_problems")
    if outcome.n_more:
        st.caption(f"… and {outcome.n_more} more problems not listed.")
    st.stop()

for message in outcome.warnings:
    st.warning(message)
if outcome.problems:
    st.error(
        f"{outcome.n_rows_left_out} {'row' if outcome.n_rows_left_out == 1 else 'rows'} of {upload.name} "
        f"{'was' if outcome.n_rows_left_out == 1 else 'were'} left out; each is listed below with its row "
        f"(as a spreadsheet numbers it, the header is row 1) and column. The other {outcome.n_predicted:,} rows were predicted."
    )
    _show_problems(outcome.problems, "batch_row_problems")
else:
    st.success(f"All {outcome.n_predicted:,} rows of {upload.name} were predicted with model {card.version}.")

table = outcome.table
if len(table):
    if outcome.n_out_of_range:
        st.warning(f"{outcome.n_out_of_range:,} recipes lie outside the training range; their predictions are less reliable (the column “outside training: why” says why).")
    if outcome.n_untrusted:
        st.warning(
            f"{outcome.n_untrusted:,} recipes have an uncertainty band wider than ±{batch.UNTRUSTED_UNCERTAINTY:g} ΔE00: "
            "do not rely on those predictions (the Predict page says the same of such a recipe). Measure a few of them and retrain."
        )
    # What a reader needs first (name, swatch, L*a*b*, uncertainty, flag), then the recipe; the spectrum last.
    readable = batch.reader_table(table, model.input_columns)
    shown = with_swatch_column(readable, SHOWN_ROWS)
    st.dataframe(
        neutralise_formulas(shown),
        key="batch_predictions",
        hide_index=True,
        column_config=_column_config(shown),
        width="stretch",
    )
    if len(table) > SHOWN_ROWS:
        st.caption(f"Showing the first {SHOWN_ROWS:,} of {len(table):,} rows; the download has them all.")
    st.download_button(
        "Download predictions (CSV)",
        # A big result is encoded only when clicked (100,000 rows make about 60 MB of CSV); a
        # small one is sent with the page, so its download never waits on a server callback.
        data=_download_bytes(readable) if len(table) <= EAGER_DOWNLOAD_ROWS else (lambda: _download_bytes(readable)),
        file_name=f"{upload.name.rsplit('.', 1)[0]}-predictions.csv",
        mime="text/csv",
        key="batch_download",
    )
