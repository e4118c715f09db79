"""The serving form (model.models.serving_form) every fitted model predicts with, and its file (model.models.snapshot).

One prediction path: a fitted model keeps its MLP heads as plain-numpy programs (``serving_``
for the hybrid); predict, predict_members, predict_arrays, the snapshot file and the API all
run them. These tests hold that form to the scikit-learn heads' own ``predict``.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, PolynomialFeatures, StandardScaler

from model.models import snapshot as snapshot_file
from model.models.features import _features_sqrt
from model.models.hybrid import HybridModel
from model.models.mlp_forward import head_program, head_programs
from model.models.serving_form import ServingSnapshot, blended_prediction, recipe_inputs, run_program
from model.models.snapshot import FORMAT_VERSION
from model.registry import registry
from model.registry.registry import ModelRegistry


def quick_hybrid(**changes) -> HybridModel:
    """A hybrid that fits in about a second on the small datasets; accuracy is not what these tests are about."""
    return HybridModel(**{"hidden_layer_sizes": (8,), "max_iter": 200, "n_ensemble": 2, "inner_folds": 2, "blend_step": 0.25, **changes})


@pytest.fixture(scope="module")
def glowing_hybrid(glowing_dataset):
    """A hybrid with a fluorescence head (its training data has readings)."""
    return quick_hybrid().fit(glowing_dataset)


@pytest.fixture(scope="module")
def recipes(glowing_dataset):
    """Training recipes, then the same recipes at twice every loading and thickness (outside the training range)."""
    inside = glowing_dataset.recipes.iloc[::3].reset_index(drop=True)  # with and without the fluorescent colorant
    outside = inside * 2.0
    return inside, outside


def scikit_learn_reference(model: HybridModel, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The members' blended reflectance and CIELAB, and the physics, through the heads' own ``predict``."""
    spectra, Labs = model._parts().candidates(X, predictors=None)
    return np.einsum("c,cmnd->mnd", model.spectral_weights_, spectra), np.einsum("c,cmnd->mnd", model.lab_weights_, Labs), spectra[0, 0]


def scikit_learn_fluorescence(model: HybridModel, X: np.ndarray) -> np.ndarray:
    """The fluorescence head through its networks' own ``predict``: geometric mean, behind the gate (ct/s)."""
    head = model.fluorescence_head_
    expected = np.zeros(len(X))
    gate = head._gate(X)
    if gate.any():
        log_mean = np.mean([network.predict(X[gate]).reshape(-1) for network in head.networks_], axis=0)
        expected[gate] = 100.0 * np.expm1(np.clip(log_mean, 0, None))
    return expected


def scikit_learn_prediction(model: HybridModel, recipes):
    """The whole Prediction with every head run by scikit-learn's own ``predict`` (the reference the served form must equal)."""
    inputs = recipe_inputs(recipes, model.input_columns)
    X = inputs.to_numpy(dtype=float)
    member_reflectance, member_Lab, physics = scikit_learn_reference(model, X)
    fluorescence = scikit_learn_fluorescence(model, X) if model.has_fluorescence else None
    return blended_prediction(inputs, member_reflectance, member_Lab, physics, model.headline, model.training_range_, 16.5, fluorescence, model.bands_)


def assert_same_prediction(actual, expected, rtol=1e-9, atol=1e-9):
    names = ("reflectance", "Lab_head", "Lab_spectral", "Lab", "reflectance_physics", "Lab_physics", "uncertainty", "delta_e00_paths")
    names += ("sRGB",)
    for name in names:
        np.testing.assert_allclose(getattr(actual, name), getattr(expected, name), rtol=rtol, atol=atol, err_msg=name)
    if expected.fluorescence_cts is None:
        assert actual.fluorescence_cts is None
    else:
        np.testing.assert_allclose(actual.fluorescence_cts, expected.fluorescence_cts, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(actual.out_of_range, expected.out_of_range)
    assert actual.out_of_range_detail == expected.out_of_range_detail
    assert actual.headline == expected.headline
    assert actual.to_frame().columns.tolist() == expected.to_frame().columns.tolist()


def test_the_served_form_predicts_what_the_scikit_learn_heads_predict(glowing_hybrid, recipes):
    snapshot = glowing_hybrid.serving_
    assert isinstance(snapshot, ServingSnapshot) and glowing_hybrid.serving_snapshot() is snapshot
    assert snapshot.has_fluorescence
    assert snapshot.fluorescent_colorants == glowing_hybrid.fluorescent_colorants == ("FluoYellow",)
    assert snapshot.input_columns == glowing_hybrid.input_columns
    assert sum(len(programs) for programs in snapshot.heads.values()) == 4 * glowing_hybrid.n_ensemble
    for frame in recipes:
        X = frame.to_numpy(dtype=float)
        member_reflectance, member_Lab, physics = scikit_learn_reference(glowing_hybrid, X)
        for predictor in (snapshot, glowing_hybrid):  # the model runs its serving form: the same numbers
            served_reflectance, served_Lab = predictor.predict_members(X)
            np.testing.assert_allclose(served_reflectance, member_reflectance, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(served_Lab, member_Lab, rtol=1e-9, atol=1e-9)
            reflectance, Lab = predictor.predict_arrays(X)
            np.testing.assert_allclose(reflectance, member_reflectance.mean(axis=0), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(Lab, member_Lab.mean(axis=0), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(predictor.predict_fluorescence(X), scikit_learn_fluorescence(glowing_hybrid, X), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(snapshot.physics.reflectance(X), physics, rtol=1e-12, atol=1e-12)
        assert_same_prediction(glowing_hybrid.predict(frame), scikit_learn_prediction(glowing_hybrid, frame))
    gate = glowing_hybrid.fluorescence_head_._gate(recipes[0].to_numpy(dtype=float))
    assert gate.any() and not gate.all()  # the recipes exercise both sides of the fluorescence gate
    assert snapshot.predict(recipes[1]).out_of_range.all() and not snapshot.predict(recipes[0]).out_of_range.any()


def test_the_snapshot_checks_its_input_as_the_model_does(glowing_hybrid, recipes):
    snapshot = glowing_hybrid.serving_
    for bad, error in ((recipes[0].to_numpy(), TypeError), (recipes[0].drop(columns=["thickness_um"]), ValueError)):
        with pytest.raises(error) as from_model:
            glowing_hybrid.predict(bad)
        with pytest.raises(error) as from_snapshot:
            snapshot.predict(bad)
        assert str(from_snapshot.value) == str(from_model.value)


def test_save_and_load_give_the_models_predictions_without_a_pickle(glowing_hybrid, recipes, tmp_path):
    snapshot = glowing_hybrid.serving_
    path = tmp_path / "serving.npz"
    snapshot_file.save(snapshot, path)
    assert path.is_file() and not (tmp_path / "serving.npz.npz").exists()
    with np.load(path, allow_pickle=False) as archive:  # raises if anything in it needed a pickle
        assert all(archive[key].dtype != object for key in archive.files)
        manifest = json.loads(str(archive["manifest"][()]))
    assert manifest["format_version"] == FORMAT_VERSION
    assert path.read_bytes() == snapshot_file.to_bytes(snapshot)
    loaded = snapshot_file.load(path)
    assert loaded.colorants_ == snapshot.colorants_ and loaded.training_range_ == snapshot.training_range_
    assert loaded.fluorescent_colorants == snapshot.fluorescent_colorants and loaded.bands.keys() == snapshot.bands.keys()
    for frame in recipes:
        assert_same_prediction(loaded.predict(frame), glowing_hybrid.predict(frame), rtol=0, atol=0)


def test_a_file_it_cannot_read_is_refused_with_its_name_and_what_to_do(glowing_hybrid, tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="garbage.npz.*Load the full model.*retrain"):
        snapshot_file.load(garbage)
    # A newer format version.
    path = tmp_path / "serving.npz"
    snapshot_file.save(glowing_hybrid.serving_, path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    manifest = json.loads(str(arrays["manifest"][()]))
    arrays["manifest"] = np.array(json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}))
    newer = tmp_path / "newer.npz"
    with open(newer, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ValueError, match=f"newer.npz.*format version {FORMAT_VERSION + 1}"):
        snapshot_file.load(newer)
    # An object array would need a pickle: refused, not unpickled.
    with open(newer, "wb") as handle:
        np.savez(handle, manifest=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ValueError, match="newer.npz"):
        snapshot_file.load(newer)


def test_a_refit_makes_a_new_serving_form_and_a_new_headline_needs_one(tiny_dataset):
    model = quick_hybrid().fit(tiny_dataset)
    first = model.serving_
    X = tiny_dataset.recipes.head(4).to_numpy()
    model.set_params(random_state=3).fit(tiny_dataset)
    refitted = model.serving_
    # New seeds, new heads (the blend may weigh them at 0 on data this small, so the heads themselves are compared).
    assert refitted is not first
    assert not np.allclose(run_program(refitted.heads["plain_spectral"][0], X), run_program(first.heads["plain_spectral"][0], X))
    np.testing.assert_allclose(model.predict_members(X)[0], scikit_learn_reference(model, X)[0], rtol=1e-9, atol=1e-9)
    assert not model.has_fluorescence and refitted.fluorescent_colorants == () and refitted.predict_fluorescence(X) is None
    # The headline is a hyperparameter: like any other, it takes effect at the next fit.
    model.set_params(headline="spectral").fit(tiny_dataset)
    assert model.serving_.headline == "spectral" and model.predict(tiny_dataset.recipes.head(2)).headline == "spectral"


def test_a_model_pickled_before_its_fit_kept_a_serving_form_is_refused_with_what_to_do(glowing_hybrid, recipes, quick_model, tiny_dataset):
    formulation = clone(quick_model).fit(tiny_dataset)
    for model, missing, frame in ((glowing_hybrid, "serving_", recipes[0]), (formulation, "spectral_programs_", tiny_dataset.recipes.head(2))):
        old = pickle.loads(pickle.dumps(model))
        del old.__dict__[missing]  # what unpickling a model saved before its fit kept them gives
        with pytest.raises(NotFittedError, match=rf"older Huecast.*{missing}.*python -m model train"):
            old.predict(frame)
        with pytest.raises(NotFittedError, match="older Huecast"):
            old.predict_members(frame.to_numpy(dtype=float))


def test_a_snapshot_without_a_calibrated_band_states_the_spread_and_says_so(glowing_hybrid, recipes, tmp_path):
    # A serving.npz written before the calibrated band (issue 24) has none: the format keeps it optional.
    spread = dataclasses.replace(glowing_hybrid.serving_, bands=None)
    prediction = spread.predict(recipes[0])
    assert prediction.uncertainty_coverage is None and np.all(prediction.uncertainty > 0)
    path = tmp_path / "old.npz"
    snapshot_file.save(spread, path)
    loaded = snapshot_file.load(path)
    assert loaded.bands is None
    assert_same_prediction(loaded.predict(recipes[0]), prediction, rtol=0, atol=0)


def _fitted_head(seed: int, features=None, activation="tanh") -> TransformedTargetRegressor:
    X = np.random.default_rng(seed).uniform(0, 10, (30, 3))
    network = MLPRegressor(hidden_layer_sizes=(5,), activation=activation, solver="lbfgs", max_iter=200, random_state=seed)
    pipeline = make_pipeline(features if features is not None else FunctionTransformer(_features_sqrt), StandardScaler(), network)
    head = TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler(), check_inverse=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return head.fit(X, np.column_stack([X.sum(axis=1), np.sqrt(X[:, 0])]))


def _power(X, exponent):
    return np.asarray(X, dtype=float) ** exponent


def test_a_head_program_is_its_heads_own_arithmetic_for_every_activation():
    X = np.random.default_rng(2).uniform(0, 12, (25, 3))
    for activation in ("tanh", "relu", "logistic", "identity"):
        head = _fitted_head(0, activation=activation)
        for probe in (None, X[:4]):
            program = head_program(head, probe)
            assert program is not None and all(step.savable for step in program), activation
            np.testing.assert_allclose(run_program(program, X), head.predict(X), rtol=1e-10, atol=1e-12, err_msg=activation)


def test_a_head_it_cannot_replay_stops_the_fit_instead_of_predicting_another_way():
    assert head_program(_fitted_head(0, PolynomialFeatures(2))) is None  # a step the replay does not know
    # A feature map with keyword arguments it would have to pass on, and one without a name it could save.
    assert head_program(_fitted_head(0, FunctionTransformer(_power, kw_args={"exponent": 0.5}))) is None
    assert len(head_programs([_fitted_head(0), _fitted_head(1)], "spectral heads")) == 2
    with pytest.raises(ValueError, match=r"spectral heads of ensemble member\(s\) \[1\] cannot be replayed"):
        head_programs([_fitted_head(0), _fitted_head(1, PolynomialFeatures(2))], "spectral heads")
    with pytest.raises(ValueError, match=r"member\(s\) \[0\]"):
        head_programs([_fitted_head(0, FunctionTransformer(lambda X: np.asarray(X, dtype=float) * 2.0))], "spectral heads")


@pytest.fixture(scope="module")
def saved_hybrid(glowing_hybrid, tmp_path_factory):
    models_dir = tmp_path_factory.mktemp("models")
    card = ModelRegistry(models_dir).save_model(glowing_hybrid, metrics={}, dataset_info={"fingerprint": "x"})
    return models_dir, card


def test_the_registry_saves_and_checks_the_snapshot(saved_hybrid, glowing_hybrid, recipes):
    models_dir, card = saved_hybrid
    path = models_dir / card.version / registry.SERVING_FILE
    assert path.is_file() and card.serving_sha256 == registry._sha256(path)
    assert ModelRegistry(models_dir).read_card(card.version).serving_sha256 == card.serving_sha256
    snapshot, loaded_card = ModelRegistry(models_dir).load_serving(card.version)
    assert loaded_card == card
    assert_same_prediction(snapshot.predict(recipes[0]), glowing_hybrid.predict(recipes[0]), rtol=0, atol=0)
    model, _ = ModelRegistry(models_dir).load_model(card.version)  # the full model still loads beside it
    assert_same_prediction(model.predict(recipes[0]), snapshot.predict(recipes[0]), rtol=0, atol=0)


def test_a_tampered_snapshot_is_refused(glowing_hybrid, tmp_path):
    card = ModelRegistry(tmp_path).save_model(glowing_hybrid, metrics={}, dataset_info={"fingerprint": "x"})
    path = tmp_path / card.version / registry.SERVING_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(registry.IntegrityError, match="modified after it was saved"):
        ModelRegistry(tmp_path).load_serving(card.version)
    path.unlink()
    with pytest.raises(registry.IntegrityError, match="no serving.npz"):
        ModelRegistry(tmp_path).load_serving(card.version)
    # A version is served only when every file of it matches its card: a changed model file refuses the snapshot too.
    other = ModelRegistry(tmp_path).save_model(glowing_hybrid, metrics={}, dataset_info={"fingerprint": "x"}, version="other")
    with open(tmp_path / other.version / registry.MODEL_FILE, "ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(registry.IntegrityError, match="'other' was modified after it was saved"):
        ModelRegistry(tmp_path).load_serving(other.version)


def test_a_model_without_a_snapshot_saves_and_loads_as_before(quick_model, tiny_dataset, tmp_path):
    model = clone(quick_model).fit(tiny_dataset)
    assert model.serving_snapshot() is None and model.fluorescent_colorants == ()
    card = ModelRegistry(tmp_path).save_model(model, metrics={}, dataset_info={"fingerprint": "x"})
    assert card.serving_sha256 is None and not (tmp_path / card.version / registry.SERVING_FILE).exists()
    assert ModelRegistry(tmp_path).load_serving(card.version) == (None, card)
    loaded, loaded_card = ModelRegistry(tmp_path).load_model(card.version)
    assert loaded_card == card
    np.testing.assert_allclose(loaded.predict(tiny_dataset.recipes.head(3)).Lab, model.predict(tiny_dataset.recipes.head(3)).Lab)


def test_serving_a_snapshot_imports_neither_scikit_learn_nor_scipy_nor_joblib(saved_hybrid, recipes, tmp_path):
    models_dir, card = saved_hybrid
    recipes_path = tmp_path / "recipes.csv"
    recipes[1].to_csv(recipes_path, index=False)
    code = textwrap.dedent(f"""
        import sys
        import pandas as pd
        import model.models.snapshot, model.registry.registry
        snapshot = model.models.snapshot.load({str(models_dir / card.version / "serving.npz")!r})
        snapshot.predict(pd.read_csv({str(recipes_path)!r}))
        snapshot, card = model.registry.registry.ModelRegistry({str(models_dir)!r}).load_serving({card.version!r})
        prediction = snapshot.predict(pd.read_csv({str(recipes_path)!r}))
        assert prediction.fluorescence_cts is not None
        heavy = sorted({{name.split(".")[0] for name in sys.modules}} & {{"sklearn", "scipy", "joblib"}})
        print(",".join(heavy))
    """)
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"serving a snapshot imported {result.stdout.strip()}"


def test_the_model_contract_does_not_know_the_snapshot_file(repo_root):
    """base, mlp and fluorescence import the in-memory serving form only; the file format is the registry's business."""
    code = "import sys, model.models.base, model.models.mlp, model.models.fluorescence; print('model.models.snapshot' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, cwd=repo_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
