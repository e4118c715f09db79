"""Retrain (admins only): upload measurements, train a challenger, compare it with the
champion on the same folds, promote or discard it; model history with rollback; the
measurement store with exclude/include.

UI only: reading and matching files, the store, training, comparison and promotion all
live in ``model/`` (``store.intake``, ``store.measurements``, ``jobs.retrain``, ``registry.review``,
``registry.promotion``).
Promote and rollback pass the one door to the champion: the verdict first, then a confirm
step, and a written reason for a model that predicts worse (``_decision``).

The running job and a challenger waiting for Promote or Discard are read from their
records (the job queue's status files and the models folder), not from this browser
session: after a reload, or in another admin's browser, the page shows the same.
"""

from __future__ import annotations

import streamlit as st

from dashboard.app_pages._decision import confirm_step, outcome_sentence, remember_outcome, show_outcome, show_verdict
from dashboard.app_pages._layout import set_up_page
from dashboard.auth import current_user
from dashboard.champion import clear_champion_cache
from model.auth.access import PermissionDenied
from model.core import settings
from model.core.files import StorageError
from model.io import IngestError
from model.io.safe_csv import neutralise_formulas
from model.io.upload import MAX_UPLOAD_ROWS
from model.jobs import retrain
from model.presentation import figures, tables
from model.registry import promotion, registry, review
from model.registry.registry import ModelRegistry
from model.store import intake
from model.store.measurements import MeasurementStore, StoreError, open_store

# Training is a worker process; the page polls its status file this often while it runs.
POLL_SECONDS = 1.0
# How many of the most recent former champions the rollback step considers.
ROLLBACK_ROWS = 10
FLASH_KEY = "retrain_flash"
JOB_KEY = "retrain_job"
ALL_RECIPES = "All recipes"

set_up_page()
user = current_user()
st.title("Retrain")
if not user.is_admin:
    # Hidden from viewers' navigation too; model/ refuses them as well (access.require_admin).
    st.info("Retraining is for admins. Sign in as an admin in the sidebar to upload measurements, train and promote models.")
    st.stop()


@st.cache_resource
def _store(data_dir: str) -> MeasurementStore:
    # The store object holds only its path; every call opens its own connection, so sharing it is safe.
    return open_store(data_dir)


def _show_error(error: Exception) -> None:
    st.error(str(error))


class _Steps:
    """Numbers the step headers a user sees, in order: "1. Upload", then "2. Train" until an upload adds steps between."""

    def __init__(self) -> None:
        self.shown = 0

    def header(self, title: str) -> None:
        self.shown += 1
        st.header(f"{self.shown}. {title}")


steps = _Steps()


def _act(action, flash: str | None, errors: tuple = (StoreError, PermissionDenied), after=None) -> None:
    """Run an admin action; on success keep ``flash`` (if any) for the next run, call ``after`` and rerun."""
    try:
        action()
    except errors as error:
        _show_error(error)
    else:
        if after is not None:
            after()
        st.session_state[FLASH_KEY] = flash
        st.rerun()


def _choose_suggestions(suggestions) -> list[str]:
    """Step 2's header, and a ticked-by-default box per near-miss name; returns the ticked names."""
    steps.header("Check the match report")
    if suggestions:
        st.markdown("**Near-miss names.** Tick each one that names the suggested recipe; unticked rows are left out.")
    return [
        entry.measured_name
        for index, entry in enumerate(suggestions)
        if st.checkbox(f"{entry.measured_name} (row {entry.row}) → {entry.recipe_id}: {entry.reason}", value=True, key=f"retrain_accept_{index}")
    ]


def _show_upload_review(upload: intake.UploadReview) -> None:
    columns = st.columns(5)
    columns[0].metric("Measurements to store", upload.n_new)
    columns[1].metric("Already in the store", upload.n_already_stored)
    columns[2].metric("Recipes", upload.n_recipes)
    columns[3].metric("Unmatched (left out)", len(upload.left_out))
    columns[4].metric("Duplicate readings (kept)", upload.n_duplicates)
    for note in upload.prepared.notes:  # what reading assumed (a colorant column left blank, read as 0 wt %)
        st.warning(note)
    report = upload.prepared.report
    if report is not None:
        if upload.left_out:
            st.warning("Left out: " + "; ".join(entry.describe() for entry in upload.left_out))
        if upload.suspect:
            st.warning("Please check (kept as named): " + "; ".join(entry.describe() for entry in upload.suspect))
        with st.expander("Every measured row"):
            st.dataframe(
                neutralise_formulas(report.to_frame()), hide_index=True, width="stretch", key="retrain_match_rows",
                column_config={"reason": st.column_config.TextColumn("reason", width="large"), "suspect": st.column_config.TextColumn("suspect", width="large")},
            )
    if upload.fluorescence is not None:
        st.info(upload.fluorescence.headline, icon=":material/flare:")
        if upload.fluorescence.left_out:
            st.warning("Fluorescence readings left out: " + "; ".join(entry.describe() for entry in upload.fluorescence.left_out))
        with st.expander("Every fluorescence reading"):
            st.dataframe(
                neutralise_formulas(upload.fluorescence.to_frame()), hide_index=True, width="stretch", key="retrain_fluorescence_rows",
                column_config={"reason": st.column_config.TextColumn("reason", width="large")},
            )
    if upload.n_new:
        st.plotly_chart(figures.measured_spectra_figure(upload.new_spectra), key="retrain_preview_chart")


store = _store(str(settings.data_dir()))
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash)

# ---- Upload, match report, commit (numbered as shown: the report and commit need files) ----
steps.header("Upload measurements")
st.caption(
    "Either the spectrophotometer's export together with its recipe table (two CSV files) and, optionally, a fluorescence "
    "table (`Sample ID, Fluorescence [ct/s]`: a third file), or one tidy CSV: "
    "`sample_id, recipe_id, <colorants, wt %>, thickness_um, R400 … R700` and optionally `fluorescence_cts` (ct/s). "
    f"At most {MAX_UPLOAD_ROWS:,} rows per file (measurements, recipes or readings): upload a larger set in parts."
)
files = st.file_uploader(
    "Measurement files", type=["csv", "txt"], accept_multiple_files=True, key="retrain_files",
    help=f"At most {MAX_UPLOAD_ROWS:,} rows per file; split a larger export and its recipe table into several uploads.",
)
# Train waits for an upload's new measurements to be stored: it trains on the store, not on the files.
uncommitted = False
if files:
    try:
        upload = intake.review_upload([(file.name, file.getvalue()) for file in files], store, choose=_choose_suggestions)
    except IngestError as error:
        st.error("These files cannot be used yet. Fix the rows below and upload again.")
        st.code(str(error), language=None)
        upload = None
    if upload is not None:
        _show_upload_review(upload)
        steps.header("Commit to the store")
        replace_demo, store_label = False, "Store these measurements"
        if upload.clashes_only_with_demo:
            st.warning(
                f"{upload.clash_summary[:1].upper()}{upload.clash_summary[1:]} in these files also appear in the synthetic demo data, "
                "with other colorants or amounts. The demo data was made by a simulator so that Huecast works before any "
                "measurement is uploaded; it is not measured. Replace it with your measurements: from now on the demo data "
                "is left out of training (it is kept, and can be included again under Uploads below), and yours are stored.",
                icon=":material/swap_horiz:",
            )
            replace_demo, store_label = True, "Replace the demo data with these measurements"
        elif upload.clashes:
            st.error(
                f"{upload.clash_summary[:1].upper()}{upload.clash_summary[1:]} are already in the store with other concentrations, "
                "so these files cannot be stored as they are: one recipe id must mean one recipe. Rename those recipes in the "
                "recipe table and upload again, or exclude the earlier upload under Uploads below. "
                + "; ".join(clash.describe() for clash in upload.clashes[:5])
            )
        elif upload.n_new and store.demo_in_use():
            replace_demo = st.checkbox(
                "Also replace the synthetic demo data (leave it out of training from now on; it is kept)", key="retrain_replace_demo_too",
                help="The demo data was simulated so that the app works at once. Keep it only if you want to train on it together with your measurements.",
            )
        if not upload.n_new and not upload.clashes:
            # Stored already (by this session a moment ago, or another): no button that would only say "nothing added".
            st.info(
                f"Every measurement in these files is in the store already ({upload.n_already_stored}): nothing to store. "
                "Remove the files above to upload others, or train a challenger below.", icon=":material/task_alt:",
            )
        elif st.button(store_label, key="retrain_commit", type="primary", disabled=bool(upload.clashes) and not upload.clashes_only_with_demo):
            try:
                result = store.add(upload.prepared, user=user, replace_demo=replace_demo)
            except (StoreError, PermissionDenied) as error:
                _show_error(error)
            else:
                replaced = " The synthetic demo data is now left out of training." if replace_demo and result.n_added else ""
                (st.success if result.n_added else st.info)(result.message + replaced)
                upload = None  # stored: nothing waits
        uncommitted = upload is not None and upload.n_new > 0

# ---- Train a challenger ---------------------------------------------------------------
steps.header("Train a challenger")
counts = store.counts()
st.caption(
    f"The store holds {counts['n_included']} included measurements of {counts['n_recipes']} recipes "
    f"({counts['n_measurements'] - counts['n_included']} excluded): “{store.data_name() or 'nothing included'}”, store version `{store.version()[:12]}`."
)
choice = st.radio(
    "Configuration",
    ["The champion's configuration", "A fresh search on this data"],
    key="retrain_config_choice",
    help="A fresh search ranks random configurations by leave-recipe-out CV first, so it takes several times longer.",
)
fresh_search = choice != "The champion's configuration"


def _status_or_none(job: str | None):
    try:
        return retrain.job_status(job) if job else None
    except FileNotFoundError:  # the data directory changed since this session started the job
        return None


# The job this session started is only remembered to say how it ended if it failed or was
# cancelled; what is running and what waits for a decision come from the records.
status = _status_or_none(st.session_state.get(JOB_KEY))
if status is None or status.state in ("running", "done"):
    status = retrain.active_job() or retrain.pending_challenger()
job_id = status.job_id if status is not None else None
busy = status is not None and not status.finished
if uncommitted:
    st.info(
        "Training waits until the uploaded measurements are stored (the step above) or the files removed: "
        "a challenger is trained on the store, not on the files.", icon=":material/lock:",
    )
elif not counts["n_included"]:
    st.info("There is nothing to train on yet: upload measurements and store them first.", icon=":material/lock:")
if st.button("Train a challenger", key="retrain_train", disabled=busy or uncommitted or not counts["n_included"]):
    try:
        snapshot = intake.store_snapshot(store)
        job_id = retrain.start_challenger(snapshot.dataset, user=user, store=store, store_version=snapshot.store_version, fresh_search=fresh_search)
        st.session_state[JOB_KEY] = job_id
        status = _status_or_none(job_id)
    except (StoreError, StorageError, retrain.RetrainBusy, PermissionDenied, ValueError) as error:
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


def _forget_job() -> None:
    st.session_state.pop(JOB_KEY, None)


def _after_promotion() -> None:
    clear_champion_cache()
    _forget_job()


# ---- Compare, then promote or discard --------------------------------------------------
if status is not None and status.state == "done" and status.challenger_version:
    challenger = status.challenger_version
    try:
        verdict, error = promotion.verdict(challenger), None
    except (registry.IntegrityError, ValueError) as caught:
        verdict, error = None, caught
    # The header promises a comparison only where there is one (not against a champion of other colorants).
    if verdict is not None and verdict.compared:
        steps.header("Champion and challenger on the same folds")
    else:
        steps.header("The challenger" if verdict is not None and verdict.outcome == "first" else "The challenger and the champion")
    if error is not None:
        _show_error(error)
    if verdict is not None:
        show_verdict(verdict)
    st.caption(f"Challenger {challenger} was trained by {status.started_by} (job started {status.started_at}); it waits for an admin to promote or discard it.")
    try:
        comparison = retrain.load_comparison(job_id)
    except FileNotFoundError:
        comparison = None
    if comparison is not None:
        st.caption(comparison.protocol)
        for warning in comparison.warnings:
            st.warning(warning)
        st.dataframe(neutralise_formulas(tables.comparison_summary_table(comparison.summary)), key="retrain_summary")
        wins = review.recipe_wins(comparison.per_recipe)
        st.markdown(
            f"Per recipe: the challenger is better on **{wins['challenger']}**, the champion on **{wins['champion']}**, "
            f"and **{wins['tie']}** differ by less than {retrain.TIE_DELTA_E00} ΔE00."
        )
        st.plotly_chart(figures.challenger_per_recipe_figure(comparison.per_recipe), key="retrain_per_recipe_chart")
    steps.header("Promote or discard")
    ready, confirmed, reason = confirm_step(verdict, "retrain_promote", f"make {challenger} the champion") if verdict is not None else (False, False, "")
    promote_column, discard_column = st.columns(2)
    if promote_column.button(f"Promote {challenger}", key="retrain_promote", type="primary", disabled=not ready):
        previous = ModelRegistry().champion_version()
        _act(
            lambda: retrain.promote_challenger(challenger, user=user, confirm=confirmed, override_reason=reason),
            None,
            (PermissionDenied, ValueError, RuntimeError),
            after=lambda: (_after_promotion(), remember_outcome(outcome_sentence(challenger, previous))),
        )
    if discard_column.button(f"Discard {challenger}", key="retrain_discard"):
        _act(
            lambda: retrain.discard_challenger(challenger, user=user),
            f"{challenger} was discarded; the champion is unchanged.",
            (PermissionDenied, ValueError),
            after=_forget_job,
        )

# ---- Model history and rollback ------------------------------------------------------
st.header("Model history")
show_outcome()
st.dataframe(
    neutralise_formulas(tables.model_history_table(retrain.model_history())), hide_index=True, width="stretch", key="retrain_history",
    column_config={
        "comparable with the champion": st.column_config.TextColumn(
            "comparable with the champion", width="large", help="Error figures of models trained on other data or colorants cannot be compared.",
        ),
        "mean error per film (ΔE00)": st.column_config.NumberColumn(
            "mean error per film (ΔE00)",
            help="Leave-recipe-out mean CIEDE2000 over the films of the model's own data. Overview averages each recipe's films first, so its figures differ a little.",
        ),
        "95 % of films below (ΔE00)": st.column_config.NumberColumn(
            "95 % of films below (ΔE00)", help="The 95th percentile of the films' errors in each repeat of the cross-validation, averaged over the repeats.",
        ),
    },
)
options = promotion.rollback_options(newest=ROLLBACK_ROWS)
offered = {option.version: option for option in options if not option.refusal}
if offered:
    st.subheader("Roll back")
    target = st.selectbox("Roll back to", list(offered), key="retrain_rollback_version", help="Only earlier champions scored on the same colorants and data as the champion.")
    show_verdict(offered[target])
    ready, confirmed, reason = confirm_step(offered[target], "retrain_rollback", f"make {target} the champion again")
    if st.button(f"Roll back to {target}", key="retrain_rollback", disabled=not ready):
        previous = ModelRegistry().champion_version()
        _act(
            lambda: retrain.rollback(target, user=user, confirm=confirmed, override_reason=reason),
            None,
            (PermissionDenied, ValueError, RuntimeError),
            after=lambda: (clear_champion_cache(), remember_outcome(outcome_sentence(target, previous))),
        )
not_offered = [option for option in options if option.refusal]
if not_offered:
    st.caption("Not offered for rollback: " + " ".join(f"{option.refusal}" for option in not_offered))

# ---- The measurement store -----------------------------------------------------------
st.header("Measurements in the store")
recipe = st.selectbox("Recipe", [ALL_RECIPES, *store.recipe_ids()], key="retrain_recipe_filter")
listing = intake.store_listing(store, None if recipe == ALL_RECIPES else recipe)
st.dataframe(neutralise_formulas(listing.table), hide_index=True, width="stretch", key="retrain_measurements")
exclude_column, include_column = st.columns(2)
with exclude_column:
    to_exclude = st.multiselect("Exclude from training", listing.included_ids, key="retrain_exclude_ids")
    reason = st.text_input("Why", placeholder="e.g. suspect: mislabeled thickness", key="retrain_exclude_reason")
    if st.button("Exclude", key="retrain_exclude", disabled=not to_exclude):
        _act(lambda: store.exclude(to_exclude, user=user, reason=reason), f"Excluded {len(to_exclude)} measurements; they stay in the store.")
with include_column:
    to_include = st.multiselect("Include again", listing.excluded_ids, key="retrain_include_ids")
    if st.button("Include", key="retrain_include", disabled=not to_include):
        _act(lambda: store.include(to_include, user=user), f"Included {len(to_include)} measurements again.")

uploads = store.uploads()
with st.expander("Uploads"):
    st.dataframe(
        neutralise_formulas(uploads), hide_index=True, width="stretch", key="retrain_uploads",
        column_config={"notes": st.column_config.TextColumn("notes", width="large", help="What reading the files assumed, e.g. a colorant column left blank, read as 0 wt %.")},
    )
    labels = intake.upload_labels(uploads)
    if labels:
        upload_id = st.selectbox("Upload", list(labels), format_func=labels.get, key="retrain_upload_pick")
        left, right = st.columns(2)
        if left.button("Exclude the whole upload", key="retrain_exclude_upload"):
            _act(
                lambda: store.exclude(store.upload_measurement_ids(upload_id), user=user, reason=f"upload {upload_id} excluded as a whole"),
                f"Excluded every measurement of upload {upload_id}.",
            )
        if right.button("Include the whole upload", key="retrain_include_upload"):
            _act(lambda: store.include(store.upload_measurement_ids(upload_id), user=user), f"Included every measurement of upload {upload_id} again.")
