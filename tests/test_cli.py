"""The command line, run as a user runs it: in a subprocess, on real files."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from model import BAND_COLUMNS
from model.registry.registry import ModelRegistry

# Every test runs the command line in a fresh Python process.
pytestmark = pytest.mark.slow


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "model", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, repo_root):
    out = tmp_path_factory.mktemp("models")
    config = tmp_path_factory.mktemp("config") / "tiny.json"
    config.write_text(json.dumps({"hidden_layer_sizes": [16], "max_iter": 300, "n_ensemble": 1}))
    result = run_cli("train", "--data", repo_root / "data" / "demo", "--out", out, "--config", config, "--folds", 2, "--seeds", 0, cwd=repo_root)
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_saves_reports_and_promotes_the_first_model(trained_dir):
    out, result = trained_dir
    assert "headline path" in result.stdout and "leave-recipe-out" in result.stdout
    assert "Matched by name" in result.stderr  # the match report is printed
    model, card = ModelRegistry(out).load_champion()
    assert card.dataset["n_samples"] == 105 and card.dataset["n_recipes"] == 51
    assert card.config["hidden_layer_sizes"] == [16]
    assert card.notes["headline"] in ("spectral", "head")
    assert card.metrics["delta_e00_mean_headline"] > 0


def test_predict_writes_inputs_plus_colour_and_spectrum(trained_dir, tmp_path, repo_root):
    out, _ = trained_dir
    model, _ = ModelRegistry(out).load_champion()
    names = list(model.colorants_)
    recipes = pd.DataFrame({name: ["0"] * 2 for name in names})
    recipes[names[0]] = ["10%", "0"]
    recipes[names[1]] = ["2", "0%"]
    recipes[names[2]] = ["0", "1.5%"]
    recipes["thickness_um"] = [8, 12]
    recipes.insert(0, "name", ["first", "=HYPERLINK(\"x\")"])
    source = tmp_path / "recipes.csv"
    recipes.to_csv(source, index=False)
    target = tmp_path / "predictions.csv"
    result = run_cli("predict", "--model", out, "--input", source, "--output", target, cwd=repo_root)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(target)
    assert list(table.columns[:1]) == ["name"]
    assert {"L", "a", "b", "C", "h", "hex", "out_of_range", *BAND_COLUMNS} <= set(table.columns)
    assert table["name"].iloc[1].startswith("'=")  # formula injection neutralised
    inputs = pd.DataFrame({c: [0.0, 0.0] for c in names})
    inputs[names[0]] = [10.0, 0.0]
    inputs[names[1]] = [2.0, 0.0]
    inputs[names[2]] = [0.0, 1.5]
    inputs["thickness_um"] = [8.0, 12.0]
    np.testing.assert_allclose(table[["L", "a", "b"]].to_numpy(), model.predict(inputs).Lab, atol=1e-6)


def test_predict_reports_bad_rows_and_still_predicts_good_ones(trained_dir, tmp_path, repo_root):
    out, _ = trained_dir
    model, _ = ModelRegistry(out).load_champion()
    names = list(model.colorants_)
    lines = [",".join([*names, "thickness_um"]), ",".join(["1"] * len(names) + ["8"]), ",".join(["abc"] + ["1"] * (len(names) - 1) + ["8"])]
    source = tmp_path / "bad.csv"
    source.write_text("\n".join(lines) + "\n")
    target = tmp_path / "out.csv"
    result = run_cli("predict", "--model", out, "--input", source, "--output", target, cwd=repo_root)
    assert result.returncode == 1
    assert "row 3" in result.stderr and names[0] in result.stderr
    assert "Traceback" not in result.stderr
    assert len(pd.read_csv(target)) == 1


def test_predict_refuses_a_file_without_thickness(trained_dir, tmp_path, repo_root):
    out, _ = trained_dir
    model, _ = ModelRegistry(out).load_champion()
    source = tmp_path / "no_thickness.csv"
    source.write_text(",".join(model.colorants_) + "\n" + ",".join(["1"] * len(model.colorants_)) + "\n")
    result = run_cli("predict", "--model", out, "--input", source, "--output", tmp_path / "x.csv", cwd=repo_root)
    assert result.returncode == 2
    assert "thickness_um" in result.stderr and "Traceback" not in result.stderr


def test_train_on_the_real_folder_as_it_is(real_data_dir, tmp_path, repo_root):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"hidden_layer_sizes": [8], "max_iter": 200, "n_ensemble": 1}))
    result = run_cli("train", "--data", real_data_dir, "--out", tmp_path / "models", "--config", config, "--folds", 2, "--seeds", 0, cwd=repo_root)
    assert result.returncode == 0, result.stderr
    card = ModelRegistry(tmp_path / "models").load_champion()[1]
    assert card.dataset["n_samples"] == 83 and card.dataset["n_recipes"] == 43
    assert card.dataset["colorants"] == ["GXT-10", "BiVaO4", "PG", "PearlB"]
    # Fluorescence.csv is read, the head is scored leave-recipe-out, and the card and the table say so.
    assert "fluorescence MAE" in result.stdout and "ct/s" in result.stdout
    assert card.metrics["fluorescence_mae"] > 0 and card.metrics["fluorescence_n_samples"] > 50
    assert "GXT-10" in card.notes["fluorescence"]


def test_predict_has_the_fluorescence_column_filled_by_a_head_and_empty_without(trained_dir, tiny_install, tmp_path, repo_root):
    out, _ = trained_dir
    model, _ = ModelRegistry(out).load_champion()
    assert model.has_fluorescence, "the demo data has a Fluorescence.csv, so its model has a head"
    recipes = pd.DataFrame({c: [0.0, 0.0] for c in model.colorants_})
    fluorescent = model.fluorescence_head_.fluorescent_colorants_[0]
    recipes[fluorescent] = [10.0, 0.0]
    recipes[next(c for c in model.colorants_ if c != fluorescent)] = [1.0, 2.0]
    recipes["thickness_um"] = [8.0, 12.0]
    source, target = tmp_path / "recipes.csv", tmp_path / "predicted.csv"
    recipes.to_csv(source, index=False)
    assert run_cli("predict", "--model", out, "--input", source, "--output", target, cwd=repo_root).returncode == 0
    table = pd.read_csv(target)
    np.testing.assert_allclose(table["fluorescence_cts"], model.predict(recipes).fluorescence_cts, rtol=1e-9)
    assert table["fluorescence_cts"].iloc[0] > 0 and table["fluorescence_cts"].iloc[1] == 0

    # A model trained on data without readings: the column is there, empty.
    headless = tiny_install["model"]
    assert not headless.has_fluorescence
    plain = pd.DataFrame({**{c: [1.0] for c in headless.colorants_}, "thickness_um": [10.0]})
    plain.to_csv(source, index=False)
    headless_dir = tiny_install["models_dir"] / tiny_install["card"].version
    assert run_cli("predict", "--model", headless_dir, "--input", source, "--output", target, cwd=repo_root).returncode == 0
    table = pd.read_csv(target)
    assert "fluorescence_cts" in table.columns and table["fluorescence_cts"].isna().all()
    assert target.read_text().splitlines()[1].endswith(",")  # an empty cell, not a 0


def test_a_bad_hyperparameter_is_named_without_a_traceback(tmp_path, repo_root):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"kind": "FormulationModel", "activation": "softsign"}))
    result = run_cli("evaluate", "--data", repo_root / "data" / "demo", "--config", config, "--folds", 2, "--seeds", 0, cwd=repo_root)
    assert result.returncode == 2
    assert "activation" in result.stderr and "softsign" in result.stderr and "Traceback" not in result.stderr
    config.write_text(json.dumps({"kind": "TorchModel"}))
    result = run_cli("evaluate", "--data", repo_root / "data" / "demo", "--config", config, cwd=repo_root)
    assert result.returncode == 2 and "known kinds" in result.stderr and "Traceback" not in result.stderr


_PREDICT_IN_PROCESS = """
import json, runpy, sys
sys.argv = ["model", "predict", "--model", sys.argv[1], "--input", sys.argv[2], "--output", sys.argv[3]]
try:
    runpy.run_module("model", run_name="__main__")
except SystemExit as exit_:
    code = exit_.code
print(json.dumps({"code": code, "sklearn": "sklearn" in sys.modules, "joblib": "joblib" in sys.modules}))
"""


def test_predict_with_the_shipped_champion_uses_its_serving_snapshot(tmp_path, repo_root):
    """The shipped hybrid has a serving snapshot: predict reads it, imports neither scikit-learn nor joblib,
    and gives the full model's numbers."""
    model, card = ModelRegistry(repo_root / "trained_models").load_champion()
    recipes = pd.DataFrame({name: [1.0, 0.0, 5.0] for name in model.colorants_})
    recipes["thickness_um"] = [8.0, 12.0, 10.0]
    source, target = tmp_path / "recipes.csv", tmp_path / "predictions.csv"
    recipes.to_csv(source, index=False)
    run = subprocess.run([sys.executable, "-c", _PREDICT_IN_PROCESS, str(repo_root / "trained_models"), str(source), str(target)],
                         cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer == {"code": 0, "sklearn": False, "joblib": False}
    table = pd.read_csv(target)
    np.testing.assert_allclose(table[["L", "a", "b"]].to_numpy(), model.predict(recipes).Lab, atol=1e-9)
    assert f"with model {card.version}" in run.stderr


def test_train_on_a_dask_cluster_scores_as_the_local_run(trained_dir, tmp_path, repo_root):
    """Issue 27: ``train --cluster ADDRESS`` runs the folds on the cluster's workers; the folds, and so the scores, are the same."""
    distributed = pytest.importorskip("dask.distributed", reason="dask.distributed is not installed (pip install -r requirements.txt)")
    local_dir, _ = trained_dir
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"hidden_layer_sizes": [16], "max_iter": 300, "n_ensemble": 1}))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0") as cluster:
        result = run_cli("train", "--data", repo_root / "data" / "demo", "--out", tmp_path / "models", "--config", config, "--folds", 2,
                         "--seeds", 0, "--cluster", cluster.scheduler_address, cwd=repo_root)
    assert result.returncode == 0, result.stderr
    _, on_cluster = ModelRegistry(tmp_path / "models").load_champion()
    _, local = ModelRegistry(local_dir).load_champion()
    assert on_cluster.metrics["delta_e00_mean_headline"] == local.metrics["delta_e00_mean_headline"]
