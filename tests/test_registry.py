import errno
import json
import os
import re
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from model import IntegrityError
from model.auth.access import LOCAL_ADMIN
from model.jobs import retrain
from model.registry import registry
from model.registry.registry import ModelRegistry


@pytest.fixture
def saved(tmp_path, tiny_dataset, quick_model):
    model = clone(quick_model).fit(tiny_dataset)
    card = ModelRegistry(tmp_path).save_model(model, metrics={"delta_e00_mean_headline": 1.0}, dataset_info={"fingerprint": tiny_dataset.fingerprint()})
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
    assert ModelRegistry(root).champion_version() is None  # saving never promotes


def test_load_returns_the_same_predictions(saved, tiny_dataset):
    root, model, card = saved
    loaded, loaded_card = ModelRegistry(root).load_model(card.version)
    assert loaded_card == card
    np.testing.assert_array_equal(loaded.predict(tiny_dataset.recipes).reflectance, model.predict(tiny_dataset.recipes).reflectance)


def test_tampered_model_file_is_refused(saved):
    root, _, card = saved
    path = root / card.version / "model.joblib"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(IntegrityError, match="modified after it was saved"):
        ModelRegistry(root).load_model(card.version)


def test_version_name_cannot_escape_the_models_directory(saved):
    root, _, _ = saved
    with pytest.raises(IntegrityError):
        ModelRegistry(root).load_model("../elsewhere")


def test_promote_and_roll_back_move_the_pointer(saved, tiny_dataset, quick_model):
    root, _, first = saved
    ModelRegistry(root).promote(first.version, user=LOCAL_ADMIN)
    other = clone(quick_model).set_params(random_state=5).fit(tiny_dataset)
    second = ModelRegistry(root).save_model(other, metrics={}, dataset_info={"fingerprint": "x"}, version="second")
    ModelRegistry(root).promote(second.version, user=LOCAL_ADMIN)
    assert ModelRegistry(root).champion_version() == "second"
    ModelRegistry(root).promote(first.version, action="rollback", user=LOCAL_ADMIN)
    assert ModelRegistry(root).load_champion()[1].version == first.version
    assert [entry["action"] for entry in ModelRegistry(root).promotion_history()] == ["promote", "promote", "rollback"]
    assert {c.version for c in ModelRegistry(root).list_cards()} == {first.version, "second"}


def test_promote_refuses_a_broken_version_and_keeps_the_champion(saved):
    root, _, card = saved
    ModelRegistry(root).promote(card.version, user=LOCAL_ADMIN)
    (root / "broken").mkdir()
    (root / "broken" / "card.json").write_text("{not json")
    with pytest.raises(IntegrityError):
        ModelRegistry(root).promote("broken", user=LOCAL_ADMIN)
    assert ModelRegistry(root).champion_version() == card.version


def test_versions_are_never_overwritten(saved, tiny_dataset):
    root, model, card = saved
    with pytest.raises(FileExistsError):
        ModelRegistry(root).save_model(model, metrics={}, dataset_info={}, version=card.version)
    assert not list(root.glob(".staging-*"))


def test_no_champion_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m model train"):
        ModelRegistry(tmp_path).load_champion()


def test_readers_see_a_whole_pointer_during_promotions(saved, tiny_dataset, quick_model):
    root, _, first = saved
    second = ModelRegistry(root).save_model(clone(quick_model).fit(tiny_dataset), metrics={}, dataset_info={}, version="second")
    ModelRegistry(root).promote(first.version, user=LOCAL_ADMIN)
    seen, stop = set(), threading.Event()

    def read():
        while not stop.is_set():
            seen.add(ModelRegistry(root).champion_version())

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(20):
        ModelRegistry(root).promote(second.version, user=LOCAL_ADMIN)
        ModelRegistry(root).promote(first.version, user=LOCAL_ADMIN)
    stop.set()
    reader.join()
    assert seen <= {first.version, second.version}


def test_a_viewer_cannot_promote(saved):
    from model.auth.access import PermissionDenied, User

    root, _, card = saved
    with pytest.raises(PermissionDenied, match="needs an admin"):
        ModelRegistry(root).promote(card.version, user=User("guest", "viewer"))
    assert ModelRegistry(root).champion_version() is None


def test_tampered_champion_falls_back_to_the_last_good_one(saved, tiny_dataset, quick_model):
    root, _, first = saved
    ModelRegistry(root).promote(first.version, user=LOCAL_ADMIN)
    second = ModelRegistry(root).save_model(clone(quick_model).fit(tiny_dataset), metrics={}, dataset_info={}, version="second")
    ModelRegistry(root).promote(second.version, user=LOCAL_ADMIN)
    (root / "second" / "model.joblib").write_bytes(b"not a model")
    with pytest.raises(IntegrityError):
        ModelRegistry(root).load_champion()
    with pytest.warns(UserWarning, match="last good champion"):
        _, card = ModelRegistry(root).load_champion(fallback=True)
    assert card.version == first.version
    assert ModelRegistry(root).champion_version() == "second"  # the pointer is an admin's decision


# --------------------------------------------------------------------------------------
# File modes: what a server running as another user can read
# --------------------------------------------------------------------------------------


def test_pointer_log_cards_and_model_files_get_the_umask_mode_not_a_private_one(tmp_path, tiny_dataset, quick_model):
    """CHAMPION used to be 0600 (mkstemp's mode): a dashboard running as another user then failed every call.

    The umask 002 here (group-writable, as a shared lab account might use) tells the
    umask's mode apart from a hard-coded 0644 as well as from mkstemp's 0600.
    """
    model = clone(quick_model).fit(tiny_dataset)
    previous = os.umask(0o002)
    try:
        card = ModelRegistry(tmp_path).save_model(model, metrics={}, dataset_info={}, version="v1")
        ModelRegistry(tmp_path).promote(card.version, user=LOCAL_ADMIN)
    finally:
        os.umask(previous)
    folder = tmp_path / "v1"
    files = [tmp_path / registry.POINTER_FILE, tmp_path / registry.PROMOTIONS_FILE, *folder.iterdir()]
    assert {path.name for path in files} >= {"CHAMPION", "promotions.jsonl", "card.json", "model.joblib"}
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {path.name: 0o666 & ~0o002 for path in files}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~0o002


# --------------------------------------------------------------------------------------
# Version names: refused before they reach a path
# --------------------------------------------------------------------------------------

BAD_VERSION_NAMES = ["../elsewhere", "a/b", "/etc/passwd", "..", "v1..2", ".hidden", "a\\b", "x" * 129, "v1\n", "-v1"]


@pytest.mark.parametrize("name", BAD_VERSION_NAMES)
def test_a_version_name_outside_the_pattern_is_refused_wherever_it_would_become_a_path(saved, name):
    root, model, _ = saved
    calls = {
        "read_card": lambda: ModelRegistry(root).read_card(name),
        "load_model": lambda: ModelRegistry(root).load_model(name),
        "load_serving": lambda: ModelRegistry(root).load_serving(name),
        "check_version": lambda: ModelRegistry(root).check_version(name),
        "promote": lambda: ModelRegistry(root).promote(name, user=LOCAL_ADMIN),
        "rollback": lambda: retrain.rollback(name, user=LOCAL_ADMIN, models_dir=root),
        "discard": lambda: retrain.discard_challenger(name, user=LOCAL_ADMIN, models_dir=root),
        "save_model": lambda: ModelRegistry(root).save_model(model, metrics={}, dataset_info={}, version=name),
    }
    for where, call in calls.items():
        with pytest.raises(ValueError, match=re.escape(registry.VERSION_PATTERN)) as caught:
            call()
        assert isinstance(caught.value, registry.IntegrityError), where  # a pointer holding one falls back like any damage
    assert sorted(path.name for path in root.iterdir()) == [saved[2].version]  # nothing was written


def test_the_names_the_registry_makes_and_admins_use_are_accepted(saved):
    root, model, card = saved
    for name in (card.version, "v1-good", "second", "challenger-1", "v2.1_rc"):
        assert registry.check_version_name(name) == name


# --------------------------------------------------------------------------------------
# A models folder the server may not write: a message that says what to fix, before any work
# --------------------------------------------------------------------------------------


def _deny_writes(monkeypatch, root: Path, code: int = errno.EACCES) -> None:
    """Make every write into ``root`` fail with ``code``, as a folder without write permission (EACCES), a
    read-only mount (EROFS) or a full disk (ENOSPC) does, whoever runs the test (root ignores permission bits)."""
    root = Path(root).resolve()
    real_open, real_mkdir, real_replace = os.open, os.mkdir, os.replace

    def inside(path) -> bool:
        return isinstance(path, (str, bytes, os.PathLike)) and Path(os.fsdecode(path)).resolve().is_relative_to(root)

    def refuse(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path))  # OSError(EACCES, …) is a PermissionError

    def open_(path, flags, mode=0o777, *, dir_fd=None):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            refuse(path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def mkdir(path, mode=0o777, *, dir_fd=None):
        if inside(path):
            refuse(path)
        return real_mkdir(path, mode, dir_fd=dir_fd)

    def replace(source, target, **kwargs):
        if inside(source) or inside(target):
            refuse(target)
        return real_replace(source, target, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "replace", replace)


@pytest.fixture(params=["chmod 0o555", "simulated"])
def make_read_only(request, monkeypatch):
    """``make_read_only(folder)``: really (chmod 0o555; skipped as root, whom permission bits do not stop) or simulated."""

    def make(folder: Path) -> None:
        if request.param == "simulated":
            _deny_writes(monkeypatch, folder)
            return
        if os.geteuid() == 0:
            pytest.skip("running as root, which ignores permission bits; the 'simulated' case covers this")
        folder.chmod(0o555)
        request.addfinalizer(lambda: folder.chmod(0o755))

    return make


FIX_WORDS = ("HUECAST_MODELS_DIR", "may not write", "write permission")


def test_promote_rollback_save_and_discard_in_a_read_only_folder_say_what_to_fix(saved, tiny_dataset, quick_model, make_read_only):
    root, model, first = saved
    ModelRegistry(root).promote(first.version, user=LOCAL_ADMIN)
    second = ModelRegistry(root).save_model(model, metrics={}, dataset_info={}, version="second")
    history = ModelRegistry(root).promotion_history()
    make_read_only(root)
    attempts = {
        "promote": lambda: retrain.promote_challenger(second.version, user=LOCAL_ADMIN, models_dir=root),
        "rollback": lambda: retrain.rollback(first.version, user=LOCAL_ADMIN, models_dir=root),
        "save": lambda: ModelRegistry(root).save_model(model, metrics={}, dataset_info={}, version="third"),
        "discard": lambda: retrain.discard_challenger(second.version, user=LOCAL_ADMIN, models_dir=root),
        "check": lambda: ModelRegistry(root).check_writable(),
    }
    for action, attempt in attempts.items():
        with pytest.raises(registry.StorageError) as caught:
            attempt()
        message = str(caught.value)
        assert all(word in message for word in FIX_WORDS), f"{action}: {message}"
        assert str(root) not in message, "the message may reach a web client: the folder is named by its setting"
        assert caught.value.folder == root
    assert ModelRegistry(root).champion_version() == first.version
    assert ModelRegistry(root).promotion_history() == history
    assert sorted(path.name for path in root.iterdir()) == sorted([first.version, "second", "CHAMPION", "promotions.jsonl"])


@pytest.mark.parametrize("code, advice", [(errno.EROFS, "read-only file system; remount it read-write"), (errno.ENOSPC, "is full; free some space")])
def test_a_read_only_mount_or_a_full_disk_is_named_as_such(tmp_path, monkeypatch, code, advice):
    _deny_writes(monkeypatch, tmp_path, code)
    with pytest.raises(registry.StorageError, match=advice):
        ModelRegistry(tmp_path / "models").check_writable()


def test_cli_train_into_a_read_only_folder_fails_before_reading_data_or_training(tmp_path, monkeypatch, capsys, make_read_only):
    import model.__main__ as cli
    from model.jobs import training

    out = tmp_path / "models"
    out.mkdir()
    make_read_only(out)

    def never(*args, **kwargs):
        raise AssertionError("training started although the models folder cannot be written")

    monkeypatch.setattr(cli, "_load_data", never)
    monkeypatch.setattr(training, "train_and_evaluate", never)
    assert cli.main(["train", "--data", "data/demo", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert all(word in error for word in FIX_WORDS) and str(out) in error, error  # on the command line the folder is shown


def test_a_challenger_is_not_started_when_the_models_folder_cannot_be_written(tmp_path, tiny_dataset, make_read_only):
    models, jobs_dir = tmp_path / "models", tmp_path / "jobs"
    models.mkdir()
    make_read_only(models)
    with pytest.raises(registry.StorageError, match="HUECAST_MODELS_DIR"):
        retrain.start_challenger(tiny_dataset, user=LOCAL_ADMIN, models_dir=models, jobs_dir=jobs_dir)
    assert not jobs_dir.exists() or not any(jobs_dir.iterdir())  # no job was queued


def test_a_search_is_not_started_when_the_models_folder_cannot_be_written(tmp_path, tiny_dataset, make_read_only):
    from model.jobs import search

    models, jobs_dir = tmp_path / "models", tmp_path / "jobs"
    models.mkdir()
    make_read_only(models)
    with pytest.raises(registry.StorageError, match="HUECAST_MODELS_DIR"):
        search.start_search_job(tiny_dataset, user=LOCAL_ADMIN, n_trials=2, models_dir=models, jobs_dir=jobs_dir)
    assert not jobs_dir.exists() or not any(jobs_dir.iterdir())  # no job was queued
