"""Compare: whether a search found a better configuration than the served one, in one sentence; then the scores; then the details.

UI only: the search, its persisted results, the comparison table and background jobs live
in ``model.jobs.search``. A configuration is never promoted from here: it is trained as a
challenger (``model.jobs.retrain``), scored against the champion on the same folds, and an
admin decides on the Retrain page, through the one door to the champion (``model.registry.promotion``); the store's current data and whether the shown
search ran on it in ``model.store.intake``; the figures in ``model.presentation``. Every figure shown was measured on recipes the
model did not train on: CV on the training recipes ranks, the held-out test recipes report.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import champion
from dashboard.app_pages._layout import set_up_page
from dashboard.auth import current_user
from model.auth.access import PermissionDenied
from model.core.files import StorageError
from model.io.safe_csv import neutralise_formulas, to_csv_bytes
from model.jobs import retrain, search
from model.presentation import figures
from model.registry import promotion, registry, review, search_review
from model.store import intake
from model.store.measurements import StoreError, open_store

# A background job's status file is read this often while it runs.
POLL_SECONDS = 1.0
_TONE_ICONS = {"success": ":material/verified:", "info": ":material/info:", "warning": ":material/warning:"}

set_up_page()
user = current_user()
model, card = champion.full_model()
st.title("Compare configurations")


@st.cache_data(show_spinner="Reading the search results…", max_entries=8)
def _load(run_dir: str) -> search.SearchResult:
    # Run folders are never rewritten, so the path is a sufficient cache key.
    return search.load_search(run_dir)


def _finished_job(job_id: str | None):
    """The status of a job this session saw finish, or None (none, or its folder has since been removed)."""
    try:
        return search.search_job_status(job_id) if job_id else None
    except FileNotFoundError:
        return None


verdict_area = st.container()  # the verdict comes first; the run it is about is chosen below it
runs = search.list_search_runs()
# The last job this session followed to its end, and, once, the run a search it followed has just saved.
finished = _finished_job(st.session_state.get("compare_finished"))
if st.session_state.pop("compare_select_new", False) and finished is not None and finished.kind == search.SEARCH_JOB and finished.output:
    if Path(finished.output) in runs:
        st.session_state["compare_run"] = Path(finished.output)
if not runs:
    st.info(
        "No search results yet. Run one from a terminal: "
        "`python -m model search --data data/demo --trials 50 --jobs -1`"
        + (", or start one below." if user.is_admin else ", or ask an admin.")
    )
    result = None
else:
    run_dir = st.selectbox("Search run", runs, format_func=lambda path: path.name, key="compare_run")
    result = _load(str(run_dir))

if result is not None:
    meta = result.meta
    data = review.data_name(meta["dataset"])
    verdict = search_review.search_verdict(result, serving_version=card.version)
    former = search_review.former_champion(result, card.version)  # the champion the search scored, if another serves now
    # Green only for good news (a configuration that predicts better than the served one); blue for "keep it".
    getattr(verdict_area, verdict.tone)(verdict.sentence, icon=_TONE_ICONS[verdict.tone])
    if not search_review.search_matches_champion(meta, card):
        verdict_area.warning(
            f"This search is stale: it ran on “{data}”, not on the data of the model in use "
            f"(“{review.data_name(card.dataset)}”), so its ranking may not hold for that data. "
            + ("Start a new search below." if user.is_admin else "Ask an admin to run a new search."),
            icon=":material/history:",
        )
    st.caption(
        f"Scored on {len(meta.get('test_recipes', [])) or 'the'} test recipes that no model saw while it was chosen or trained, "
        f"from “{data}” ({meta['dataset']['n_samples']} measurements of {meta['dataset']['n_recipes']} recipes). "
        f"{review.DELTA_E00_EXPLANATION}"
    )

    st.header("Scores on recipes no model saw")
    st.dataframe(
        neutralise_formulas(search_review.search_scores(result, serving_version=card.version)),
        hide_index=True,
        key="compare_scores",
        column_config={
            "configuration": st.column_config.TextColumn(width="medium"),
            "mean error (ΔE00)": st.column_config.NumberColumn(format="%.2f", help="Mean CIEDE2000 colour difference on the test recipes."),
            "95 % below (ΔE00)": st.column_config.NumberColumn(format="%.2f", help="95 % of the test errors were below this."),
            "spectral error": st.column_config.NumberColumn(format="%.3f", help="Mean absolute reflectance error (factor 0–1)."),
            "training (s)": st.column_config.NumberColumn(format="%.1f", help="Seconds to fit once on the training recipes."),
        },
        width="stretch",
    )

    st.header(f"Top {len(result.top())} configurations")
    st.caption(
        "Ranked by cross-validation on the training recipes (CV); the test column is the held-out recipes, scored once after ranking. "
        + (f"The last row is {f'the configuration of {former}, which served when the search ran' if former else 'the served model’s configuration'}, scored the same way."
           if result.has_champion else "")
    )
    score_format = {
        "rank": st.column_config.NumberColumn(width="small"),
        "configuration": st.column_config.TextColumn(width="medium", help="The model in words: physics plus networks of this size."),
        "test mean ΔE00": st.column_config.NumberColumn(format="%.2f", help="Held-out test recipes, scored once after ranking."),
        "CV mean ΔE00": st.column_config.NumberColumn(format="%.2f", help="Ranking score: leave-recipe-out CV on the training recipes only."),
        "95 % below (ΔE00)": st.column_config.NumberColumn(format="%.2f", help="95 % of the test errors were below this."),
        "training (s)": st.column_config.NumberColumn(format="%.1f", help="Mean wall-clock seconds per CV fit."),
    }
    st.dataframe(
        neutralise_formulas(search_review.search_top_configurations(result, serving_version=card.version)), hide_index=True, key="compare_top_table",
        column_config=score_format, width="stretch",
    )

    st.header("One configuration on the test recipes")
    reported = [*result.top()["candidate"], *(name for name in search.REFERENCES if name in set(result.references["candidate"]))]
    candidate = st.selectbox("Configuration", reported, key="compare_candidate")
    st.plotly_chart(figures.parity_figure(result.predictions(candidate)), key="compare_parity_chart")
    st.plotly_chart(figures.recipe_errors_figure(result.per_recipe(candidate)), key="compare_recipe_chart")

    with st.expander("Engineering details: every setting, the old system's comparison, score against size"):
        st.caption(
            f"{meta['protocol']} {meta['n_trials']} trials drawn from {meta['space_size']:,} combinations "
            f"(seed {meta['seed']}), {meta['seconds']:.0f} s."
        )
        st.dataframe(
            neutralise_formulas(search_review.search_top_configurations(result, details=True, serving_version=card.version)),
            hide_index=True,
            key="compare_details_table",
            column_config={
                **score_format,
                "L2 penalty (plain heads)": st.column_config.NumberColumn(format="%.0e"),
                "L2 penalty (residual heads)": st.column_config.NumberColumn(format="%.0e"),
                "physics ridge": st.column_config.NumberColumn(format="%.0e"),
                "physics smoothness": st.column_config.NumberColumn(format="%.0e"),
                "learning rate": st.column_config.NumberColumn(format="%.0e", help="adam only; blank for lbfgs."),
            },
        )
        st.markdown("**Baseline against optimised** (held-out test recipes)")
        st.caption(
            "Baseline: the old system's configuration ([64, 128, 64] ReLU, adam). Optimised: the search's rank 1. "
            "The improvement row is in percent and positive when the optimised model is better. Spectral errors are in "
            "reflectance (0–1), CIELAB errors in L*a*b* units, training time in seconds."
        )
        st.dataframe(
            neutralise_formulas(result.comparison()), hide_index=True, key="compare_baseline_table",
            column_config={column: st.column_config.NumberColumn(format="%.3g") for column in result.comparison().columns if column != "model"},
        )
        st.caption(
            "The Kubelka–Munk row is the served model's physics alone (with its fluorescence emission term), fitted to the "
            "same training recipes." + (" The champion's row is the served model's configuration, refitted the same way." if result.has_champion else "")
        )
        st.markdown("**Score against size**")
        st.plotly_chart(figures.score_against_size_figure(result.trials, result.references), key="compare_score_chart")

    st.download_button(
        "Download every trial (CSV)", to_csv_bytes(result.all_rows()), file_name=f"search-{result.run_id}.csv", mime="text/csv", key="compare_download"
    )


# ---- Admin: start a search, train a configuration as a challenger -----------------------
def _hand_over(version: str) -> None:
    """A trained challenger: its verdict against the champion, and where to decide."""
    try:
        verdict = promotion.verdict(version)
    except (registry.IntegrityError, ValueError) as error:
        st.error(str(error))
        return
    getattr(st, verdict.tone)(verdict.sentence)
    st.page_link("app_pages/retrain.py", label=f"Promote or discard {version} on the Retrain page", icon=":material/arrow_forward:")


@st.fragment(run_every=POLL_SECONDS)
def _job_progress(job_id: str) -> None:
    status = search.search_job_status(job_id)
    if not status.finished:
        st.progress(status.fraction, text=f"{status.kind}: {status.message}")
        return
    # Done: rerun the whole page once. A rerun of this fragment alone (what a button in it gives) never reaches
    # the run list and the verdict above it, so the results stayed hidden until the page was left (issue 26).
    st.session_state.pop("compare_job", None)
    st.session_state["compare_finished"] = job_id
    st.session_state["compare_select_new"] = True
    _load.clear()
    st.rerun(scope="app")


def _job_outcome(status) -> None:
    """What a finished job made: its message and, for a challenger, the hand-over to the one door."""
    if status.state == "done":
        st.success(status.message + (" Its results are shown above." if status.kind == search.SEARCH_JOB else ""))
        if status.kind == retrain.TRAINING_JOB and status.output:
            _hand_over(status.output)
    else:
        st.error(status.message)


if user.is_admin:
    st.header("Admin")
    running = search.active_search_job() or retrain.active_job()
    job_id = running.job_id if running else st.session_state.get("compare_job")
    if job_id:
        _job_progress(job_id)
    elif finished is not None:
        _job_outcome(finished)
    left, right = st.columns(2)
    with left:
        st.subheader("New search")
        st.caption("Runs in the background on the measurement store's data; predictions stay quick meanwhile.")
        n_trials = st.number_input("Trials", min_value=1, max_value=500, value=search.DEFAULT_TRIALS, key="compare_trials")
        seed = st.number_input("Seed", min_value=0, value=0, key="compare_seed")
        if st.button("Start search", key="compare_start", disabled=running is not None):
            try:
                dataset = intake.store_snapshot().dataset
                st.session_state["compare_job"] = search.start_search_job(dataset, user=user, n_trials=int(n_trials), seed=int(seed))
                st.rerun()
            except (PermissionDenied, search.SearchBusy, StoreError, StorageError) as error:
                st.error(str(error))
    with right:
        st.subheader("Try a configuration")
        if result is None:
            st.caption("Run a search first.")
        else:
            choice = st.selectbox("Configuration", [*result.top()["candidate"], search.BASELINE], key="compare_challenger_candidate")
            st.caption(
                "Trains it as a challenger on the store's current data (full leave-recipe-out CV), scores the champion on the same "
                "folds, and hands over: you see the verdict, and promote or discard it on the Retrain page. Nothing serves until you do."
            )
            if st.button("Train as a challenger", key="compare_challenger", disabled=running is not None):
                try:
                    store = open_store()
                    snapshot = intake.store_snapshot(store)
                    st.session_state["compare_job"] = retrain.start_challenger(
                        snapshot.dataset, user=user, model=result.model(choice), store=store,
                        store_version=snapshot.store_version, notes={"search_run": result.run_id, "search_candidate": choice},
                    )
                    st.rerun()
                except (PermissionDenied, search.SearchBusy, ValueError, StoreError, StorageError) as error:
                    st.error(str(error))
