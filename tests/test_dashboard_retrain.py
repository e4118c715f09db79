"""The Retrain page and sign-in, driven through AppTest with secrets set in the test.

Streamlit 1.67's AppTest can set a file uploader (``set_value``), so the upload goes
through the real widget. Everything runs against a tmp models directory (a tiny
champion) and a tmp store (HUECAST_MODELS_DIR, HUECAST_DATA_DIR).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.auth.access import LOCAL_ADMIN
from model.auth.passwords import hash_password
from model.core import settings
from model.io import read_upload
from model.jobs import retrain
from model.registry import promotion
from model.registry.registry import ModelRegistry
from model.store import intake
from model.store.measurements import STORE_FILE, open_store

APP_TIMEOUT_S = 60
APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
PASSWORD = "correct horse battery staple"
# One PBKDF2 round keeps the test quick; the iteration count lives in the hash string.
PASSWORD_HASH = hash_password(PASSWORD, iterations=1)


@pytest.fixture
def hosted(tiny_install, monkeypatch, tiny_dataset):
    """The tmp install, plus the rest of the tiny dataset as a tidy CSV to upload."""
    # Quick challenger CV (3 folds x 1 seed): the test waits for it.
    monkeypatch.setenv("HUECAST_RETRAIN_CV", "3x1")
    new_rows = io.BytesIO()
    tiny_dataset.subset(np.arange(24, len(tiny_dataset))).to_tidy_csv(new_rows)
    return {**tiny_install, "champion": tiny_install["card"].version, "upload": new_rows.getvalue()}


def demo_with_a_look_alike_recipe_id() -> list[tuple[str, bytes]]:
    """The demo export and recipe table, with recipe FY10 renamed FYl0: its two measured
    names (FY10, FY10H) become near-miss suggestions."""
    demo = settings.demo_data_dir()
    recipes = (demo / "Concentrations.csv").read_text(encoding="utf-8").replace("FY10,", "FYl0,", 1)
    return [("Spectra.csv", (demo / "Spectra.csv").read_bytes()), ("Concentrations.csv", recipes.encode("utf-8"))]


def app_with_password_secrets() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
    at.secrets["auth"] = {"admin_password_hash": PASSWORD_HASH, "admin_name": "lab lead"}
    return at


def texts(at) -> str:
    return "\n".join(str(element.value) for kind in ("markdown", "caption", "info", "success", "error", "warning") for element in getattr(at, kind))


def test_viewer_sees_no_retrain_controls(hosted):
    at = app_with_password_secrets()
    at.run()
    assert not at.exception, at.exception
    assert "Not signed in: you can" in texts(at.sidebar)
    # The page is not in a viewer's navigation at all …
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py"))
    assert PASSWORD_HASH not in texts(at) + texts(at.sidebar)  # the secret is never shown
    # … and the page itself refuses a viewer who reaches it anyway: no upload, train or promote controls.
    page = AppTest.from_file(str(Path(APP).parent / "app_pages" / "retrain.py"), default_timeout=APP_TIMEOUT_S)
    page.secrets["auth"] = {"admin_password_hash": PASSWORD_HASH}
    page.run()
    assert not page.exception, page.exception
    assert "Retraining is for admins" in texts(page)
    assert not page.button and not page.get("file_uploader")


def test_wrong_password_stays_viewer(hosted):
    at = app_with_password_secrets()
    at.run()
    at.sidebar.text_input(key="auth_password").input("wrong")
    at.sidebar.button[0].click().run()
    assert "not the admin password" in texts(at.sidebar)
    assert "Not signed in: you can" in texts(at.sidebar)


def test_no_secrets_means_local_admin(hosted):
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
    at.run()
    assert not at.exception, at.exception
    assert "Local single user: you are admin" in texts(at.sidebar)


@pytest.mark.slow  # trains a challenger in a background worker
def test_admin_uploads_retrains_compares_promotes_and_rolls_back(hosted, tiny_dataset):
    at = app_with_password_secrets()
    at.run()
    at.sidebar.text_input(key="auth_password").input(PASSWORD)
    at.sidebar.button[0].click().run()
    assert "Signed in as lab lead (admin)." in texts(at.sidebar)
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    assert not at.exception, at.exception

    # 1-3: upload through the real file uploader, read the report, commit.
    at.get("file_uploader")[0].set_value(("new.csv", hosted["upload"], "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Measurements to store"] == "8"
    at.button(key="retrain_commit").click().run()
    assert "Stored 8 measurements" in texts(at)
    assert hosted["store"].counts()["n_included"] == len(tiny_dataset)
    at.run()  # the files are still in the uploader: stored already, so no button that would only say "nothing added"
    assert not [b for b in at.button if b.key == "retrain_commit"]
    assert any(box.value.startswith("Every measurement in these files is in the store already (8)") for box in at.info)

    # 4: train (the champion's tiny config; the worker is a separate process).
    at.button(key="retrain_train").click().run()
    job = at.session_state["retrain_job"]
    status = retrain.wait_for_job(job, timeout=240)
    assert status.state == "done", status.message
    at.run()
    assert not at.exception, at.exception

    # 5: the comparison is shown: summary table and per-recipe chart.
    assert "Leave-recipe-out on the new dataset (32 measurements of 16 recipes)" in texts(at)
    tables = [frame.value for frame in at.dataframe]
    assert any(list(table.index) == ["mean ΔE00", "p95 ΔE00", "spectral MAE (reflectance 0–1)"] for table in tables), tables
    [summary] = [table for table in tables if list(table.index) == ["mean ΔE00", "p95 ΔE00", "spectral MAE (reflectance 0–1)"]]
    errors = summary.loc["mean ΔE00", ["champion", "challenger"]].astype(float)
    assert (errors == errors.round(2)).all()  # as a colourist reads ΔE00, not 19.8316
    assert at.get("plotly_chart"), "the per-recipe chart is missing"

    # 6: promote, through the door: the verdict first, then a confirm step (and a reason if the challenger is worse).
    challenger = status.challenger_version
    verdict = promotion.verdict(challenger)
    assert verdict.sentence in texts(at)
    assert at.button(key="retrain_promote").disabled
    at.checkbox(key="retrain_promote_confirm").check().run()
    if verdict.needs_override:
        assert at.button(key="retrain_promote").disabled
        at.text_area(key="retrain_promote_reason").input("test: the tiny challenger").run()
    at.button(key="retrain_promote").click().run()
    assert not at.exception, at.exception
    assert ModelRegistry(hosted["models_dir"]).champion_version() == challenger
    assert f"Version {challenger} now serves" in texts(at)
    card = ModelRegistry(hosted["models_dir"]).read_card(challenger)
    assert card.dataset["store_version"] == hosted["store"].version()

    # Rollback: offered (it served and was scored on the same folds), confirmed, restores the earlier predictions exactly.
    old = hosted["champion"]
    assert at.selectbox(key="retrain_rollback_version").options == [old]
    at.checkbox(key="retrain_rollback_confirm").check().run()
    if not promotion.verdict(old, action="rollback").needs_override:
        at.button(key="retrain_rollback").click().run()
    else:
        at.text_area(key="retrain_rollback_reason").input("test: back to the first").run()
        at.button(key="retrain_rollback").click().run()
    assert not at.exception, at.exception
    assert ModelRegistry(hosted["models_dir"]).champion_version() == old
    restored, _ = ModelRegistry(hosted["models_dir"]).load_champion()
    np.testing.assert_array_equal(restored.predict(tiny_dataset.recipes).reflectance, hosted["model"].predict(tiny_dataset.recipes).reflectance)
    np.testing.assert_array_equal(restored.predict(tiny_dataset.recipes).Lab, hosted["model"].predict(tiny_dataset.recipes).Lab)
    assert [entry["action"] for entry in ModelRegistry(hosted["models_dir"]).promotion_history()][-2:] == ["promote", "rollback"]


def test_review_upload_applies_only_the_accepted_suggestions(tmp_path):
    store = open_store(tmp_path, seed=False)
    assert store.path == tmp_path / STORE_FILE
    offered = []

    def choose(suggestions):
        offered.extend(entry.measured_name for entry in suggestions)
        return ["FY10"]

    upload = intake.review_upload(demo_with_a_look_alike_recipe_id(), store, choose=choose)
    assert offered == ["FY10", "FY10H"]
    assert [entry.measured_name for entry in upload.suggestions] == ["FY10", "FY10H"]
    assert upload.prepared.accepted == ("FY10",)
    assert [entry.measured_name for entry in upload.left_out] == ["FY10H"]  # not accepted: left out, and said so
    assert (upload.n_new, upload.n_already_stored) == (104, 0)
    assert "FY10" in set(upload.new_spectra["sample_id"]) and list(upload.new_spectra.columns[:2]) == ["sample_id", "R400"]
    assert upload.n_duplicates == len(upload.prepared.report.duplicates) > 0

    without = intake.review_upload(demo_with_a_look_alike_recipe_id(), store)  # nobody asked: nothing accepted
    assert without.n_new == 103 and len(without.left_out) == 2


def test_review_upload_counts_what_the_store_already_holds(tmp_path, tiny_dataset):
    def tidy_csv(rows) -> list[tuple[str, bytes]]:
        text = io.BytesIO()
        tiny_dataset.subset(rows).to_tidy_csv(text)
        return [("rows.csv", text.getvalue())]

    store = open_store(tmp_path, seed=False)
    store.add(read_upload(tidy_csv(np.arange(16))), user=LOCAL_ADMIN)
    offered = []
    upload = intake.review_upload(tidy_csv(np.arange(8, 24)), store, choose=lambda found: offered.append(found) or [])
    assert offered == [[]]  # a tidy CSV has no match report, so nothing to accept
    assert (upload.n_new, upload.n_already_stored, upload.n_recipes) == (8, 8, 8)
    assert upload.new_spectra["sample_id"].tolist() == list(tiny_dataset.sample_ids[16:24])
    assert upload.left_out == [] and upload.suspect == [] and upload.n_duplicates == 0


def test_store_listing_snapshot_and_upload_labels(tiny_install):
    store = tiny_install["store"]
    all_ids = store.measurements()["measurement_id"].tolist()
    store.exclude(all_ids[:2], user=LOCAL_ADMIN, reason="test")
    listing = intake.store_listing(store)
    assert listing.excluded_ids == all_ids[:2] and listing.included_ids == all_ids[2:]
    assert "R400" not in listing.table.columns and {"measurement_id", "included", "recipe_id"} <= set(listing.table.columns)
    one_recipe = intake.store_listing(store, "R3")
    assert set(one_recipe.table["recipe_id"]) == {"R3"} and len(one_recipe.table) == 2

    snapshot = intake.store_snapshot(store)
    assert len(snapshot.dataset) == 22 and snapshot.store_version == store.version()
    day = store.uploads()["uploaded_at"].iloc[0]
    from datetime import datetime

    moment = datetime.fromisoformat(day)
    assert intake.upload_labels(store.uploads()) == {1: f"#1: first.csv (uploaded {moment.day} {moment:%b %Y})"}


def test_retrain_page_offers_each_near_miss_and_leaves_out_an_unticked_one(hosted):
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
    at.run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    at.get("file_uploader")[0].set_value([(name, content, "text/csv") for name, content in demo_with_a_look_alike_recipe_id()])
    at.run()
    assert not at.exception, at.exception
    assert [box.key for box in at.checkbox] == ["retrain_accept_0", "retrain_accept_1"] and all(box.value for box in at.checkbox)
    assert {m.label: m.value for m in at.metric}["Unmatched (left out)"] == "0"
    at.checkbox(key="retrain_accept_1").uncheck().run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Measurements to store"], metrics["Unmatched (left out)"]) == ("104", "1")
    assert any(w.value.startswith("Left out: FY10H") for w in at.warning)


# ---- issue 15: replace the demo at commit; jobs and challengers from their records --------


def test_the_first_upload_over_the_demo_offers_to_replace_it_in_plain_words(isolated_install):
    from test_store import renamed_demo_files

    isolated_install.copy_shipped_models()
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    at.get("file_uploader")[0].set_value([(name, content, "text/csv") for name, content in renamed_demo_files()])
    at.run()
    assert not at.exception, at.exception
    [offer] = [w.value for w in at.warning if "synthetic demo data" in w.value]
    assert offer.startswith("51 recipes (") and "Replace it with your measurements" in offer
    commit = at.button(key="retrain_commit")
    assert commit.label == "Replace the demo data with these measurements" and not commit.disabled
    commit.click().run()
    assert not at.exception, at.exception
    assert any("Stored 105 measurements" in s.value and "synthetic demo data is now left out of training" in s.value for s in at.success)
    store = open_store()
    assert not store.demo_in_use() and store.counts()["n_included"] == 105
    assert any("Spectra.csv + lab-recipes.csv (uploaded" in c.value for c in at.caption)


def _finished_training_job(jobs_dir: Path, job_id: str, challenger: str, champion: str) -> None:
    """A training job's record as the worker leaves it when done (no worker needed)."""
    import json

    (jobs_dir / job_id).mkdir(parents=True)
    status = {
        "job_id": job_id, "kind": "training", "state": "done", "fraction": 1.0, "message": f"Challenger {challenger} is trained and scored.",
        "started_by": "lab lead", "started_at": "2026-12-01T10:00:00+00:00", "updated_at": "2026-12-01T10:05:00+00:00",
        "pid": None, "output": challenger, "details": {"champion_version": champion, "store_version": None},
    }
    (jobs_dir / job_id / "status.json").write_text(json.dumps(status), encoding="utf-8")


def test_a_finished_challenger_waits_in_the_records_for_any_admin_session(tiny_install, tmp_path):
    models_dir = tiny_install["models_dir"]
    jobs_dir = settings.data_dir() / "jobs"
    assert retrain.pending_challenger() is None
    challenger = ModelRegistry(models_dir).save_model(tiny_install["model"], metrics={"delta_e00_mean_headline": 0.9}, dataset_info={"name": "first"}, version="challenger-1").version
    _finished_training_job(jobs_dir, "20261201-100000-aaaaaa", challenger, tiny_install["card"].version)
    _finished_training_job(jobs_dir, "20261130-100000-bbbbbb", tiny_install["card"].version, "older")  # an older job: not the newest
    waiting = retrain.pending_challenger()
    assert waiting is not None and waiting.challenger_version == challenger and waiting.job_id == "20261201-100000-aaaaaa"

    # A new session (a reload, another machine) shows it with Promote and Discard, though it never started the job.
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    assert not at.exception, at.exception
    assert "retrain_job" not in at.session_state
    assert at.button(key="retrain_promote").label == f"Promote {challenger}"
    # No comparison file and other data than the champion's: said to be not comparable, in a warning box.
    assert any(f"{challenger} is not comparable with the champion" in w.value for w in at.warning)
    at.button(key="retrain_discard").click().run()
    assert not at.exception, at.exception
    assert retrain.pending_challenger() is None  # discarded: no longer waits, in any session
    assert not [b for b in at.button if b.key == "retrain_promote"]


def test_a_promoted_or_failed_job_leaves_nothing_waiting(tiny_install):
    import json

    jobs_dir = settings.data_dir() / "jobs"
    champion = tiny_install["card"].version
    _finished_training_job(jobs_dir, "20261201-100000-cccccc", champion, champion)  # its challenger is the champion now
    assert retrain.pending_challenger() is None
    (jobs_dir / "20261202-000000-dddddd").mkdir()
    (jobs_dir / "20261202-000000-dddddd" / "status.json").write_text("{not json", encoding="utf-8")  # unreadable: skipped
    assert retrain.pending_challenger() is None
    status = json.loads((jobs_dir / "20261201-100000-cccccc" / "status.json").read_text())
    (jobs_dir / "20261201-100000-cccccc" / "status.json").write_text(json.dumps({**status, "state": "failed"}))
    assert retrain.pending_challenger() is None


# ---- issue 13: an optional third file, the fluorescence table -----------------------------


def _demo_upload(fluorescence: bytes | None = None) -> list[tuple[str, bytes, str]]:
    demo = settings.demo_data_dir()
    files = {name: (demo / name).read_bytes() for name in ("Spectra.csv", "Concentrations.csv", "Fluorescence.csv")}
    if fluorescence is not None:
        files["Fluorescence.csv"] = fluorescence
    return [(name, content, "text/csv") for name, content in files.items()]


def test_retrain_page_takes_a_fluorescence_table_as_a_third_file_and_stores_its_readings(hosted):
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    at.get("file_uploader")[0].set_value(_demo_upload())
    at.run()
    assert not at.exception, at.exception
    [headline] = [i.value for i in at.info if i.value.startswith("Fluorescence readings")]
    assert "92 rows; 92 used, giving 95 measured rows a reading in ct/s; 10 rows without a reading are kept for colour" in headline
    assert {m.label: m.value for m in at.metric}["Measurements to store"] == "105"
    at.button(key="retrain_commit").click().run()
    assert not at.exception, at.exception
    assert any("Stored 105 measurements" in s.value for s in at.success)
    stored = open_store().to_dataset()
    readings = stored.table.set_index("sample_id")["fluorescence_cts"]
    assert readings.notna().sum() == 95 and readings["FY25H"] > 0 and np.isnan(readings["PG2H"])


def test_a_bad_third_file_shows_where_it_is_wrong_and_stores_nothing(hosted):
    store = open_store()
    version_before, counts_before = store.version(), store.counts()
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    at.get("file_uploader")[0].set_value(_demo_upload(b"Sample ID,Fluorescence [ct/s]\nFY5,1930\nFY5H,-40\n"))
    at.run()
    assert not at.exception, at.exception
    assert any("cannot be used yet" in e.value for e in at.error)
    assert any("Fluorescence.csv, row 3, column 'Fluorescence [ct/s]'" in c.value and "of 0 or more, got -40" in c.value for c in at.code)
    assert not [b for b in at.button if b.key == "retrain_commit"]
    assert open_store().version() == version_before and open_store().counts() == counts_before


# ---- issue 21: the upload's row cap ------------------------------------------------------------


def test_the_page_states_the_row_cap_and_refuses_a_longer_file_naming_it(hosted, monkeypatch):
    from model.io import upload

    monkeypatch.setattr(upload, "MAX_UPLOAD_ROWS", 60)  # the demo export has 105 measurements
    store = open_store()
    version_before, counts_before = store.version(), store.counts()
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    assert any("At most 60 rows per file" in caption.value for caption in at.caption)
    at.get("file_uploader")[0].set_value(_demo_upload()[:2])
    at.run()
    assert not at.exception, at.exception
    assert any("cannot be used yet" in e.value for e in at.error)
    assert any(c.value.startswith("Spectra.csv: the file has more than 60 measurement rows; one upload takes at most 60. Split") for c in at.code)
    assert not [b for b in at.button if b.key == "retrain_commit"]
    assert open_store().version() == version_before and open_store().counts() == counts_before


# ---- issue 26: steps as seen, Train after the commit, what a decision did, the history in words ------


def _headers(at) -> list[str]:
    return [header.value for header in at.header]


def test_steps_are_numbered_as_shown_and_train_waits_for_the_commit(hosted):
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    assert not at.exception, at.exception
    assert _headers(at)[:2] == ["1. Upload measurements", "2. Train a challenger"]
    assert not at.button(key="retrain_train").disabled  # the store already holds data to train on

    at.get("file_uploader")[0].set_value(("new.csv", hosted["upload"], "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert _headers(at)[:4] == ["1. Upload measurements", "2. Check the match report", "3. Commit to the store", "4. Train a challenger"]
    assert at.button(key="retrain_train").disabled
    assert any(box.value.startswith("Training waits until the uploaded measurements are stored") for box in at.info)

    at.button(key="retrain_commit").click().run()
    assert "Stored 8 measurements" in texts(at)
    assert not at.button(key="retrain_train").disabled
    assert not any(box.value.startswith("Training waits") for box in at.info)


def test_model_history_names_its_columns_in_words_in_the_order_they_are_needed(tiny_install):
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    [history] = [frame.value for frame in at.dataframe if "version" in frame.value.columns and "status" in frame.value.columns]
    assert list(history.columns[:5]) == ["version", "status", "trained on", "mean error per film (ΔE00)", "trained"]
    assert not [column for column in history.columns if "_" in column]  # no n_samples, created_at …
    assert history["mean error per film (ΔE00)"].iloc[0] == 1.0 and history["trained"].iloc[0].endswith("UTC")


def test_promote_and_rollback_say_which_version_now_serves(tiny_install, tiny_dataset):
    models_dir, first = tiny_install["models_dir"], tiny_install["card"].version
    # A challenger of the same data, waiting in the records as a finished training job leaves it.
    challenger = ModelRegistry(models_dir).save_model(tiny_install["model"], metrics={"delta_e00_mean_headline": 0.9}, dataset_info=dict(tiny_install["card"].dataset), version="challenger-1").version
    _finished_training_job(settings.data_dir() / "jobs", "20261201-100000-eeeeee", challenger, first)
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    at.checkbox(key="retrain_promote_confirm").check().run()
    if at.button(key="retrain_promote").disabled:  # a reason is needed where the verdict asks for one
        at.text_area(key="retrain_promote_reason").input("test: the same model").run()
    at.button(key="retrain_promote").click().run()
    assert not at.exception, at.exception
    assert ModelRegistry(models_dir).champion_version() == challenger
    said = f"Version {challenger} now serves; {first} is kept for rollback."
    assert any(box.value.startswith(said) for box in at.success) and any(toast.value.startswith(said) for toast in at.toast)
    at.run()  # said once, not on every later run
    assert not any(box.value.startswith(said) for box in at.success)

    at.checkbox(key="retrain_rollback_confirm").check().run()
    if at.button(key="retrain_rollback").disabled:
        at.text_area(key="retrain_rollback_reason").input("test: back to the first").run()
    at.button(key="retrain_rollback").click().run()
    assert not at.exception, at.exception
    assert ModelRegistry(models_dir).champion_version() == first
    assert any(box.value.startswith(f"Version {first} now serves; {challenger} is kept for rollback.") for box in at.success)


def test_a_colorant_column_left_blank_in_every_row_is_shown_as_read_as_zero(hosted):
    """Issue 27: not one refusal per row, and not a silent guess either: the review says what was assumed."""
    demo = settings.demo_data_dir()
    lines = (demo / "Concentrations.csv").read_text(encoding="utf-8").splitlines()
    blank = lines[0].split(",")[-1]
    recipes = "\n".join([lines[0], *(line.rsplit(",", 1)[0] + "," for line in lines[1:])]) + "\n"
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    at.get("file_uploader")[0].set_value([("Spectra.csv", (demo / "Spectra.csv").read_bytes(), "text/csv"), ("Concentrations.csv", recipes.encode(), "text/csv")])
    from model.io.cells import UnusedColorantWarning

    with pytest.warns(UnusedColorantWarning, match=re.escape(blank)):  # the library warns too (the server's log, the CLI)
        at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    [note] = [w.value for w in at.warning if "is empty in all" in w.value]
    assert f"column '{blank}' is empty in all {len(lines) - 1} rows, so it was read as 0 wt %" in note and "Delete the column" in note
    assert int({m.label: m.value for m in at.metric}["Recipes"]) > 0

    # Stored, the upload keeps what reading assumed: its record on disk, listed under Uploads.
    with pytest.warns(UnusedColorantWarning):
        at.button(key="retrain_commit").click().run()
    assert not at.exception, at.exception
    uploads = open_store().uploads()
    assert uploads["notes"].tolist() == ["", note]  # the demo seed assumed nothing
