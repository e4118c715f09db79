"""Compare: the hyperparameter search's top 10, baseline against optimised, and the physics row.

UI only: the search, its persisted results, the comparison table, background jobs and
promotion live in ``model.ops.search``. Every figure shown was measured on recipes the
model did not train on: CV on the training recipes ranks, the held-out test recipes report.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.common import clear_champion_cache, current_user
from model.io.safe_csv import to_csv_bytes
from model.ops import search
from model.ops.access import PermissionDenied

# A background job's status file is read this often while it runs.
POLL_SECONDS = 1.0

TOP_COLUMNS = {
    "rank": "rank",
    "candidate": "trial",
    "layers": "layers",
    "activation": "activation",
    "solver": "solver",
    "alpha": "alpha (L2)",
    "learning_rate_init": "learning rate",
    "batch_size": "batch",
    "n_ensemble": "ensemble size",
    "input_transform": "inputs",
    "spectral_target": "spectral target",
    "max_iter": "max iterations",
    "n_parameters": "parameters",
    "cv_delta_e00_mean_headline": "CV mean ΔE00",
    "test_delta_e00_mean_headline": "test mean ΔE00",
    "test_delta_e00_p95_headline": "test p95 ΔE00",
    "test_spectral_mae": "test spectral MAE",
    "test_spectral_r2": "test spectral R²",
    "fit_seconds": "fit time (s)",
}

user = current_user()
st.title("Compare configurations")


@st.cache_data(show_spinner="Reading the search results…", max_entries=8)
def _load(run_dir: str) -> search.SearchResult:
    # Run folders are never rewritten, so the path is a sufficient cache key.
    return search.load_search(run_dir)


runs = search.list_search_runs()
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
    st.caption(
        f"Data: “{meta['dataset']['name']}”, {meta['dataset']['n_samples']} measurements of {meta['dataset']['n_recipes']} recipes. "
        f"{meta['protocol']} {meta['n_trials']} trials drawn from {meta['space_size']:,} combinations "
        f"(seed {meta['seed']}), {meta['seconds']:.0f} s. ΔE00 is CIEDE2000: below about 1 most people see no difference."
    )

    st.header(f"Top {len(result.top())} configurations")
    top = result.top()[list(TOP_COLUMNS)].rename(columns=TOP_COLUMNS)
    st.dataframe(
        top,
        hide_index=True,
        key="compare_top_table",
        column_config={
            "CV mean ΔE00": st.column_config.NumberColumn(format="%.2f", help="Ranking score: leave-recipe-out CV on the training recipes only."),
            "test mean ΔE00": st.column_config.NumberColumn(format="%.2f", help="Held-out test recipes, scored once after ranking."),
            "test p95 ΔE00": st.column_config.NumberColumn(format="%.2f"),
            "test spectral MAE": st.column_config.NumberColumn(format="%.4f", help="Mean absolute reflectance error (factor 0–1)."),
            "test spectral R²": st.column_config.NumberColumn(format="%.3f"),
            "fit time (s)": st.column_config.NumberColumn(format="%.2f", help="Mean wall-clock seconds per CV fit."),
            "alpha (L2)": st.column_config.NumberColumn(format="%.0e"),
            "learning rate": st.column_config.NumberColumn(format="%.0e", help="adam only; blank for lbfgs."),
        },
    )

    st.header("Baseline against optimised")
    st.caption(
        "On the held-out test recipes. Baseline: the old system's configuration ([64, 128, 64] ReLU, adam). "
        "Optimised: the search's rank 1. Improvement is positive when the optimised model is better. "
        "Spectral errors are in reflectance (0–1), CIELAB errors in L*a*b* units, training time in seconds."
    )
    st.dataframe(result.comparison(), hide_index=True, key="compare_baseline_table")
    st.caption(
        "The Kubelka–Munk row is physics fitted to the same training recipes. It has no emission term, so it cannot "
        "return more light than arrives; the fluorescent yellow's films do (reflectance above 1 in the green), and "
        "KM misses them by construction."
    )

    st.header("Score against size")
    trials = result.trials
    figure = go.Figure()
    for solver, group in trials.groupby("solver"):
        figure.add_scatter(
            x=group["n_parameters"], y=group["cv_delta_e00_mean_headline"], mode="markers", name=f"trials ({solver})",
            text=group["candidate"] + " · " + group["layers"].astype(str), hovertemplate="%{text}<br>%{x} parameters<br>CV ΔE00 %{y:.2f}<extra></extra>",
        )
    for name, symbol in ((search.BASELINE, "diamond"), (search.PHYSICS, "x")):
        row = result.row(name)
        figure.add_scatter(x=[row["n_parameters"]], y=[row["cv_delta_e00_mean_headline"]], mode="markers", name=name, marker={"symbol": symbol, "size": 12})
    figure.update_layout(height=380, margin={"t": 20})
    figure.update_xaxes(type="log", title="trainable parameters (count, log scale)")
    figure.update_yaxes(type="log", title="CV mean ΔE00 (CIEDE2000, log scale)")
    st.plotly_chart(figure, key="compare_score_chart")

    st.header("One configuration on the test recipes")
    reported = [*result.top()["candidate"], search.BASELINE, search.PHYSICS]
    candidate = st.selectbox("Configuration", reported, key="compare_candidate")
    predictions = result.predictions(candidate)
    parity = make_subplots(rows=1, cols=3, subplot_titles=("L*", "a*", "b*"))
    for column, axis in enumerate("Lab", start=1):
        measured, predicted = predictions[f"{axis}_measured"], predictions[f"{axis}_predicted"]
        low, high = float(min(measured.min(), predicted.min())), float(max(measured.max(), predicted.max()))
        parity.add_scatter(x=measured, y=predicted, mode="markers", text=predictions["sample_id"], showlegend=False, row=1, col=column,
                           hovertemplate="%{text}<br>measured %{x:.1f}<br>predicted %{y:.1f}<extra></extra>")
        parity.add_scatter(x=[low, high], y=[low, high], mode="lines", line={"dash": "dot", "color": "grey"}, showlegend=False, row=1, col=column)
        unit = "(0–100)" if axis == "L" else "(CIELAB units)"
        parity.update_xaxes(title=f"measured {axis}* {unit}", row=1, col=column)
        parity.update_yaxes(title=f"predicted {axis}* {unit}", row=1, col=column)
    parity.update_layout(height=360, margin={"t": 40})
    st.plotly_chart(parity, key="compare_parity_chart")

    per_recipe = result.per_recipe(candidate)
    bars = go.Figure(go.Bar(x=per_recipe["recipe_id"], y=per_recipe["delta_e00"]))
    bars.add_hline(y=1.0, line_dash="dot", annotation_text="ΔE00 1: barely visible")
    bars.update_layout(height=320, margin={"t": 20})
    bars.update_xaxes(title="test recipe")
    bars.update_yaxes(title="mean ΔE00 (CIEDE2000)")
    st.plotly_chart(bars, key="compare_recipe_chart")

    st.download_button(
        "Download every trial (CSV)", to_csv_bytes(result.all_rows()), file_name=f"search-{result.run_id}.csv", mime="text/csv", key="compare_download"
    )


# ---- Admin: start a search, promote a configuration ------------------------------------
@st.fragment(run_every=POLL_SECONDS)
def _job_progress(job_id: str) -> None:
    status = search.search_job_status(job_id)
    if not status.finished:
        st.progress(status.fraction, text=f"{status.kind}: {status.message}")
        return
    if status.state == "done":
        st.success(status.message)
        if status.kind == "promote" and not st.session_state.get(f"compare_cleared_{job_id}"):
            st.session_state[f"compare_cleared_{job_id}"] = True
            clear_champion_cache()
    else:
        st.error(status.message)
    st.session_state.pop("compare_job", None)
    st.button("Show the results", key="compare_refresh", on_click=_load.clear)


if user.is_admin:
    st.header("Admin")
    running = search.active_search_job()
    job_id = running.job_id if running else st.session_state.get("compare_job")
    if job_id:
        _job_progress(job_id)
    left, right = st.columns(2)
    with left:
        st.subheader("New search")
        st.caption("Runs in the background on the measurement store's data; predictions stay quick meanwhile.")
        n_trials = st.number_input("Trials", min_value=1, max_value=500, value=search.DEFAULT_TRIALS, key="compare_trials")
        seed = st.number_input("Seed", min_value=0, value=0, key="compare_seed")
        if st.button("Start search", key="compare_start", disabled=running is not None):
            from model.ops.store import open_store

            store = open_store()
            try:
                st.session_state["compare_job"] = search.start_search_job(store.to_dataset(), user=user, n_trials=int(n_trials), seed=int(seed))
                st.rerun()
            except (PermissionDenied, search.SearchBusy) as error:
                st.error(str(error))
    with right:
        st.subheader("Promote")
        if result is None:
            st.caption("Run a search first.")
        else:
            choice = st.selectbox("Configuration to promote", [*result.top()["candidate"], search.BASELINE], key="compare_promote_candidate")
            st.caption("Fits it on all of the data the search used (full leave-recipe-out CV first), saves a new version and makes it the champion.")
            if st.button("Train and promote", key="compare_promote", disabled=running is not None):
                from model.ops.store import open_store

                store = open_store()
                dataset = store.to_dataset()
                if dataset.fingerprint() != result.meta["dataset"]["fingerprint"]:
                    st.warning("The measurement store has changed since this search; the configuration is trained on the current data.")
                try:
                    st.session_state["compare_job"] = search.start_promotion_job(run_dir, choice, dataset, user=user, store_version=store.version())
                    st.rerun()
                except (PermissionDenied, search.SearchBusy, ValueError) as error:
                    st.error(str(error))
