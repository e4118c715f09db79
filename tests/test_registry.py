import json
import threading

import numpy as np
import pytest
from sklearn.base import clone

from model import IntegrityError
from model.ops import registry
from model.ops.access import LOCAL_ADMIN


@pytest.fixture
def saved(tmp_path, tiny_dataset, quick_model):
    model = clone(quick_model).fit(tiny_dataset)
    card = registry.save_model(model, metrics={"delta_e00_mean_headline": 1.0}, dataset_info={"fingerprint": tiny_dataset.fingerprint()}, models_dir=tmp_path)
    return tmp_path, model, card


def test_save_writes_joblib_and_card_with_provenance(saved):
    root, model, card = saved
    folder = root / card.version
    assert (folder / "model.joblib").is_file()
    data = json.loads((folder / "card.json").read_text())
    assert data["sha256"] == card.sha256 and len(card.sha256) == 64
    assert data["config"]["hidden_layer_sizes"] == list(model.hidden_layer_sizes)
    assert {"scikit-learn", "numpy", "colour-science"} <= set(data["library_versions"])
    assert data["dataset"]["fingerprint"]
    assert registry.champion_version(root) is None  # saving never promotes


def test_load_returns_the_same_predictions(saved, tiny_dataset):
    root, model, card = saved
    loaded, loaded_card = registry.load_model(card.version, root)
    assert loaded_card == card
    np.testing.assert_array_equal(loaded.predict(tiny_dataset.recipes).reflectance, model.predict(tiny_dataset.recipes).reflectance)


def test_tampered_model_file_is_refused(saved):
    root, _, card = saved
    path = root / card.version / "model.joblib"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(IntegrityError, match="modified after it was saved"):
        registry.load_model(card.version, root)


def test_version_name_cannot_escape_the_models_directory(saved):
    root, _, _ = saved
    with pytest.raises(IntegrityError):
        registry.load_model("../elsewhere", root)


def test_promote_and_roll_back_move_the_pointer(saved, tiny_dataset, quick_model):
    root, _, first = saved
    registry.promote(first.version, root, user=LOCAL_ADMIN)
    other = clone(quick_model).set_params(random_state=5).fit(tiny_dataset)
    second = registry.save_model(other, metrics={}, dataset_info={"fingerprint": "x"}, models_dir=root, version="second")
    registry.promote(second.version, root, user=LOCAL_ADMIN)
    assert registry.champion_version(root) == "second"
    registry.promote(first.version, root, action="rollback", user=LOCAL_ADMIN)
    assert registry.load_champion(root)[1].version == first.version
    assert [entry["action"] for entry in registry.promotion_history(root)] == ["promote", "promote", "rollback"]
    assert {c.version for c in registry.list_cards(root)} == {first.version, "second"}


def test_promote_refuses_a_broken_version_and_keeps_the_champion(saved):
    root, _, card = saved
    registry.promote(card.version, root, user=LOCAL_ADMIN)
    (root / "broken").mkdir()
    (root / "broken" / "card.json").write_text("{not json")
    with pytest.raises(IntegrityError):
        registry.promote("broken", root, user=LOCAL_ADMIN)
    assert registry.champion_version(root) == card.version


def test_versions_are_never_overwritten(saved, tiny_dataset):
    root, model, card = saved
    with pytest.raises(FileExistsError):
        registry.save_model(model, metrics={}, dataset_info={}, models_dir=root, version=card.version)
    assert not list(root.glob(".staging-*"))


def test_no_champion_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m model train"):
        registry.load_champion(tmp_path)


def test_readers_see_a_whole_pointer_during_promotions(saved, tiny_dataset, quick_model):
    root, _, first = saved
    second = registry.save_model(clone(quick_model).fit(tiny_dataset), metrics={}, dataset_info={}, models_dir=root, version="second")
    registry.promote(first.version, root, user=LOCAL_ADMIN)
    seen, stop = set(), threading.Event()

    def read():
        while not stop.is_set():
            seen.add(registry.champion_version(root))

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(20):
        registry.promote(second.version, root, user=LOCAL_ADMIN)
        registry.promote(first.version, root, user=LOCAL_ADMIN)
    stop.set()
    reader.join()
    assert seen <= {first.version, second.version}


def test_a_viewer_cannot_promote(saved):
    from model.ops.access import PermissionDenied, User

    root, _, card = saved
    with pytest.raises(PermissionDenied, match="needs an admin"):
        registry.promote(card.version, root, user=User("guest", "viewer"))
    assert registry.champion_version(root) is None


def test_tampered_champion_falls_back_to_the_last_good_one(saved, tiny_dataset, quick_model):
    root, _, first = saved
    registry.promote(first.version, root, user=LOCAL_ADMIN)
    second = registry.save_model(clone(quick_model).fit(tiny_dataset), metrics={}, dataset_info={}, models_dir=root, version="second")
    registry.promote(second.version, root, user=LOCAL_ADMIN)
    (root / "second" / "model.joblib").write_bytes(b"not a model")
    with pytest.raises(IntegrityError):
        registry.load_champion(root)
    with pytest.warns(UserWarning, match="last good champion"):
        _, card = registry.load_champion(root, fallback=True)
    assert card.version == first.version
    assert registry.champion_version(root) == "second"  # the pointer is an admin's decision
