"""The serving snapshot (model.models.snapshot): the hybrid's prediction as plain arrays, its file and the registry's copy."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone

from model.models import hybrid
from model.models.hybrid import HybridModel
from model.models.snapshot import FORMAT_VERSION, ServingSnapshot
from model.registry import registry


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


def without_snapshot(model: HybridModel, monkeypatch) -> HybridModel:
    """A copy of ``model`` that cannot build a snapshot, so it predicts through scikit-learn's ``predict``."""
    monkeypatch.setattr(hybrid, "head_program", lambda head, probe=None: None)
    reference = copy.deepcopy(model)  # a copy leaves the cached snapshot behind
    assert reference.serving_snapshot() is None
    return reference


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


def test_the_snapshot_predicts_what_the_scikit_learn_heads_predict(glowing_hybrid, recipes, monkeypatch):
    snapshot = glowing_hybrid.serving_snapshot()
    assert snapshot is not None and snapshot.has_fluorescence
    assert snapshot.fluorescent_colorants == glowing_hybrid.fluorescent_colorants == ("FluoYellow",)
    assert snapshot.input_columns == glowing_hybrid.input_columns
    for frame in recipes:
        X = frame.to_numpy(dtype=float)
        member_reflectance, member_Lab, physics = scikit_learn_reference(glowing_hybrid, X)
        snap_reflectance, snap_Lab = snapshot.predict_members(X)
        np.testing.assert_allclose(snap_reflectance, member_reflectance, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(snap_Lab, member_Lab, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(snapshot.physics.reflectance(X), physics, rtol=1e-12, atol=1e-12)
        reflectance, Lab = snapshot.predict_arrays(X)
        np.testing.assert_allclose(reflectance, member_reflectance.mean(axis=0), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(Lab, member_Lab.mean(axis=0), rtol=1e-9, atol=1e-9)
        # Fluorescence: the head's networks through their own predict, geometric mean, behind the gate.
        head = glowing_hybrid.fluorescence_head_
        expected = np.zeros(len(X))
        gate = head._gate(X)
        assert gate.any() and not gate.all()
        log_mean = np.mean([network.predict(X[gate]).reshape(-1) for network in head.networks_], axis=0)
        expected[gate] = 100.0 * np.expm1(np.clip(log_mean, 0, None))
        np.testing.assert_allclose(snapshot.predict_fluorescence(X), expected, rtol=1e-9, atol=1e-9)
    reference = without_snapshot(glowing_hybrid, monkeypatch)
    for frame in recipes:
        assert_same_prediction(snapshot.predict(frame), reference.predict(frame))
        assert_same_prediction(glowing_hybrid.predict(frame), reference.predict(frame))
    assert snapshot.predict(recipes[1]).out_of_range.all() and not snapshot.predict(recipes[0]).out_of_range.any()


def test_the_snapshot_checks_its_input_as_the_model_does(glowing_hybrid, recipes):
    snapshot = glowing_hybrid.serving_snapshot()
    for bad, error in ((recipes[0].to_numpy(), TypeError), (recipes[0].drop(columns=["thickness_um"]), ValueError)):
        with pytest.raises(error) as from_model:
            glowing_hybrid.predict(bad)
        with pytest.raises(error) as from_snapshot:
            snapshot.predict(bad)
        assert str(from_snapshot.value) == str(from_model.value)


def test_save_and_load_give_the_same_predictions_without_a_pickle(glowing_hybrid, recipes, tmp_path):
    snapshot = glowing_hybrid.serving_snapshot()
    path = tmp_path / "serving.npz"
    snapshot.save(path)
    assert path.is_file() and not (tmp_path / "serving.npz.npz").exists()
    with np.load(path, allow_pickle=False) as archive:  # raises if anything in it needed a pickle
        assert all(archive[key].dtype != object for key in archive.files)
        manifest = json.loads(str(archive["manifest"][()]))
    assert manifest["format_version"] == FORMAT_VERSION
    loaded = ServingSnapshot.load(path)
    assert loaded.colorants_ == snapshot.colorants_ and loaded.training_range_ == snapshot.training_range_
    assert loaded.fluorescent_colorants == snapshot.fluorescent_colorants
    for frame in recipes:
        assert_same_prediction(loaded.predict(frame), snapshot.predict(frame), rtol=0, atol=0)


def test_a_file_it_cannot_read_is_refused_with_its_name_and_what_to_do(glowing_hybrid, tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="garbage.npz.*add_serving_snapshot"):
        ServingSnapshot.load(garbage)
    # A newer format version.
    path = tmp_path / "serving.npz"
    glowing_hybrid.serving_snapshot().save(path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    manifest = json.loads(str(arrays["manifest"][()]))
    arrays["manifest"] = np.array(json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}))
    newer = tmp_path / "newer.npz"
    with open(newer, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ValueError, match=f"newer.npz.*format version {FORMAT_VERSION + 1}"):
        ServingSnapshot.load(newer)
    # An object array would need a pickle: refused, not unpickled.
    with open(newer, "wb") as handle:
        np.savez(handle, manifest=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ValueError, match="newer.npz"):
        ServingSnapshot.load(newer)


def test_a_refit_or_a_new_headline_is_never_served_a_stale_snapshot(tiny_dataset):
    model = quick_hybrid().fit(tiny_dataset)
    first = model.serving_snapshot()
    assert model.serving_snapshot() is first  # cached
    model.set_params(headline="spectral")
    assert model.serving_snapshot().headline == "spectral"
    model.set_params(random_state=3).fit(tiny_dataset)
    refitted = model.serving_snapshot()
    assert refitted is not first
    X = tiny_dataset.recipes.head(4).to_numpy()
    np.testing.assert_allclose(refitted.predict_members(X)[0], scikit_learn_reference(model, X)[0], rtol=1e-9, atol=1e-9)
    assert not model.has_fluorescence and refitted.fluorescent_colorants == () and refitted.predict_fluorescence(X) is None


@pytest.fixture(scope="module")
def saved_hybrid(glowing_hybrid, tmp_path_factory):
    models_dir = tmp_path_factory.mktemp("models")
    card = registry.save_model(glowing_hybrid, metrics={}, dataset_info={"fingerprint": "x"}, models_dir=models_dir)
    return models_dir, card


def test_the_registry_saves_and_checks_the_snapshot(saved_hybrid, glowing_hybrid, recipes):
    models_dir, card = saved_hybrid
    path = models_dir / card.version / registry.SERVING_FILE
    assert path.is_file() and card.serving_sha256 == registry._sha256(path)
    assert registry.read_card(card.version, models_dir).serving_sha256 == card.serving_sha256
    snapshot, loaded_card = registry.load_serving(card.version, models_dir)
    assert loaded_card == card
    assert_same_prediction(snapshot.predict(recipes[0]), glowing_hybrid.predict(recipes[0]), rtol=0, atol=0)
    model, _ = registry.load_model(card.version, models_dir)  # the full model still loads beside it
    assert_same_prediction(model.predict(recipes[0]), snapshot.predict(recipes[0]), rtol=0, atol=0)


def test_a_tampered_snapshot_is_refused(glowing_hybrid, tmp_path):
    card = registry.save_model(glowing_hybrid, metrics={}, dataset_info={"fingerprint": "x"}, models_dir=tmp_path)
    path = tmp_path / card.version / registry.SERVING_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(registry.IntegrityError, match="modified after it was saved"):
        registry.load_serving(card.version, tmp_path)
    path.unlink()
    with pytest.raises(registry.IntegrityError, match="no serving.npz"):
        registry.load_serving(card.version, tmp_path)
    # A version is served only when every file of it matches its card: a changed model file refuses the snapshot too.
    other = registry.save_model(glowing_hybrid, metrics={}, dataset_info={"fingerprint": "x"}, models_dir=tmp_path, version="other")
    with open(tmp_path / other.version / registry.MODEL_FILE, "ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(registry.IntegrityError, match="'other' was modified after it was saved"):
        registry.load_serving(other.version, tmp_path)


def test_a_version_saved_before_snapshots_gets_one_added(glowing_hybrid, recipes, tmp_path):
    card = registry.save_model(glowing_hybrid, metrics={}, dataset_info={"fingerprint": "x"}, models_dir=tmp_path)
    folder = tmp_path / card.version
    # As a version saved before snapshots existed: no file, and a card without the field.
    (folder / registry.SERVING_FILE).unlink()
    data = json.loads((folder / registry.CARD_FILE).read_text(encoding="utf-8"))
    del data["serving_sha256"]
    (folder / registry.CARD_FILE).write_text(json.dumps(data), encoding="utf-8")
    snapshot, old_card = registry.load_serving(card.version, tmp_path)
    assert snapshot is None and old_card.serving_sha256 is None and old_card.sha256 == card.sha256
    upgraded = registry.add_serving_snapshot(card.version, tmp_path)
    assert upgraded.serving_sha256 == registry._sha256(folder / registry.SERVING_FILE)
    assert {**json.loads(upgraded.to_json()), "serving_sha256": None} == json.loads(old_card.to_json())
    snapshot, loaded_card = registry.load_serving(card.version, tmp_path)
    assert loaded_card == upgraded
    assert_same_prediction(snapshot.predict(recipes[1]), glowing_hybrid.predict(recipes[1]), rtol=0, atol=0)
    assert registry.add_serving_snapshot(card.version, tmp_path) == upgraded  # a second call changes nothing
    registry.load_model(card.version, tmp_path)  # the model file is untouched


def test_a_model_without_a_snapshot_saves_and_loads_as_before(quick_model, tiny_dataset, tmp_path):
    model = clone(quick_model).fit(tiny_dataset)
    assert model.serving_snapshot() is None and model.fluorescent_colorants == ()
    card = registry.save_model(model, metrics={}, dataset_info={"fingerprint": "x"}, models_dir=tmp_path)
    assert card.serving_sha256 is None and not (tmp_path / card.version / registry.SERVING_FILE).exists()
    assert registry.load_serving(card.version, tmp_path) == (None, card)
    loaded, loaded_card = registry.load_model(card.version, tmp_path)
    assert loaded_card == card
    np.testing.assert_allclose(loaded.predict(tiny_dataset.recipes.head(3)).Lab, model.predict(tiny_dataset.recipes.head(3)).Lab)
    with pytest.raises(ValueError, match="has no serving snapshot"):
        registry.add_serving_snapshot(card.version, tmp_path)


def test_serving_a_snapshot_imports_neither_scikit_learn_nor_scipy_nor_joblib(saved_hybrid, recipes, tmp_path):
    models_dir, card = saved_hybrid
    recipes_path = tmp_path / "recipes.csv"
    recipes[1].to_csv(recipes_path, index=False)
    code = textwrap.dedent(f"""
        import sys
        import pandas as pd
        import model.models.snapshot, model.registry.registry
        from model.models.snapshot import ServingSnapshot
        snapshot = ServingSnapshot.load({str(models_dir / card.version / "serving.npz")!r})
        snapshot.predict(pd.read_csv({str(recipes_path)!r}))
        snapshot, card = model.registry.registry.load_serving({card.version!r}, {str(models_dir)!r})
        prediction = snapshot.predict(pd.read_csv({str(recipes_path)!r}))
        assert prediction.fluorescence_cts is not None
        heavy = sorted({{name.split(".")[0] for name in sys.modules}} & {{"sklearn", "scipy", "joblib"}})
        print(",".join(heavy))
    """)
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"serving a snapshot imported {result.stdout.strip()}"
