"""Retrain (admins only): upload measurements, train a challenger, compare it with the
champion on the same folds, promote or discard it; model history with rollback; the
measurement store with exclude/include.

UI only: reading and matching files, the store, training, comparison and promotion all
live in ``model.ops.store`` and ``model.ops.retrain``.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard.common import clear_champion_cache, current_user
from model.core import settings
from model.core.schema import BAND_COLUMNS, WAVELENGTHS_NM
from model.io import IngestError, read_upload
from model.ops import retrain
from model.ops.access import PermissionDenied
from model.ops.store import MeasurementStore, StoreError

# Training is a worker process; the page polls its status file this often while it runs.
POLL_SECONDS = 1.0
# How many of the newest versions get a rollback button in the history.
ROLLBACK_ROWS = 10

user = current_user()
st.title("Retrain")
if not user.is_admin:
    # Hidden from viewers' navigation too; model/ refuses them as well (access.require_admin).
    st.info("Retraining is for admins. Sign in as an admin in the sidebar to upload measurements, train and promote models.")
    st.stop()


@st.cache_resource
def _store(data_dir: str) -> MeasurementStore:
    # The store object holds only its path; every call opens its own connection, so sharing it is safe.
    return MeasurementStore(f"{data_dir}/measurements.sqlite3")


def _show_error(error: Exception) -> None:
    st.error(str(error))


store = _store(str(settings.data_dir()))
flash = st.session_state.pop("retrain_flash", None)
if flash:
    st.success(flash)

# ---- 1. Upload ------------------------------------------------------------------------
st.header("1. Upload measurements")
st.caption(
    "Either the spectrophotometer's export together with its recipe table (two CSV files), or one tidy CSV: "
    "`sample_id, recipe_id, <colorants, wt %>, thickness_um, R400 … R700`."
)
files = st.file_uploader("Measurement files", type=["csv", "txt"], accept_multiple_files=True, key="retrain_files")
prepared = None
if files:
    payload = [(file.name, file.getvalue()) for file in files]
    try:
        first_read = read_upload(payload)
    except IngestError as error:
        st.error("These files cannot be used yet. Fix the rows below and upload again.")
        st.code(str(error), language=None)
        first_read = None
    if first_read is not None:
        # ---- 2. Match report ----------------------------------------------------------
        st.header("2. Check the match report")
        suggestions = first_read.report.suggested if first_read.report else []
        accepted = []
        if suggestions:
            st.markdown("**Near-miss names.** Tick each one that names the suggested recipe; unticked rows are left out.")
            for index, entry in enumerate(suggestions):
                if st.checkbox(f"{entry.measured_name} (row {entry.row}) → {entry.recipe_id}: {entry.reason}", value=True, key=f"retrain_accept_{index}"):
                    accepted.append(entry.measured_name)
        prepared = read_upload(payload, accept=accepted) if accepted else first_read
        report = prepared.report
        already = store.is_stored(prepared.dataset)
        columns = st.columns(5)
        columns[0].metric("Measurements to store", int((~already).sum()))
        columns[1].metric("Already in the store", int(already.sum()))
        columns[2].metric("Recipes", prepared.dataset.n_recipes)
        columns[3].metric("Unmatched (left out)", len(report.unmatched) + len(report.suggested) if report else 0)
        columns[4].metric("Duplicate readings (kept)", len(report.duplicates) if report else 0)
        if report is not None:
            if report.unmatched or report.suggested:
                st.warning("Left out: " + "; ".join(entry.describe() for entry in [*report.unmatched, *report.suggested]))
            if report.suspect:
                st.warning("Please check (kept as named): " + "; ".join(entry.describe() for entry in report.suspect))
            with st.expander("Every measured row"):
                st.dataframe(report.to_frame(), hide_index=True, width="stretch")
        preview = prepared.dataset.table.loc[~already, ["sample_id", *BAND_COLUMNS]]
        if len(preview):
            long = preview.melt(id_vars="sample_id", var_name="band", value_name="reflectance")
            long["wavelength_nm"] = long["band"].map(dict(zip(BAND_COLUMNS, WAVELENGTHS_NM)))
            figure = px.line(long, x="wavelength_nm", y="reflectance", color="sample_id", title="Spectra of the new measurements")
            figure.update_layout(xaxis_title="Wavelength (nm)", yaxis_title="Reflectance factor (0–1)", showlegend=len(preview) <= 20, height=380)
            st.plotly_chart(figure, key="retrain_preview_chart")

        # ---- 3. Commit ----------------------------------------------------------------
        st.header("3. Commit to the store")
        if st.button("Store these measurements", key="retrain_commit", type="primary"):
            try:
                result = store.add(prepared, user=user)
            except (StoreError, PermissionDenied) as error:
                _show_error(error)
            else:
                (st.success if result.n_added else st.info)(result.message)

# ---- 4. Train a challenger -----------------------------------------------------------
st.header("4. Train a challenger")
counts = store.counts()
st.caption(
    f"The store holds {counts['n_included']} included measurements of {counts['n_recipes']} recipes "
    f"({counts['n_measurements'] - counts['n_included']} excluded), store version `{store.version()[:12]}`."
)
if retrain.fresh_search_available():
    choice = st.radio(
        "Configuration",
        ["The champion's configuration", "A fresh search on this data"],
        key="retrain_config_choice",
        help="A fresh search ranks random configurations by leave-recipe-out CV first, so it takes several times longer.",
    )
    fresh_search = choice != "The champion's configuration"
else:
    st.caption("The challenger uses the champion's configuration (a configuration search is not installed).")
    fresh_search = False


def _status_or_none(job: str | None):
    try:
        return retrain.job_status(job) if job else None
    except FileNotFoundError:  # the data directory changed since this session started the job
        return None


job_id = st.session_state.get("retrain_job")
if job_id is None:
    running = retrain.active_job()
    job_id = running.job_id if running else None
status = _status_or_none(job_id)
if st.button("Train a challenger", key="retrain_train", disabled=status is not None and not status.finished):
    try:
        job_id = retrain.start_challenger(store.to_dataset(), user=user, store=store, store_version=store.version(), fresh_search=fresh_search)
        st.session_state["retrain_job"] = job_id
        status = _status_or_none(job_id)
    except (StoreError, retrain.RetrainBusy, PermissionDenied, ValueError) as error:
        _show_error(error)


@st.fragment(run_every=POLL_SECONDS)
def _training_progress(job: str) -> None:
    status = retrain.job_status(job)
    if status.state == "running":
        st.progress(status.fraction, text=f"{status.message} (started by {status.started_by} at {status.started_at}). Other users keep predicting meanwhile.")
    else:
        st.rerun(scope="app")


if status is not None and status.state == "running":
    _training_progress(job_id)
    if st.button("Cancel the training", key="retrain_cancel"):
        try:
            retrain.cancel_job(job_id, user=user)
        except PermissionDenied as error:
            _show_error(error)
        else:
            st.rerun()
elif status is not None and status.state in ("failed", "cancelled"):
    st.error(status.message)

# ---- 5. Compare and 6. promote or discard ----------------------------------------------
if status is not None and status.state == "done" and status.challenger_version:
    st.header("5. Champion and challenger on the same folds")
    challenger = status.challenger_version
    try:
        comparison = retrain.load_comparison(job_id)
    except FileNotFoundError:
        comparison = None
        st.info(f"Challenger {challenger} is trained. There was no champion to compare it with.")
    if comparison is not None:
        st.caption(comparison.protocol)
        for warning in comparison.warnings:
            st.warning(warning)
        st.dataframe(comparison.summary.style.format({"champion": "{:.4f}", "challenger": "{:.4f}"}), key="retrain_summary")
        wins = comparison.per_recipe["winner"].value_counts()
        st.markdown(
            f"Per recipe: the challenger is better on **{wins.get('challenger', 0)}**, the champion on **{wins.get('champion', 0)}**, "
            f"and **{wins.get('tie', 0)}** differ by less than {retrain.TIE_DELTA_E00} ΔE00."
        )
        figure = px.bar(
            comparison.per_recipe,
            x="recipe_id",
            y="difference",
            color="winner",
            color_discrete_map={"challenger": "#2a9d8f", "champion": "#e76f51", "tie": "#adb5bd"},
            title="Where each wins: mean ΔE00 of the champion minus the challenger, per recipe",
        )
        figure.update_layout(xaxis_title="Recipe", yaxis_title="ΔE00 champion − challenger (CIEDE2000; above 0: challenger better)", height=420)
        st.plotly_chart(figure, key="retrain_per_recipe_chart")
    st.header("6. Promote or discard")
    promote_column, discard_column = st.columns(2)
    if promote_column.button(f"Promote {challenger}", key="retrain_promote", type="primary"):
        try:
            retrain.promote_challenger(challenger, user=user)
        except (PermissionDenied, ValueError, RuntimeError) as error:
            _show_error(error)
        else:
            clear_champion_cache()
            st.session_state.pop("retrain_job", None)
            st.session_state["retrain_flash"] = f"{challenger} is now the champion; every session uses it from its next rerun."
            st.rerun()
    if discard_column.button(f"Discard {challenger}", key="retrain_discard"):
        try:
            retrain.discard_challenger(challenger, user=user)
        except (PermissionDenied, ValueError) as error:
            _show_error(error)
        else:
            st.session_state.pop("retrain_job", None)
            st.session_state["retrain_flash"] = f"{challenger} was discarded; the champion is unchanged."
            st.rerun()

# ---- Model history and rollback ------------------------------------------------------
st.header("Model history")
history = retrain.model_history()
st.dataframe(history, hide_index=True, width="stretch", key="retrain_history")
for row in history.head(ROLLBACK_ROWS).itertuples():
    if row.status == "champion":
        continue
    if st.button(f"Roll back to {row.version} ({row.status}, mean ΔE00 {row.delta_e00_mean:.2f})", key=f"retrain_rollback_{row.version}"):
        try:
            retrain.rollback(row.version, user=user)
        except (PermissionDenied, ValueError, RuntimeError) as error:
            _show_error(error)
        else:
            clear_champion_cache()
            st.session_state["retrain_flash"] = f"Rolled back: {row.version} is the champion again."
            st.rerun()

# ---- The measurement store -----------------------------------------------------------
st.header("Measurements in the store")
recipe = st.selectbox("Recipe", ["All recipes", *store.recipe_ids()], key="retrain_recipe_filter")
listing = store.measurements(None if recipe == "All recipes" else recipe)
shown = listing.drop(columns=[c for c in BAND_COLUMNS if c in listing.columns])
st.dataframe(shown, hide_index=True, width="stretch", key="retrain_measurements")
included_ids = listing.loc[listing["included"], "measurement_id"].tolist()
excluded_ids = listing.loc[~listing["included"], "measurement_id"].tolist()
exclude_column, include_column = st.columns(2)
with exclude_column:
    to_exclude = st.multiselect("Exclude from training", included_ids, key="retrain_exclude_ids")
    reason = st.text_input("Why", placeholder="e.g. suspect: mislabeled thickness", key="retrain_exclude_reason")
    if st.button("Exclude", key="retrain_exclude", disabled=not to_exclude):
        try:
            store.exclude(to_exclude, user=user, reason=reason)
            st.session_state["retrain_flash"] = f"Excluded {len(to_exclude)} measurements; they stay in the store."
            st.rerun()
        except (StoreError, PermissionDenied) as error:
            _show_error(error)
with include_column:
    to_include = st.multiselect("Include again", excluded_ids, key="retrain_include_ids")
    if st.button("Include", key="retrain_include", disabled=not to_include):
        try:
            store.include(to_include, user=user)
            st.session_state["retrain_flash"] = f"Included {len(to_include)} measurements again."
            st.rerun()
        except (StoreError, PermissionDenied) as error:
            _show_error(error)

uploads = store.uploads()
with st.expander("Uploads"):
    st.dataframe(uploads, hide_index=True, width="stretch", key="retrain_uploads")
    if len(uploads):
        upload_id = st.selectbox("Upload", uploads["upload_id"].tolist(), format_func=lambda i: f"#{i}: {uploads.set_index('upload_id').loc[i, 'source_files']}", key="retrain_upload_pick")
        left, right = st.columns(2)
        if left.button("Exclude the whole upload", key="retrain_exclude_upload"):
            try:
                store.exclude(store.upload_measurement_ids(upload_id), user=user, reason=f"upload {upload_id} excluded as a whole")
                st.session_state["retrain_flash"] = f"Excluded every measurement of upload {upload_id}."
                st.rerun()
            except (StoreError, PermissionDenied) as error:
                _show_error(error)
        if right.button("Include the whole upload", key="retrain_include_upload"):
            try:
                store.include(store.upload_measurement_ids(upload_id), user=user)
                st.session_state["retrain_flash"] = f"Included every measurement of upload {upload_id} again."
                st.rerun()
            except (StoreError, PermissionDenied) as error:
                _show_error(error)
