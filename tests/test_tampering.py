"""Tampered artefacts: changed model files, odd cards, hostile pointers, and pickles as uploads.

Only files Huecast wrote itself are ever unpickled, after their SHA-256 matches the card.
A model whose hash does not match is refused with a clear message, and the app serves
the last good champion. An uploaded ``.joblib`` or ``.pkl`` is data, never a model.
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import joblib
import pytest
from streamlit.testing.v1 import AppTest

from model.auth.access import LOCAL_ADMIN
from model.formulation import SpectrumParseError, Target
from model.io import IngestError, read_instrument_export, read_recipe_table, read_recipes_for_prediction, read_tidy_csv, read_upload
from model.registry import registry
from model.registry.registry import ModelRegistry
from model.serving.batch import predict_csv

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = str(REPO_ROOT / "dashboard" / "app.py")
APP_TIMEOUT_S = 90


@pytest.fixture
def models_dir(isolated_install, shipped):
    """A models directory with two promoted versions (``v1`` then ``v2``, the champion).

    Both hold the shipped model; their cards differ in version only, so which one is
    served is visible in the sidebar and in the returned card.
    """
    model, card = shipped
    root = isolated_install.models_dir
    info = dict(card.dataset)
    for version in ("v1-good", "v2-champion"):
        ModelRegistry(root).save_model(model, metrics=card.metrics, dataset_info=info, version=version)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ModelRegistry(root).promote(version, user=LOCAL_ADMIN)
    return root


def tamper(models_dir: Path, version: str) -> None:
    """Change one byte's worth of the model file, as corruption or an attacker would."""
    with open(models_dir / version / registry.MODEL_FILE, "ab") as handle:
        handle.write(b"\x00")


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------


def test_a_tampered_champion_is_refused_with_a_clear_message(models_dir):
    tamper(models_dir, "v2-champion")
    with pytest.raises(registry.IntegrityError, match=r"Model 'v2-champion' was modified after it was saved \(SHA-256 .* does not match the card's .*roll back"):
        ModelRegistry(models_dir).load_champion()


def test_fallback_serves_the_last_good_champion_and_leaves_the_pointer(models_dir):
    tamper(models_dir, "v2-champion")
    with pytest.warns(UserWarning, match=r"v2-champion.*modified.*Serving the last good champion, v1-good"):
        _, card = ModelRegistry(models_dir).load_champion(fallback=True)
    assert card.version == "v1-good"
    assert ModelRegistry(models_dir).champion_version() == "v2-champion"  # an admin decides on a rollback


def test_the_server_gets_the_fallback_reason_returned_not_warned(models_dir):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning here would fail the test
        _, card, reason = ModelRegistry(models_dir).load_champion_or_fallback()
        assert card.version == "v2-champion" and reason is None
        tamper(models_dir, "v2-champion")
        _, card, reason = ModelRegistry(models_dir).load_champion_or_fallback()
    assert card.version == "v1-good"
    assert reason.startswith("Model 'v2-champion' was modified") and reason.endswith("Serving the last good champion, v1-good, instead.")


def test_fallback_skips_a_newer_version_that_was_never_promoted(models_dir, shipped):
    model, card = shipped
    ModelRegistry(models_dir).save_model(model, metrics=card.metrics, dataset_info=dict(card.dataset), version="v3-unpromoted")
    tamper(models_dir, "v2-champion")
    with pytest.warns(UserWarning):
        _, served = ModelRegistry(models_dir).load_champion(fallback=True)
    assert served.version == "v1-good"


@pytest.mark.parametrize(
    "fault, phrase",
    [
        ("card not JSON", r"card of model 'v2-champion' .* is unreadable"),
        ("card missing", r"has no card"),
        ("model file missing", r"has a card but no model.joblib"),
        ("model file truncated", r"was modified after it was saved"),
        ("model file replaced by a pickle", r"was modified after it was saved"),
    ],
)
def test_each_fault_is_refused_and_the_previous_champion_served(models_dir, fault, phrase, tmp_path):
    folder = models_dir / "v2-champion"
    marker = tmp_path / "unpickled.marker"
    if fault == "card not JSON":
        (folder / registry.CARD_FILE).write_text("{not json", encoding="utf-8")
    elif fault == "card missing":
        (folder / registry.CARD_FILE).unlink()
    elif fault == "model file missing":
        (folder / registry.MODEL_FILE).unlink()
    elif fault == "model file truncated":
        data = (folder / registry.MODEL_FILE).read_bytes()
        (folder / registry.MODEL_FILE).write_bytes(data[: len(data) // 2])
    else:
        joblib.dump(MarkerPickle(marker), folder / registry.MODEL_FILE)
    with pytest.raises(registry.IntegrityError, match=phrase):
        ModelRegistry(models_dir).load_champion()
    with pytest.warns(UserWarning, match="Serving the last good champion, v1-good"):
        _, card = ModelRegistry(models_dir).load_champion(fallback=True)
    assert card.version == "v1-good"
    assert not marker.exists(), "a file that failed its hash check was unpickled"


@pytest.mark.parametrize("pointer", ["../../etc/passwd", "/etc/passwd", "v2-champion/../v1-good", "", "no-such-version"])
def test_a_hostile_champion_pointer_is_refused(models_dir, pointer):
    (models_dir / registry.POINTER_FILE).write_text(pointer + "\n", encoding="utf-8")
    if not pointer:
        with pytest.raises(FileNotFoundError, match="No champion model"):
            ModelRegistry(models_dir).load_champion()
        return
    with pytest.raises(registry.IntegrityError):
        ModelRegistry(models_dir).load_champion()


def test_a_card_with_an_unknown_library_version_warns(models_dir):
    card_path = models_dir / "v2-champion" / registry.CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["library_versions"]["scikit-learn"] = "0.0.1-unknown"
    card_path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.warns(UserWarning, match=r"saved with scikit-learn 0.0.1-unknown; this is .*retrain to be sure"):
        _, loaded = ModelRegistry(models_dir).load_champion()
    assert loaded.version == "v2-champion"  # a warning, not a refusal


# --------------------------------------------------------------------------------------
# The dashboard serves the last good champion and says so
# --------------------------------------------------------------------------------------


def _page_text(at) -> str:
    parts = []
    for kind in ("error", "warning", "markdown", "caption", "info"):
        parts.extend(str(element.value) for element in getattr(at, kind))
        parts.extend(str(element.value) for element in getattr(at.sidebar, kind))
    return "\n".join(parts)


def _predicted_L(at) -> str:
    return {metric.label: metric.value for metric in at.metric}["L*"]


def test_dashboard_with_a_tampered_champion_warns_and_still_predicts_with_the_previous_version(models_dir):
    tamper(models_dir, "v2-champion")
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception, at.exception
    text = _page_text(at)
    assert any("v2-champion" in e.value and "modified after it was saved" in e.value for e in at.error), text
    assert any("v1-good" in w.value for w in at.warning), text
    assert "`v1-good`" in text  # the sidebar names the model actually served
    first = _predicted_L(at)
    at.text_input(key="predict_thickness_um").input("11.5").run()  # the Predict boxes are text boxes (decimal comma, issue 15)
    assert not at.exception, at.exception
    assert _predicted_L(at) != first  # it still predicts


def test_dashboard_fallback_is_the_previous_champion_not_a_newer_unpromoted_challenger(models_dir, shipped):
    """The page falls back along the promotions log, never to a newer challenger nobody promoted."""
    model, card = shipped
    ModelRegistry(models_dir).save_model(model, metrics=card.metrics, dataset_info=dict(card.dataset), version="v3-unpromoted")
    tamper(models_dir, "v2-champion")
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception, at.exception
    text = _page_text(at)
    assert "`v1-good`" in text and "`v3-unpromoted`" not in text, text


# --------------------------------------------------------------------------------------
# Uploads are data: a pickle is refused and never unpickled
# --------------------------------------------------------------------------------------


class MarkerPickle:
    """Unpickling this creates a marker file: proof that someone called pickle.load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def pickle_payloads(marker: Path):
    payload = MarkerPickle(marker)
    yield "model.pkl", pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    yield "model-p0.pkl", pickle.dumps(payload, protocol=0)  # protocol 0 is printable text
    yield "model-p2.pkl", pickle.dumps(payload, protocol=2)
    for compress in (0, 3):
        path = marker.parent / f"payload-{compress}.joblib"
        joblib.dump(payload, path, compress=compress)
        yield f"model-c{compress}.joblib", path.read_bytes()


UPLOAD_POINTS = ["batch", "prediction reader", "tidy", "export", "recipes", "retrain, one file", "retrain, two files", "formulate paste"]


def _read_as_upload(point, model, name, data):
    colorants = list(model.colorants_)
    if point == "batch":
        return predict_csv(data, model, name=name)
    if point == "prediction reader":
        return read_recipes_for_prediction(data, colorants, name=name)
    if point == "tidy":
        return read_tidy_csv(data, name=name)
    if point == "export":
        return read_instrument_export(data, name=name)
    if point == "recipes":
        return read_recipe_table(data, name=name)
    if point == "retrain, one file":
        return read_upload([(name, data)])
    if point == "retrain, two files":
        return read_upload([(name, data), ("other.csv", b"Sample ID,PG\nA,1\n")])
    return Target.from_pasted(data.decode("utf-8", errors="replace"))  # a text area gives str


@pytest.mark.parametrize("point", UPLOAD_POINTS)
def test_an_uploaded_pickle_is_refused_as_data_and_never_unpickled(tmp_path, shipped, monkeypatch, point):
    model, _ = shipped
    marker = tmp_path / "unpickled.marker"
    payloads = list(pickle_payloads(marker))

    def forbidden(*args, **kwargs):
        raise AssertionError("an upload reached an unpickler")

    for module, names in ((pickle, ("load", "loads", "Unpickler")), (joblib, ("load",))):
        for name in names:
            monkeypatch.setattr(module, name, forbidden)
    for name, data in payloads:
        with pytest.raises((IngestError, SpectrumParseError)) as caught:
            _read_as_upload(point, model, name, data)
        message = str(caught.value)
        assert not marker.exists()
        if point != "formulate paste":
            assert any(word in message for word in ("binary data", "single column", "no header row", "not UTF-8", "neither file is one")), f"{point}, {name}: {message}"
    # The payload really is live: loading it the unsafe way creates the marker.
    monkeypatch.undo()
    pickle.loads(payloads[0][1]).close()
    assert marker.exists()


# --------------------------------------------------------------------------------------
# Serving needs no unpickling: predictions and formulation run on the serving snapshot
# --------------------------------------------------------------------------------------


def test_formulating_with_the_serving_snapshot_gives_the_full_models_candidates(shipped):
    from model.formulation import Constraints, formulate

    model, card = shipped
    snapshot, _ = ModelRegistry(REPO_ROOT / "trained_models").load_serving(card.version)
    assert snapshot is not None and type(snapshot).__name__ == "ServingSnapshot"
    target, constraints = Target.from_hex("#3c8c5a"), Constraints(thicknesses_um=[12.0])
    by_snapshot = formulate(snapshot, target, constraints, n_candidates=2)
    by_model = formulate(model, target, constraints, n_candidates=2)
    assert len(by_snapshot.candidates) == len(by_model.candidates) >= 1
    for ours, theirs in zip(by_snapshot.candidates, by_model.candidates):
        assert ours.recipe.keys() == theirs.recipe.keys()
        assert ours.recipe == pytest.approx(theirs.recipe, abs=1e-9)
        assert ours.delta_e00 == pytest.approx(theirs.delta_e00, abs=1e-9)
        assert ours.uncertainty == pytest.approx(theirs.uncertainty, abs=1e-9)
    assert by_snapshot.explanation == by_model.explanation


@pytest.fixture
def nothing_unpickled(isolated_install, monkeypatch):
    """A copy of the shipped install in which loading a pickled model fails the test."""
    isolated_install.copy_shipped_models()

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was unpickled to serve")

    monkeypatch.setattr(joblib, "load", forbidden)
    return isolated_install


def test_the_formulate_page_finds_recipes_without_unpickling_the_model(nothing_unpickled, open_dashboard):
    at = open_dashboard("formulate.py", timeout_s=APP_TIMEOUT_S)
    at.slider(key="formulate_n_candidates").set_value(1).run()
    at.button(key="formulate_run").click().run()
    assert not at.exception, at.exception
    assert [header.value for header in at.subheader if header.value.startswith("Recipe 1")], [e.value for e in at.error]


def test_the_api_formulates_without_unpickling_the_model(nothing_unpickled):
    from dashboard import api as routes

    answer = json.loads(routes._answer("formulate", {"target": {"hex": "#3c8c5a"}, "n_candidates": 1, "constraints": {"thicknesses_um": [12]}}))
    assert len(answer["candidates"]) == 1 and answer["model_version"] == ModelRegistry(nothing_unpickled.models_dir).champion_version()
