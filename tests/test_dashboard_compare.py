"""The Compare page in AppTest: the verdict against the served model, the top 10 in words, the figures at 800 px,
the results after a finished search, roles."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from model.core.files import atomic_write_json
from model.jobs import job_queue
from model.jobs.search_result import list_search_runs, load_search
from model.presentation import figures
from model.registry import search_review
from model.registry.registry import ModelRegistry
from model.store import intake
from model.store.measurements import open_store

PAGE = "app_pages/compare.py"


def _models_dir(repo_root, tmp_path, with_search: bool):
    """A copy of the shipped champion (and, optionally, the shipped search results) in tmp_path."""
    source = repo_root / "trained_models"
    target = tmp_path / "models"
    target.mkdir()
    version = ModelRegistry(source).champion_version()
    shutil.copytree(source / version, target / version)
    shutil.copy(source / "CHAMPION", target / "CHAMPION")
    if with_search:
        shutil.copytree(source / "search", target / "search", ignore=shutil.ignore_patterns(".jobs", ".staging-*"))
    return target


def _open(repo_root, tmp_path, monkeypatch, *, with_search=True, secrets=None) -> AppTest:
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(_models_dir(repo_root, tmp_path, with_search)))
    monkeypatch.setenv("HUECAST_DATA_DIR", str(tmp_path / "data"))
    app = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=60)
    for section, values in (secrets or {}).items():
        app.secrets[section] = values
    app.run()
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, app.exception
    return app


def _table_with(app: AppTest, column: str):
    tables = [element.value for element in app.dataframe if column in element.value.columns]
    assert tables, f"no table with a {column!r} column on the page"
    return tables[0]


def _shipped_search(repo_root):
    return load_search(list_search_runs(repo_root / "trained_models")[0])


def test_shows_top_ten_in_words_then_the_served_model_and_the_baseline_table(repo_root, tmp_path, monkeypatch):
    app = _open(repo_root, tmp_path, monkeypatch)
    result = _shipped_search(repo_root)
    assert result.has_champion  # the shipped search scored the served configuration (issue 23)
    top = next(element for element in app.dataframe if "CV mean ΔE00" in element.value.columns)  # the first: the top 10
    table = top.value
    # What a reader needs first, named in words: nothing cut at "solv…" at 800 px (issue 26).
    assert list(table.columns) == ["rank", "configuration", "test mean ΔE00", "CV mean ΔE00", "95 % below (ΔE00)", "training (s)"]
    assert not [column for column in table.columns if "_" in column]
    assert len(table) == 11 and list(table["rank"].iloc[:10]) == list(range(1, 11)) and pd.isna(table["rank"].iloc[10])
    assert table["CV mean ΔE00"].iloc[:10].is_monotonic_increasing
    assert table["configuration"].iloc[0].startswith("physics + ") and table["configuration"].iloc[10].startswith("served: physics + ")
    # A table cell does not wrap: the configuration is said in few enough words to fit its column at 800 px.
    assert table["configuration"].str.len().max() <= 44 and top.proto.columns and '"width": "medium"' in top.proto.columns
    details = _table_with(app, "L2 penalty (residual heads)")
    for column in ("trial", "neurons per layer", "activation", "members", "max iterations", "inputs", "L2 penalty (plain heads)",
                   "physics ridge", "physics smoothness", "blend step", "parameters", "test mean ΔE00", "CV mean ΔE00"):
        assert column in details.columns
    comparison = _table_with(app, "spectral MAE")
    rows = list(comparison["model"])
    assert rows[0].startswith("baseline") and rows[1].startswith("optimised") and "improvement (%)" in rows
    assert any(row.startswith("Kubelka–Munk") for row in rows) and rows[-1] == "champion's configuration (served)"
    # A local install is a single admin: the admin controls are there.
    assert app.button(key="compare_start") is not None


def test_the_parity_panels_do_not_overlap_at_800_px(repo_root):
    result = _shipped_search(repo_root)
    figure = figures.parity_figure(result.predictions(result.best))
    layout = figure.layout
    plot_px = 450 - layout.margin.l - layout.margin.r  # an 800 px window with the sidebar open leaves the chart about 450 px
    x_axes = [layout.xaxis, layout.xaxis2, layout.xaxis3]
    y_axes = [layout.yaxis, layout.yaxis2, layout.yaxis3]
    for x_axis in x_axes:  # about 8 px a character at Plotly's 14 px title font
        assert len(x_axis.title.text or "") * 8 <= (x_axis.domain[1] - x_axis.domain[0]) * plot_px
    # A y title sits in the gap left of its panel, over the neighbour's plot: only the first panel has one.
    assert y_axes[0].title.text and not y_axes[1].title.text and not y_axes[2].title.text
    for left, right in zip(x_axes, x_axes[1:]):  # room for the tick labels ("100") between panels
        assert (right.domain[0] - left.domain[1]) * plot_px >= 40
    assert [annotation.text for annotation in layout.annotations] == ["L* (0–100)", "a* (CIELAB units)", "b* (CIELAB units)"]


def _finished_search_job(data_dir, run_dir) -> str:
    """A search job as the queue leaves it when done: its status file, naming the run it saved."""
    job_id = "20261207-060000-abcdef"
    job_dir = data_dir / "jobs" / job_id
    job_dir.mkdir(parents=True)
    status = job_queue.JobStatus(job_id, "search", "done", 1.0, "Search finished in 42 s; best trial-001.", "admin", "t0", "t1", output=str(run_dir))
    atomic_write_json(job_dir / job_queue.STATUS_FILE, asdict(status))
    return job_id


def test_a_finished_search_shows_its_results_at_once(repo_root, tmp_path, monkeypatch):
    """Issue 26: "Show the results" reran only its fragment, so the results appeared only after leaving the page."""
    models = _models_dir(repo_root, tmp_path, with_search=True)
    shipped = list_search_runs(models)[0]
    newer = shipped.with_name("29991231-235959-00000000-seed7")  # the run the job saved: newer than any other
    shutil.copytree(shipped, newer)
    meta = json.loads((newer / "run.json").read_text(encoding="utf-8"))
    (newer / "run.json").write_text(json.dumps({**meta, "run_id": newer.name}), encoding="utf-8")
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(models))
    monkeypatch.setenv("HUECAST_DATA_DIR", str(tmp_path / "data"))
    app = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=60).run()
    app.switch_page(PAGE).run()
    app.selectbox(key="compare_run").set_value(shipped).run()  # the admin looks at the older run meanwhile
    app.session_state["compare_job"] = _finished_search_job(tmp_path / "data", newer)
    app.run()
    assert not app.exception, app.exception
    # The page reran as a whole, once: the new run is selected and its message shown, with nothing to click.
    assert app.selectbox(key="compare_run").value == newer
    assert any(message.value.startswith("Search finished in 42 s") for message in app.success)
    assert "compare_refresh" not in {button.key for button in app.button}
    assert "compare_job" not in app.session_state
    app.selectbox(key="compare_run").set_value(shipped).run()  # and the admin may still choose another run
    assert app.selectbox(key="compare_run").value == shipped


def test_selecting_a_configuration_redraws_without_error(repo_root, tmp_path, monkeypatch):
    app = _open(repo_root, tmp_path, monkeypatch)
    options = app.selectbox(key="compare_candidate").options
    assert {"champion", "baseline", "kubelka-munk"} <= set(options) and len(options) == 13
    app.selectbox(key="compare_candidate").set_value("kubelka-munk").run()
    assert not app.exception
    assert app.selectbox(key="compare_candidate").value == "kubelka-munk"


def test_viewer_sees_results_but_no_admin_controls(repo_root, tmp_path, monkeypatch):
    secrets = {"auth": {"admin_password_hash": "pbkdf2_sha256$1$c2FsdA==$aGFzaA=="}}
    app = _open(repo_root, tmp_path, monkeypatch, secrets=secrets)
    assert len(_table_with(app, "CV mean ΔE00")) == 11
    keys = {button.key for button in app.button}
    assert "compare_start" not in keys and "compare_challenger" not in keys


def test_without_results_the_page_says_how_to_get_them(repo_root, tmp_path, monkeypatch):
    app = _open(repo_root, tmp_path, monkeypatch, with_search=False)
    assert any("python -m model search" in info.value for info in app.info)
    assert not [element for element in app.dataframe if "CV mean ΔE00" in element.value.columns]


def test_a_search_is_stale_once_the_data_differs_from_what_it_ran_on(tiny_dataset):
    meta = {"dataset": {"name": "tiny", "fingerprint": tiny_dataset.fingerprint()}}
    assert not intake.search_is_stale(meta, tiny_dataset)
    assert intake.search_is_stale(meta, tiny_dataset.subset(np.arange(len(tiny_dataset) - 1)))
    assert intake.search_is_stale({}, tiny_dataset)  # a search that names no data cannot vouch for any


def test_the_store_snapshot_is_what_a_job_started_now_trains_on(tmp_path, monkeypatch):
    monkeypatch.setenv("HUECAST_DATA_DIR", str(tmp_path))
    snapshot = intake.store_snapshot()  # the default store, seeded with the demo data
    store = open_store()
    assert snapshot.store_version == store.version()
    assert snapshot.dataset.fingerprint() == store.to_dataset().fingerprint()


def test_the_page_opens_with_the_verdict_then_the_scores(repo_root, tmp_path, monkeypatch):
    app = _open(repo_root, tmp_path, monkeypatch)
    result = _shipped_search(repo_root)
    verdict = search_review.search_verdict(result)
    best, champion, physics, baseline = (result.row(name)["test_delta_e00_mean_headline"] for name in (result.best, "champion", "kubelka-munk", "baseline"))
    # Said first, in plain words, against the served model, in the box its message belongs in.
    shown = {"success": app.success, "info": app.info, "warning": app.warning}[verdict.tone]
    assert verdict.sentence in [element.value for element in shown]
    assert f"{min(best, champion):.2f} against {max(best, champion):.2f} ΔE00 on average" in verdict.sentence
    assert verdict.tone == ("success" if verdict.sentence.startswith("The best configuration found") else "info")
    scores = _table_with(app, "mean error (ΔE00)")
    assert list(scores["configuration"]) == [f"best found ({result.best})", "served model (champion)", "physics alone (Kubelka–Munk)", "old system's network"]
    assert list(scores["mean error (ΔE00)"]) == [best, champion, physics, baseline]
    assert scores["vs served model"].iloc[1] == "—"
    assert app.expander and app.expander[0].label.startswith("Engineering details")
    assert "Synthetic demo" in app.caption[0].value


def test_a_search_of_other_data_than_the_champions_is_marked_stale(repo_root, tmp_path, monkeypatch):
    models = _models_dir(repo_root, tmp_path, with_search=True)
    version = ModelRegistry(models).champion_version()
    card_path = models / version / "card.json"
    card = card_path.read_text(encoding="utf-8")
    # The champion now names other data (as after promoting a model of real measurements).
    card_path.write_text(card.replace(ModelRegistry(models).read_card(version).dataset["fingerprint"], "0" * 64), encoding="utf-8")
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(models))
    monkeypatch.setenv("HUECAST_DATA_DIR", str(tmp_path / "data"))
    app = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=60).run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    assert any(w.value.startswith("This search is stale: it ran on “Synthetic demo”") for w in app.warning), [w.value for w in app.warning]


def test_after_a_promotion_the_page_says_the_search_scored_the_former_champion(repo_root, tmp_path, monkeypatch):
    models = _models_dir(repo_root, tmp_path, with_search=True)
    former = ModelRegistry(models).champion_version()
    now = "20991231-000000-0000000a"  # the same model promoted again under another version, as after a retrain
    shutil.copytree(models / former, models / now)
    card_path = models / now / "card.json"
    card_path.write_text(card_path.read_text(encoding="utf-8").replace(former, now), encoding="utf-8")
    (models / "CHAMPION").write_text(now + "\n", encoding="utf-8")
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(models))
    monkeypatch.setenv("HUECAST_DATA_DIR", str(tmp_path / "data"))
    app = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=60).run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    assert not [box.value for box in (*app.info, *app.success) if "Keep it" in box.value or "closer than the served model's configuration" in box.value]
    assert any(box.value.startswith(f"This search was scored against {former}, the model that served when it ran; {now} serves now") for box in app.warning)
    scores = _table_with(app, "mean error (ΔE00)")
    assert f"served when searched ({former})" in list(scores["configuration"])


class _Result:
    """Just what search_review reads of a SearchResult."""

    best = "trial-002"

    def __init__(self, rows: pd.DataFrame, has_champion: bool):
        self.rows, self.has_champion = rows, has_champion
        self.meta = {"test_recipes": ["R1", "R2", "R3"], "champion": {"version": "v-then"}}

    def row(self, name):
        return self.rows[self.rows["candidate"] == name].iloc[0]


def _rows(**errors) -> pd.DataFrame:
    rows = [
        {"candidate": "trial-002", "kind": "HybridModel", "layers": "16", "n_ensemble": 2.0, "test_delta_e00_p95_headline": 2.0, "test_spectral_mae": 0.01, "test_fit_seconds": 1.0},
        {"candidate": "champion", "kind": "HybridModel", "layers": "32", "n_ensemble": 3.0, "test_delta_e00_p95_headline": 1.9, "test_spectral_mae": 0.01, "test_fit_seconds": 3.0},
        {"candidate": "baseline", "kind": "FormulationModel", "layers": "64-128-64", "n_ensemble": 1.0, "test_delta_e00_p95_headline": 5.0, "test_spectral_mae": 0.03, "test_fit_seconds": 2.0},
        {"candidate": "kubelka-munk", "kind": "FluorescentKubelkaMunkModel", "layers": None, "n_ensemble": None, "test_delta_e00_p95_headline": 1.5, "test_spectral_mae": 0.02, "test_fit_seconds": 0.5},
    ]
    for row in rows:
        row["test_delta_e00_mean_headline"] = errors[row["candidate"].replace("-", "_")]
    return pd.DataFrame(rows)


def test_the_verdict_against_the_served_model_in_words_and_colour():
    keep = search_review.search_verdict(_Result(_rows(trial_002=1.25, champion=1.10, baseline=2.0, kubelka_munk=1.4), True))
    assert keep.sentence == (
        "The served model's configuration predicts recipes it never saw 12 % closer than the best configuration found, trial-002 (physics + 2 sets of "
        "networks, each with one layer of 16 neurons): 1.10 against 1.25 ΔE00 on average over 3 test recipes. Keep it."
    )
    assert keep.tone == "info" and keep.champion_error == 1.10  # "keep it" is no news: never a green box
    better = search_review.search_verdict(_Result(_rows(trial_002=1.00, champion=1.25, baseline=2.0, kubelka_munk=1.4), True))
    assert better.tone == "success" and better.sentence.startswith(
        "The best configuration found, trial-002 (physics + 2 sets of networks, each with one layer of 16 neurons), predicts recipes it "
        "never saw 20 % closer than the served model's configuration: 1.00 against 1.25 ΔE00 on average over 3 test recipes. Train it as a challenger"
    )
    tie = search_review.search_verdict(_Result(_rows(trial_002=1.101, champion=1.10, baseline=2.0, kubelka_munk=1.4), True))
    assert tie.tone == "info" and tie.sentence.startswith("The served model's configuration predicts recipes it never saw as well as the best configuration found")
    scores = search_review.search_scores(_Result(_rows(trial_002=1.00, champion=1.25, baseline=2.0, kubelka_munk=1.4), True))
    assert list(scores["configuration"]) == ["best found (trial-002)", "served model (champion)", "physics alone (Kubelka–Munk)", "old system's network"]
    assert list(scores["vs served model"]) == ["20 % lower error", "—", "12 % higher error", "60 % higher error"]


def test_after_a_promotion_the_verdict_claims_nothing_about_the_model_now_serving():
    # Said "Keep it" about the served model with the figures of the champion the search had scored (review, 2026-12-07).
    result = _Result(_rows(trial_002=1.25, champion=1.10, baseline=2.0, kubelka_munk=1.4), True)
    assert search_review.search_verdict(result, serving_version="v-then").sentence.endswith("Keep it.")
    verdict = search_review.search_verdict(result, serving_version="v-now")
    assert verdict.tone == "warning" and "Keep it" not in verdict.sentence
    assert verdict.sentence.startswith("This search was scored against v-then, the model that served when it ran; v-now serves now")
    assert verdict.sentence.endswith("Run a new search to compare configurations with the model in use.")
    scores = search_review.search_scores(result, serving_version="v-now")
    assert list(scores["configuration"])[1] == "served when searched (v-then)"
    assert "vs served when searched" in scores and "vs served model" not in scores
    assert search_review.former_champion(result, "v-now") == "v-then" and search_review.former_champion(result, "v-then") is None


def test_verdict_and_scores_in_words_of_a_search_saved_before_the_champions_row():
    rows = _rows(trial_002=1.0, champion=0.0, baseline=2.0, kubelka_munk=0.8)
    rows = rows[rows["candidate"] != "champion"].assign(kind=None)  # older searches had neither
    verdict = search_review.search_verdict(_Result(rows, False))
    assert verdict.sentence == (
        "The physics model alone predicted recipes it had never seen 20 % closer than the best configuration of this search, trial-002 "
        "(2 networks, each with one layer of 16 neurons): 0.80 against 1.00 ΔE00 on average. No configuration here beats it; "
        "the old system's configuration missed by 2.00."
    )
    assert verdict.tone == "warning"  # not good news: never a green box
    rows.loc[rows["candidate"] == "kubelka-munk", "test_delta_e00_mean_headline"] = 1.6
    verdict = search_review.search_verdict(_Result(rows, False))
    assert verdict.tone == "success" and verdict.sentence == (
        "The best configuration, trial-002 (2 networks, each with one layer of 16 neurons), missed recipes it had never seen "
        "by 1.00 ΔE00 on average: 50 % lower than the old system's configuration (2.00) and 38 % lower than the physics model alone (1.60)."
    )
    rows.loc[rows["candidate"] == "kubelka-munk", "test_delta_e00_mean_headline"] = 0.8
    scores = search_review.search_scores(_Result(rows, False))
    assert list(scores["vs old configuration"]) == ["50 % lower error", "60 % lower error", "—"]
    assert search_review.describe_configuration({"layers": "32", "n_ensemble": 1}) == "one network with one layer of 32 neurons"
    assert search_review.describe_configuration({"layers": "32", "n_ensemble": 1, "kind": "HybridModel"}) == "physics + one set of networks with one layer of 32 neurons"
    # In a table cell: short enough for an 800 px window.
    assert search_review.describe_configuration({"layers": "16-16", "n_ensemble": 2, "kind": "HybridModel"}, short=True) == "physics + 2 nets of 16-16 neurons"
    assert search_review.describe_configuration({"layers": "128-64", "n_ensemble": 1}, short=True) == "1 net of 128-64 neurons"
