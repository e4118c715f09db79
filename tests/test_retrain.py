"""Champion and challenger: the fair comparison, the one job queue, real process kills, promotion under load, rollback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from model.auth.access import LOCAL_ADMIN, VIEWER, PermissionDenied
from model.core import settings
from model.io import PreparedUpload
from model.jobs import job_queue, retrain, search
from model.registry.registry import ModelRegistry
from model.registry.training_data import find_training_data
from model.store.measurements import MeasurementStore

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def install(tiny_install, tiny_dataset):
    """The tmp install, with the rest of the tiny dataset uploaded as a second upload."""
    tiny_install["store"].add(PreparedUpload(tiny_dataset.subset(np.arange(24, len(tiny_dataset))), None, ("second.csv",), "second"), user=LOCAL_ADMIN)
    return tiny_install


def second_model(install, tiny_dataset):
    """A different saved model (another seed) of the champion's data, as good by its card (so the door asks
    only for confirmation), not promoted."""
    model = clone(install["unfitted"]).set_params(random_state=7).fit(tiny_dataset.subset(np.arange(24)))
    card = ModelRegistry(install["models_dir"]).save_model(model, metrics={"delta_e00_mean_headline": 1.0}, dataset_info=dict(install["card"].dataset))
    return model, card


# ---- the comparison ------------------------------------------------------------------


def test_champion_side_never_sees_held_out_recipes(tiny_dataset, quick_model):
    # With the champion's data equal to the new data and the same config, refitting the
    # champion without each fold's held-out recipes must reproduce the challenger's CV
    # exactly. Leakage (fitting on held-out recipes) would make the champion look better.
    config = clone(quick_model).set_params(hidden_layer_sizes=(8,), max_iter=150)
    comparison, champion, challenger = retrain.compare_on_same_folds(
        tiny_dataset, challenger=config, champion=config, champion_reference=tiny_dataset, n_splits=3, seeds=(0,)
    )
    # Both CIELAB paths; the headline may differ (each side reports the path chosen on its validation).
    for column in ("delta_e00_spectral", "delta_e00_head", "spectral_mae"):
        np.testing.assert_allclose(champion.per_sample[column], challenger.per_sample[column], rtol=0, atol=1e-12)
    assert len(comparison.per_recipe) == tiny_dataset.n_recipes
    assert "No model is scored on a recipe it was fitted on" in comparison.protocol


def test_less_champion_data_is_scored_on_the_same_folds(tiny_dataset, quick_model):
    config = clone(quick_model).set_params(hidden_layer_sizes=(8,), max_iter=150)
    reference = tiny_dataset.subset(np.arange(12))  # the champion saw only 6 recipes
    comparison, champion, challenger = retrain.compare_on_same_folds(
        tiny_dataset, challenger=config, champion=config, champion_reference=reference, n_splits=3, seeds=(0,)
    )
    # Same rows held out in the same folds on both sides.
    key = ["seed", "fold", "sample_id"]
    assert champion.per_sample[key].sort_values(key).values.tolist() == challenger.per_sample[key].sort_values(key).values.tolist()
    assert not np.allclose(champion.per_sample["delta_e00"], challenger.per_sample["delta_e00"])
    assert list(comparison.summary.index) == ["mean ΔE00", "p95 ΔE00", "spectral MAE (reflectance 0–1)"]
    expected = champion.metrics["delta_e00_mean_headline"] - challenger.metrics["delta_e00_mean_headline"]
    got = comparison.summary.loc["mean ΔE00", "champion"] - comparison.summary.loc["mean ΔE00", "challenger"]
    assert got == pytest.approx(expected)


def test_the_comparison_names_a_colorant_the_new_data_cannot_teach(tiny_dataset, quick_model):
    # The fits warn about it in the job's process, where no person reads; the comparison carries it to the
    # Retrain page and the API's job report.
    from model.core.schema import Dataset

    table = tiny_dataset.table.copy()
    table["Once"] = np.where(table["recipe_id"] == table["recipe_id"].iloc[0], 2.0, 0.0)
    data = Dataset(table, (*tiny_dataset.colorants, "Once"), tiny_dataset.name)
    config = clone(quick_model).set_params(hidden_layer_sizes=(4,), max_iter=30)
    with pytest.warns(UserWarning, match="'Once' is in only one recipe"):  # the fits' ColorantWarning, for the log
        comparison, _, _ = retrain.compare_on_same_folds(data, challenger=config, champion=config, champion_reference=None, n_splits=2, seeds=(0,))
    [note] = [warning for warning in comparison.warnings if "Colorant" in warning]
    assert f"'Once' is in only one recipe ({str(data.recipe_ids[0])!r})" in note and "Add a few loadings" in note

    plain, _, _ = retrain.compare_on_same_folds(tiny_dataset, challenger=config, champion=config, champion_reference=None, n_splits=2, seeds=(0,))
    assert not [warning for warning in plain.warnings if "Colorant" in warning]


def test_champion_training_data_is_found_by_store_version(install):
    found = find_training_data(install["card"], install["store"])
    assert len(found.dataset) == 24 and "store version" in found.description
    assert found.dataset.fingerprint() == install["card"].dataset["fingerprint"]
    # The same card against a store that never held its data: not found, and it says so.
    other = MeasurementStore(install["store"].path.parent / "other.sqlite3", seed=False)
    missing = find_training_data(install["card"], other)
    assert missing.dataset is None and "neither" in missing.description


# ---- the worker and real process kills -----------------------------------------------


@pytest.mark.slow  # trains a challenger in a worker process
def test_worker_trains_scores_and_saves_a_challenger_without_promoting(install, tiny_dataset):
    job = retrain.start_challenger(install["store"].to_dataset(), user=LOCAL_ADMIN, store=install["store"], store_version=install["store"].version(), n_splits=3, seeds=(0,))
    with pytest.raises(retrain.RetrainBusy):
        retrain.start_challenger(install["store"].to_dataset(), user=LOCAL_ADMIN, n_splits=3, seeds=(0,))
    status = retrain.wait_for_job(job, timeout=240)
    assert status.state == "done", status.message
    assert ModelRegistry(install["models_dir"]).champion_version() == install["card"].version  # never promoted
    comparison = retrain.load_comparison(job)
    assert comparison.challenger_version == status.challenger_version and comparison.champion_version == install["card"].version
    assert "training data (store version" in comparison.protocol
    card = ModelRegistry(install["models_dir"]).read_card(status.challenger_version)
    assert card.dataset["store_version"] == install["store"].version() and card.dataset["n_samples"] == len(tiny_dataset)
    assert card.notes["compared_with"]["champion_version"] == install["card"].version
    history = retrain.model_history(install["models_dir"])
    assert dict(zip(history["version"], history["status"])) == {status.challenger_version: "challenger", install["card"].version: "champion"}


@pytest.mark.slow  # starts a worker process and kills it
def test_killing_the_worker_mid_run_leaves_store_and_champion_intact(install, tiny_dataset):
    store, models_dir = install["store"], install["models_dir"]
    before = (store.counts(), store.version(), ModelRegistry(models_dir).champion_version(), [c.version for c in ModelRegistry(models_dir).list_cards()])
    expected = install["model"].predict(tiny_dataset.recipes)
    # Enough folds that the worker is surely still fitting when it is killed.
    job = retrain.start_challenger(store.to_dataset(), user=LOCAL_ADMIN, store=store, store_version=store.version(), n_splits=5, seeds=(0, 1, 2, 3))
    deadline = time.monotonic() + 120
    while (status := retrain.job_status(job)).fraction <= 0 and status.state == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status.state == "running" and status.pid, status
    os.kill(status.pid, signal.SIGKILL)
    status = retrain.wait_for_job(job, timeout=30)
    assert status.state == "failed" and "stopped before finishing" in status.message and "-9" in status.message
    assert (store.counts(), store.version(), ModelRegistry(models_dir).champion_version(), [c.version for c in ModelRegistry(models_dir).list_cards()]) == before
    model, card = ModelRegistry(models_dir).load_champion()
    assert card.version == install["card"].version
    np.testing.assert_array_equal(model.predict(tiny_dataset.recipes).reflectance, expected.reflectance)
    assert retrain.active_job() is None  # a new training may start


# ---- the one job queue --------------------------------------------------------------


def _wait_for_file(job_dir, progress, release_file: str):
    """A queue job that runs until ``release_file`` exists (a module-level target: the worker is spawned)."""
    progress(0.5, "waiting to be released")
    deadline = time.monotonic() + 120
    while not Path(release_file).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released", release_file


@pytest.mark.slow  # starts a challenger worker, then a search worker
def test_a_search_cannot_start_while_a_challenger_trains_nor_the_reverse(install, tiny_dataset, tmp_path):
    dataset = install["store"].to_dataset()
    # Enough folds that the challenger is surely still training when the search is asked for.
    training = retrain.start_challenger(dataset, user=LOCAL_ADMIN, store=install["store"], n_splits=5, seeds=(0, 1, 2, 3))
    with pytest.raises(search.SearchBusy, match=r"A challenger training is already running .*the Retrain page"):
        search.start_search_job(dataset, user=LOCAL_ADMIN, n_jobs=1)
    assert retrain.active_job().job_id == training and search.active_search_job() is None
    assert retrain.cancel_job(training, user=LOCAL_ADMIN).state == "cancelled"

    searching = search.start_search_job(dataset, user=LOCAL_ADMIN, n_jobs=1)
    with pytest.raises(retrain.RetrainBusy, match=r"A configuration search of 50 trials is already running .*the Compare page"):
        retrain.start_challenger(dataset, user=LOCAL_ADMIN, n_splits=3, seeds=(0,))
    assert search.active_search_job().job_id == searching and retrain.active_job() is None
    assert job_queue.cancel_job(searching, user=LOCAL_ADMIN).state == "cancelled"
    # Both kinds went through the one jobs folder under the data directory, and nothing else started.
    queue = settings.data_dir() / job_queue.JOBS_FOLDER
    assert sorted(path.name for path in queue.iterdir() if path.is_dir()) == sorted([training, searching])
    assert job_queue.active_job() is None


@pytest.mark.slow  # starts worker processes
def test_simultaneous_starts_yield_exactly_one_job(tmp_path):
    """Threads race to start a job; each start opens its own descriptor, so they contend as processes do."""
    queue, release = tmp_path / "jobs", tmp_path / "release"
    barrier, outcomes = threading.Barrier(8), []

    def start():
        barrier.wait()
        try:
            outcomes.append(job_queue.start_job("training", _wait_for_file, (str(release),), user=LOCAL_ADMIN, jobs_dir=queue, niceness=0))
        except job_queue.JobBusy as error:
            outcomes.append(error)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    started = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert len(outcomes) == 8 and len(started) == 1, outcomes
    assert [path.name for path in queue.iterdir() if path.is_dir()] == started
    assert all("Only one search, promotion or training runs at a time" in str(outcome) for outcome in outcomes if outcome not in started)
    release.touch()
    status = job_queue.wait_for_job(started[0], jobs_dir=queue, timeout=120)
    assert (status.state, status.output) == ("done", str(release))
    # The worker let go of the queue with its final status: the next job starts at once.
    follow_up = job_queue.start_job("search", _wait_for_file, (str(tmp_path / "never"),), user=LOCAL_ADMIN, jobs_dir=queue)
    assert job_queue.cancel_job(follow_up, user=LOCAL_ADMIN, jobs_dir=queue).state == "cancelled"
    assert job_queue.active_job(jobs_dir=queue) is None


@pytest.mark.slow  # starts a worker process
def test_liveness_comes_from_the_lock_not_the_process_table(tmp_path):
    queue, release = tmp_path / "jobs", tmp_path / "release"
    running = job_queue.start_job("training", _wait_for_file, (str(release),), user=LOCAL_ADMIN, jobs_dir=queue, niceness=0)
    # A job left "running" by a worker that died: its pid is alive (this test's own), but it holds no lock.
    stale = queue / "20000101-000000-dead00"
    stale.mkdir()
    record = {"job_id": stale.name, "kind": "search", "state": "running", "fraction": 0.3, "message": "trial 3", "started_by": "x",
              "started_at": "2000-01-01T00:00:00+00:00", "updated_at": "2000-01-01T00:00:00+00:00", "pid": os.getpid()}
    (stale / job_queue.STATUS_FILE).write_text(json.dumps(record), encoding="utf-8")
    status = job_queue.job_status(stale.name, jobs_dir=queue)
    assert status.state == "failed" and "stopped before finishing" in status.message
    assert job_queue.active_job(jobs_dir=queue).job_id == running and job_queue.job_status(running, jobs_dir=queue).state == "running"
    release.touch()
    assert job_queue.wait_for_job(running, jobs_dir=queue, timeout=120).state == "done"
    assert job_queue.active_job(jobs_dir=queue) is None


_PROMOTE_LOOP = """
import sys
from model.registry.registry import ModelRegistry
from model.auth.access import LOCAL_ADMIN
root, first, second = sys.argv[1:4]
models = ModelRegistry(root)
print("ready", flush=True)
while True:
    models.promote(second, user=LOCAL_ADMIN)
    models.promote(first, action="rollback", user=LOCAL_ADMIN)
"""


@pytest.mark.slow  # runs a promotion loop in another process
def test_killing_a_process_during_promotion_leaves_a_loadable_champion(install, tiny_dataset):
    models_dir = install["models_dir"]
    other_model, other_card = second_model(install, tiny_dataset)
    predictions = {install["card"].version: install["model"].predict(tiny_dataset.recipes), other_card.version: other_model.predict(tiny_dataset.recipes)}
    process = subprocess.Popen(
        [sys.executable, "-c", _PROMOTE_LOOP, str(models_dir), install["card"].version, other_card.version],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert process.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 60
        while len(ModelRegistry(models_dir).promotion_history()) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert len(ModelRegistry(models_dir).promotion_history()) >= 6  # it was promoting when killed; the log still parses
    model, card = ModelRegistry(models_dir).load_champion()
    assert card.version in predictions
    np.testing.assert_array_equal(model.predict(tiny_dataset.recipes).reflectance, predictions[card.version].reflectance)
    old, _ = ModelRegistry(models_dir).load_model(install["card"].version)
    np.testing.assert_array_equal(old.predict(tiny_dataset.recipes).Lab, predictions[install["card"].version].Lab)
    assert install["store"].counts()["n_included"] == len(tiny_dataset)


# ---- promotion under load, rollback, discard, roles ---------------------------------


def test_twenty_threads_predict_while_a_promotion_happens(install, tiny_dataset):
    models_dir = install["models_dir"]
    other_model, other_card = second_model(install, tiny_dataset)
    recipes = tiny_dataset.recipes
    expected = {install["card"].version: install["model"].predict(recipes), other_card.version: other_model.predict(recipes)}
    promoted, stop = threading.Event(), threading.Event()
    results, errors = [], []

    def predict_repeatedly():
        try:
            while not stop.is_set():
                asked_after_promotion = promoted.is_set()
                model, card = ModelRegistry(models_dir).load_champion()
                prediction = model.predict(recipes)
                whole = expected[card.version]
                # One complete model: every array matches that version's own predictions.
                ok = np.array_equal(prediction.reflectance, whole.reflectance) and np.array_equal(prediction.Lab, whole.Lab)
                results.append((card.version, ok, asked_after_promotion))
        except Exception as error:  # noqa: BLE001 - any failure is the test's finding
            errors.append(error)

    threads = [threading.Thread(target=predict_repeatedly) for _ in range(20)]
    for thread in threads:
        thread.start()
    while len(results) < 20 and not errors:
        time.sleep(0.01)
    retrain.promote_challenger(other_card.version, user=LOCAL_ADMIN, confirm=True, models_dir=models_dir)
    promoted.set()
    count_at_promotion = len(results)
    while len(results) < count_at_promotion + 20 and not errors:
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert all(ok for _, ok, _ in results)
    assert {version for version, _, _ in results} == set(expected)  # both the old and the new champion served
    # Whoever asked after the pointer swap got the new champion.
    assert all(version == other_card.version for version, _, after in results if after)


def test_rollback_restores_the_earlier_predictions_exactly(install, tiny_dataset):
    models_dir = install["models_dir"]
    before = install["model"].predict(tiny_dataset.recipes)
    _, other_card = second_model(install, tiny_dataset)
    retrain.promote_challenger(other_card.version, user=LOCAL_ADMIN, confirm=True, models_dir=models_dir)
    assert not np.array_equal(ModelRegistry(models_dir).load_champion()[0].predict(tiny_dataset.recipes).reflectance, before.reflectance)
    retrain.rollback(install["card"].version, user=LOCAL_ADMIN, confirm=True, models_dir=models_dir)
    after = ModelRegistry(models_dir).load_champion()[0].predict(tiny_dataset.recipes)
    np.testing.assert_array_equal(after.reflectance, before.reflectance)
    np.testing.assert_array_equal(after.Lab, before.Lab)
    history = retrain.model_history(models_dir)
    assert dict(zip(history["version"], history["status"])) == {install["card"].version: "champion", other_card.version: "former champion"}


def test_discard_hides_a_challenger_but_never_a_champion(install, tiny_dataset):
    models_dir = install["models_dir"]
    _, other_card = second_model(install, tiny_dataset)
    with pytest.raises(ValueError, match="is or was the champion"):
        retrain.discard_challenger(install["card"].version, user=LOCAL_ADMIN, models_dir=models_dir)
    retrain.discard_challenger(other_card.version, user=LOCAL_ADMIN, models_dir=models_dir)
    assert [c.version for c in ModelRegistry(models_dir).list_cards()] == [install["card"].version]
    assert (models_dir / f".discarded-{other_card.version}" / "model.joblib").is_file()


def test_viewers_are_refused_by_the_model_functions(install, tiny_dataset):
    _, other_card = second_model(install, tiny_dataset)
    models_dir = install["models_dir"]
    with pytest.raises(PermissionDenied):
        retrain.start_challenger(tiny_dataset, user=VIEWER)
    with pytest.raises(PermissionDenied):
        retrain.promote_challenger(other_card.version, user=VIEWER, models_dir=models_dir)
    with pytest.raises(PermissionDenied):
        retrain.rollback(other_card.version, user=VIEWER, models_dir=models_dir)
    with pytest.raises(PermissionDenied):
        retrain.discard_challenger(other_card.version, user=VIEWER, models_dir=models_dir)
    assert ModelRegistry(models_dir).champion_version() == install["card"].version


def test_cv_plan_reads_the_environment(monkeypatch):
    monkeypatch.delenv("HUECAST_RETRAIN_CV", raising=False)
    assert retrain.cv_plan() == (5, (0, 1, 2))
    monkeypatch.setenv("HUECAST_RETRAIN_CV", "3x2")
    assert retrain.cv_plan() == (3, (0, 1))
    monkeypatch.setenv("HUECAST_RETRAIN_CV", "lots")
    with pytest.raises(ValueError, match="HUECAST_RETRAIN_CV='lots'"):
        retrain.cv_plan()


def test_fold_jobs_uses_every_core_for_real_sized_data_and_reads_the_environment(monkeypatch, tiny_dataset):
    import joblib

    monkeypatch.delenv("HUECAST_RETRAIN_JOBS", raising=False)
    monkeypatch.setattr(joblib, "cpu_count", lambda: 4)
    assert len(tiny_dataset) < retrain.PARALLEL_FOLDS_MIN_FILMS
    assert retrain.fold_jobs(tiny_dataset) == 1  # starting the pool would cost more than the folds
    enough = tiny_dataset.subset(np.arange(len(tiny_dataset)).repeat(2)[: retrain.PARALLEL_FOLDS_MIN_FILMS])
    assert retrain.fold_jobs(enough) == 4
    monkeypatch.setenv("HUECAST_RETRAIN_JOBS", "1")
    assert retrain.fold_jobs(enough) == 1
    monkeypatch.setenv("HUECAST_RETRAIN_JOBS", "-1")
    assert retrain.fold_jobs(tiny_dataset) == 4
    for bad in ("0", "two"):
        monkeypatch.setenv("HUECAST_RETRAIN_JOBS", bad)
        with pytest.raises(ValueError, match=f"HUECAST_RETRAIN_JOBS='{bad}'"):
            retrain.fold_jobs(tiny_dataset)


def test_the_worker_fits_the_folds_of_both_sides_in_parallel(install, monkeypatch, tmp_path):
    # Upload → scored challenger within a minute needs both cores: the challenger's CV and the
    # champion's CV on the same folds each get the plan's parallel folds, and the final fit runs
    # beside the champion's folds.
    monkeypatch.setenv("HUECAST_RETRAIN_JOBS", "2")
    asked = {}
    real_evaluate, real_compare = retrain.evaluate_configuration, retrain.compare_on_same_folds

    def evaluate_spy(*args, n_jobs=1, **kwargs):
        asked["challenger"] = n_jobs
        return real_evaluate(*args, n_jobs=1, **kwargs)  # one process here: the test is about what is asked for

    def compare_spy(*args, n_jobs=1, **kwargs):
        asked["champion"] = n_jobs
        return real_compare(*args, n_jobs=1, **kwargs)

    monkeypatch.setattr(retrain, "evaluate_configuration", evaluate_spy)
    monkeypatch.setattr(retrain, "compare_on_same_folds", compare_spy)
    store = install["store"]
    plan = retrain._challenger_plan(
        store.to_dataset(), user=LOCAL_ADMIN, model=None, store=store, store_version=store.version(), models_root=install["models_dir"],
        n_splits=2, seeds=(0,), fresh_search=False, notes=None,
    )
    assert plan.n_jobs == 2
    _, version = retrain._train_challenger_job(tmp_path, lambda fraction, message: None, plan)
    assert asked == {"challenger": 2, "champion": 2}
    assert retrain.load_comparison(tmp_path.name, jobs_dir=tmp_path.parent).challenger_version == version
    saved, _ = ModelRegistry(install["models_dir"]).load_model(version)
    dataset = store.to_dataset()
    serial = clone(saved).fit(dataset)  # the final fit made beside the champion's folds is the ordinary fit
    np.testing.assert_array_equal(saved.predict(dataset.recipes).reflectance, serial.predict(dataset.recipes).reflectance)
