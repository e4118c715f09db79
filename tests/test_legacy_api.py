"""The old system's HTTP contract (issue 25): ``/api/status``, ``/api/reagents``, ``/api/predict``,
``/api/batch_predict``, ``/api/inverse_predict`` and ``/api/retrain`` beside ``/api/v1``, name
aliases and CORS.

The request bodies below are recorded from the old system: the five recipes of its test script
(``python_version/test_enhanced_api.py`` of heathg17/PredictiveApp) and the measured spectrum of
the real film T22H (31 values). Every answer is checked field by field against ``/api/v1`` for
the same recipe. The model is a quick one trained on the real data (about 1 s).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from model.core import settings
from model.core.schema import BAND_COLUMNS, THICKNESS_COLUMN
from model.serving import api, legacy
from model.serving.api import ApiError

ALIASES = {"GXT": "GXT-10"}
#: The five recipes of the old system's test script, as it posted them to /api/predict.
OLD_SCRIPT_BODIES = [
    {"concentrations": {"GXT": 15.0, "BiVaO4": 8.0, "PG": 1.0, "PearlB": 3.0}, "thickness": 8.0},
    {"concentrations": {"GXT": 15.0, "BiVaO4": 8.0, "PG": 1.0, "PearlB": 3.0}, "thickness": 12.0},
    {"concentrations": {"GXT": 25.0, "BiVaO4": 0.0, "PG": 0.0, "PearlB": 0.0}, "thickness": 8.0},
    {"concentrations": {"GXT": 0.0, "BiVaO4": 0.0, "PG": 0.0, "PearlB": 8.0}, "thickness": 12.0},
    {"concentrations": {"GXT": 20.0, "BiVaO4": 5.0, "PG": 1.5, "PearlB": 0.0}, "thickness": 8.0},
]
#: The measured reflectance of T22H (GXT-10 20 %, BiVaO4 5 %, PG 1.5 %, 12 µm) in the real export.
T22H_SPECTRUM = [
    0.1595, 0.1967, 0.1979, 0.1837, 0.1695, 0.1637, 0.1785, 0.2227, 0.3501, 0.6104, 0.9345, 1.1275, 1.1726, 1.147, 1.0952, 1.0454,
    1.0057, 0.9785, 0.9571, 0.9335, 0.9064, 0.8776, 0.8547, 0.8364, 0.8256, 0.8195, 0.8143, 0.8148, 0.8196, 0.8234, 0.8272,
]


@pytest.fixture(scope="module")
def real_champion(real_data_dir, tmp_path_factory, quick_model):
    """A quick model trained on the real data, saved with a card (fluorescence R² recorded) in its own models folder."""
    from model.io import load_dataset
    from model.registry.registry import ModelRegistry

    dataset = load_dataset(real_data_dir)[0]
    model = clone(quick_model).fit(dataset)
    models_dir = tmp_path_factory.mktemp("legacy") / "models"
    card = ModelRegistry(models_dir).save_model(model, metrics={"delta_e00_mean_headline": 1.0, "fluorescence_r2": 0.93}, dataset_info={"fingerprint": dataset.fingerprint(), "n_samples": len(dataset), "n_recipes": dataset.n_recipes, "name": "pp-inks"})
    return model, card, models_dir, dataset


def v1_predictions(model, card, recipes: list[tuple[dict, float]]) -> list[dict]:
    """``/api/v1/predict``'s answers for recipes given as (model colorant → wt %, thickness), in one request
    (as the old request sends them: a batch computes in one matrix product, whose last bits depend on its size)."""
    rows = [{name: concentrations.get(name, 0.0) for name in model.colorants_} | {THICKNESS_COLUMN: thickness} for concentrations, thickness in recipes]
    return api.predict({"recipes": rows}, model, card)["predictions"]


def v1_prediction(model, card, concentrations: dict, thickness: float) -> dict:
    return v1_predictions(model, card, [(concentrations, thickness)])[0]


def assert_same_as_v1(answer: dict, v1: dict, card) -> None:
    assert answer["wavelengths"] == list(range(400, 701, 10))
    assert answer["reflectance"] == [v1[band] for band in BAND_COLUMNS]
    assert answer["cielab"] == {"L": v1["L"], "a": v1["a"], "b": v1["b"], "c": v1["C"], "h": v1["h"]}
    assert answer["fluorescence"]["fluorescence_cts"] == v1["fluorescence_cts"]
    assert answer["thickness"] == v1[THICKNESS_COLUMN]
    assert answer["model_version"] == card.version


def refused(function, *args, **options) -> tuple[int, str, str | None]:
    """``(status, detail, field)`` of a request ``function`` refuses."""
    with pytest.raises(ApiError) as caught:
        function(*args, **options)
    status, body = legacy.error_body(caught.value)
    return status, body["detail"], caught.value.field


# --------------------------------------------------------------------------------------
# status, reagents
# --------------------------------------------------------------------------------------


def test_status_and_reagents_name_the_reagents_as_the_old_clients_do(real_champion):
    model, card, _, dataset = real_champion
    status = legacy.status(model, card, ALIASES)
    assert status["status"] == "ok" and status["model_types"] == [card.kind] and status["model_version"] == card.version
    assert status["reagents"] == ["GXT", "BiVaO4", "PG", "PearlB"]  # the old server's list, GXT-10 under its alias
    assert status["samples_loaded"] == status["samples_with_conc"] == len(dataset)
    reagents = legacy.reagents(model, card, ALIASES)
    assert reagents == {"reagents": ["GXT", "BiVaO4", "PG", "PearlB"], "substrate": "not recorded", "thicknesses": [8.0, 12.0],
                        "outputs": ["reflectance", "cielab", "fluorescence"]}
    # Without the alias the data's own names are given.
    assert legacy.reagents(model, card, {})["reagents"] == ["GXT-10", "BiVaO4", "PG", "PearlB"]
    assert legacy.status(model, card, {}, serving_status="degraded")["status"] == "degraded"


# --------------------------------------------------------------------------------------
# predict, batch_predict
# --------------------------------------------------------------------------------------


def test_the_old_scripts_five_recipes_answer_as_v1_does_field_by_field(real_champion):
    model, card, _, _ = real_champion
    answers = legacy.batch_predict(OLD_SCRIPT_BODIES, model, card, ALIASES)
    recipes = [({ALIASES.get(name, name): value for name, value in body["concentrations"].items()}, body["thickness"]) for body in OLD_SCRIPT_BODIES]
    assert len(answers) == 5
    for body, recipe, answer, v1 in zip(OLD_SCRIPT_BODIES, recipes, answers, v1_predictions(model, card, recipes)):
        assert_same_as_v1(answer, v1, card)
        assert answer["fluorescence"]["model_r2"] == 0.93  # the card's, never estimated
        assert_same_as_v1(legacy.predict(body, model, card, ALIASES), v1_prediction(model, card, *recipe), card)  # one recipe alone
    # PBLUE8 has no fluorescent colorant: no emission; the others have GXT and emit.
    assert answers[3]["fluorescence"]["fluorescence_area"] == 0.0 and answers[3]["fluorescence"]["gxt_multiplier"] == 0.0
    assert all(answer["fluorescence"]["fluorescence_area"] > 0 for index, answer in enumerate(answers) if index != 3)


def test_a_left_out_reagent_is_0_a_left_out_thickness_8_um_and_model_type_is_not_used(real_champion):
    model, card, _, _ = real_champion
    answer = legacy.predict({"concentrations": {"GXT": 10, "BiVaO4": 5}, "model_type": "neural-net"}, model, card, ALIASES)
    assert_same_as_v1(answer, v1_prediction(model, card, {"GXT-10": 10, "BiVaO4": 5}, 8.0), card)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"concentrations": {"TitaniumWhite": 30}, "thickness": 8}, "concentrations.TitaniumWhite",
         ["GXT-10, BiVaO4, PG, PearlB (colorants)", "GXT (for GXT-10) (aliases)", "[api.aliases]"]),
        ({"concentrations": {"gxt": 5}, "thickness": 8}, "concentrations.gxt", ["Did you mean 'GXT'?"]),  # exact match only
        ({"concentrations": {"GXT": 5, "GXT-10": 5}, "thickness": 8}, "concentrations.GXT-10", ["already given as concentrations.GXT"]),
        ({"concentrations": {"GXT": "lots"}, "thickness": 8}, "concentrations.GXT", ["expected a number", "'lots'"]),
        ({"concentrations": {"GXT": 90, "BiVaO4": 20}, "thickness": 8}, "concentrations", ["add up to 110 %"]),
        ({"concentrations": {"GXT": 5}, "thickness": -1}, "thickness", ["film thickness", "-1"]),
        ({"concentrations": {"GXT": 5}, "thickness": 8, "substrate": "PP"}, "substrate", ["not a field", "concentrations, thickness, model_type"]),
        ({"thickness": 8}, "concentrations", ["missing"]),
        ([1], None, ["expected an object"]),
    ],
)
def test_bad_predict_bodies_get_400_naming_the_old_field(real_champion, body, field, words):
    model, card, _, _ = real_champion
    status, detail, named = refused(legacy.predict, body, model, card, ALIASES)
    assert status == 400 and named == field
    for word in words:
        assert word in detail, detail


def test_an_alias_is_accepted_only_when_declared(real_champion):
    model, card, _, _ = real_champion
    status, detail, _ = refused(legacy.predict, {"concentrations": {"GXT": 5}, "thickness": 8}, model, card, {})
    assert status == 400 and "Expected only GXT-10, BiVaO4, PG, PearlB (colorants)." in detail
    # An alias for a colorant this model does not have is not offered; one spelt like a colorant is a settings error.
    assert legacy.ColorantNames(model.colorants_, {"Quin": "QuinMagenta"}).accepted_text == "GXT-10, BiVaO4, PG, PearlB (colorants)"
    with pytest.raises(ValueError, match="spelt like a colorant"):
        legacy.ColorantNames(model.colorants_, {"PG": "GXT-10"})


def test_an_alias_of_a_colorant_the_served_model_lacks_is_named_as_such():
    # Review: with the docs' GXT = "GXT-10" and the demo champion, the refusal told the admin to declare the alias they had declared.
    names = legacy.ColorantNames(["FluoYellow", "PhthaloGreen"], {"GXT": "GXT-10"})
    with pytest.raises(ApiError) as refused_alias:
        names.colorant("GXT", "concentrations.GXT")
    assert refused_alias.value.status == 400 and refused_alias.value.message.startswith(
        "concentrations.GXT is declared as an alias of 'GXT-10' ([api.aliases]), but the served model has no colorant 'GXT-10'."
    )
    assert "Expected only FluoYellow, PhthaloGreen (colorants)." in refused_alias.value.message


def test_a_batch_with_one_bad_recipe_is_refused_whole_naming_its_position(real_champion):
    model, card, _, _ = real_champion
    bodies = [*OLD_SCRIPT_BODIES[:3], {"concentrations": {"GXT": 5, "BiVaO4": "x"}, "thickness": 8}, OLD_SCRIPT_BODIES[4]]
    status, detail, field = refused(legacy.batch_predict, bodies, model, card, ALIASES)
    assert status == 400 and field == "[3].concentrations.BiVaO4" and detail.startswith("[3].concentrations.BiVaO4:")
    status, detail, _ = refused(legacy.batch_predict, {"concentrations": {}}, model, card, ALIASES)
    assert status == 400 and "expected a list of predict requests" in detail
    assert refused(legacy.batch_predict, [], model, card, ALIASES)[0] == 400
    too_many = [{"concentrations": {}}] * (api.MAX_RECIPES + 1)
    assert refused(legacy.batch_predict, too_many, model, card, ALIASES)[0] == 413


def test_fluorescence_area_is_the_emission_above_the_film_without_gxt_and_the_multiplier_saturates_at_1(real_champion):
    model, card, _, _ = real_champion
    gxt = [0.0, 1.0, 5.0, 15.0, 25.0, 40.0]  # 25: the trained maximum; 40: beyond it
    answers = legacy.batch_predict([{"concentrations": {"GXT": value, "BiVaO4": 5}, "thickness": 12} for value in gxt], model, card, ALIASES)
    area = np.array([answer["fluorescence"]["fluorescence_area"] for answer in answers])
    multiplier = np.array([answer["fluorescence"]["gxt_multiplier"] for answer in answers])
    assert area[0] == 0.0 and multiplier[0] == 0.0
    assert (area[1:] > 0).all() and ((multiplier >= 0) & (multiplier <= 1)).all()
    np.testing.assert_allclose(multiplier[4:], 1.0)  # at and beyond the trained maximum
    assert multiplier[2] > multiplier[1] > 0
    # The area is the reflectance GXT adds above the same film without it, integrated over 400-700 nm (trapezoid, nm).
    with_gxt, without = (np.array(legacy.predict({"concentrations": {"GXT": value, "BiVaO4": 5}, "thickness": 12}, model, card, ALIASES)["reflectance"])
                         for value in (15.0, 0.0))
    np.testing.assert_allclose(area[3], np.trapezoid(np.clip(with_gxt - without, 0, None), np.arange(400, 701, 10)), rtol=1e-6)


def test_model_r2_is_null_when_the_card_records_none(real_champion):
    from dataclasses import replace

    model, card, _, _ = real_champion
    answer = legacy.predict({"concentrations": {"GXT": 5}}, model, replace(card, metrics={}), ALIASES)
    assert answer["fluorescence"]["model_r2"] is None


def test_without_a_fluorescent_colorant_the_model_predicts_no_emission(shipped):
    model, card = shipped
    X = np.array([[0.0, 10.0, 1.0, 2.0, 1.0, 8.0], [10.0, 10.0, 1.0, 2.0, 1.0, 8.0]])
    area, multiplier = legacy.fluorescence_emission_area(model, X)
    assert area[0] == 0 and multiplier[0] == 0 and area[1] > 0 and 0 < multiplier[1] <= 1


# --------------------------------------------------------------------------------------
# inverse_predict
# --------------------------------------------------------------------------------------


def test_inverse_predict_of_a_measured_spectrum_gives_a_recipe_whose_v1_prediction_is_the_predicted_spectrum(real_champion):
    model, card, _, _ = real_champion
    body = {"target_spectrum": T22H_SPECTRUM, "thickness": 12, "method": "global", "bounds": {"PearlB": [0, 0], "GXT": [5, 25]}}
    answer = legacy.inverse_predict(body, model, card, ALIASES)
    recipe = answer["concentrations"]
    assert list(recipe) == ["GXT", "BiVaO4", "PG", "PearlB", "thickness"] and recipe["thickness"] == 12.0
    assert recipe["PearlB"] == 0.0 and 5.0 <= recipe["GXT"] <= 25.0
    v1 = v1_prediction(model, card, {"GXT-10": recipe["GXT"], "BiVaO4": recipe["BiVaO4"], "PG": recipe["PG"], "PearlB": recipe["PearlB"]}, 12.0)
    np.testing.assert_allclose(answer["predicted_spectrum"], [v1[band] for band in BAND_COLUMNS], rtol=1e-9, atol=1e-12)
    assert answer["target_spectrum"] == T22H_SPECTRUM and answer["method"] == "global"
    difference = np.array(answer["predicted_spectrum"]) - np.array(T22H_SPECTRUM)
    metrics = answer["metrics"]
    np.testing.assert_allclose([metrics["mse"], metrics["mae"], metrics["max_error"]],
                               [np.mean(difference**2), np.mean(np.abs(difference)), np.max(np.abs(difference))])
    target = np.array(T22H_SPECTRUM)
    np.testing.assert_allclose(metrics["r2"], 1 - np.sum(difference**2) / np.sum((target - target.mean()) ** 2))
    assert metrics["r2"] > 0.9 and metrics["delta_e00"] < 5
    assert answer["optimization"]["final_objective"] == metrics["mse"] and answer["optimization"]["iterations"] > 0
    assert isinstance(answer["optimization"]["success"], bool) and answer["optimization"]["message"]


def test_inverse_predict_local_and_initial_guess_say_what_they_do(real_champion):
    model, card, _, _ = real_champion
    answer = legacy.inverse_predict({"target_spectrum": T22H_SPECTRUM, "method": "local", "initial_guess": {"GXT": 20, "PG": 1.5}}, model, card, ALIASES)
    assert answer["method"] == "local"
    assert "initial_guess was checked but not used as a start" in answer["optimization"]["message"]
    assert answer["concentrations"]["thickness"] in (8.0, 12.0)  # no thickness: the trained films, as /api/v1/formulate


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"target_spectrum": T22H_SPECTRUM[:30]}, "target_spectrum", ["31 reflectances", "a list of 30 items"]),
        ({"target_spectrum": [*T22H_SPECTRUM[:30], "x"]}, "target_spectrum[30]", ["finite number"]),
        ({}, "target_spectrum", ["missing"]),
        ({"target_spectrum": T22H_SPECTRUM, "method": "annealing"}, "method", ["'global'", "'local'"]),
        ({"target_spectrum": T22H_SPECTRUM, "bounds": {"GXT": [10, 5]}}, "bounds.GXT", ["low 10 is above high 5"]),
        ({"target_spectrum": T22H_SPECTRUM, "bounds": {"GXT": 5}}, "bounds.GXT", ["[low, high]"]),
        ({"target_spectrum": T22H_SPECTRUM, "bounds": {"Titan": [0, 1]}}, "bounds.Titan", ["not a colorant", "GXT (for GXT-10)"]),
        ({"target_spectrum": T22H_SPECTRUM, "initial_guess": {"GXT": 120}}, "initial_guess.GXT", ["weight percent"]),
        ({"target_spectrum": T22H_SPECTRUM, "thickness": 0}, "thickness", ["film thickness"]),
        ({"target_spectrum": T22H_SPECTRUM, "iterations": 5}, "iterations", ["not a field"]),
    ],
)
def test_bad_inverse_bodies_get_400_naming_the_field(real_champion, body, field, words):
    model, card, _, _ = real_champion
    status, detail, named = refused(legacy.inverse_predict, body, model, card, ALIASES)
    assert status == 400 and named == field
    for word in words:
        assert word in detail, detail


def test_inverse_predict_stops_when_asked_as_formulate_does(real_champion):
    model, card, _, _ = real_champion
    status, detail, _ = refused(legacy.inverse_predict, {"target_spectrum": T22H_SPECTRUM}, model, card, ALIASES, should_stop=lambda: True)
    assert status == 503 and f"the limit is {api.FORMULATE_TIME_LIMIT_S:g} s" in detail


# --------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------


def test_aliases_and_cors_origins_are_read_from_secrets(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    monkeypatch.setenv("HUECAST_SECRETS_FILE", str(secrets))
    monkeypatch.delenv("HUECAST_CORS_ORIGINS", raising=False)
    assert settings.colorant_aliases() == {} and settings.cors_origins() == ()  # default: none
    secrets.write_text('[api]\ncors_origins = ["http://localhost:5173/"]\n\n[api.aliases]\nGXT = "GXT-10"\n')
    assert settings.colorant_aliases() == {"GXT": "GXT-10"}
    assert settings.cors_origins() == ("http://localhost:5173",)
    for bad in ('["*"]', '["http://localhost:5173/app"]', '"http://localhost:5173"', '["localhost:5173"]'):
        secrets.write_text(f"[api]\ncors_origins = {bad}\n")
        with pytest.raises(ValueError, match="cors_origins"):
            settings.cors_origins()
    secrets.write_text("[api.aliases]\nGXT = 10\n")
    with pytest.raises(ValueError, match="GXT"):
        settings.colorant_aliases()
    secrets.unlink()
    monkeypatch.setenv("HUECAST_CORS_ORIGINS", "http://localhost:5173, https://lab.example.org")
    assert settings.cors_origins() == ("http://localhost:5173", "https://lab.example.org")


# --------------------------------------------------------------------------------------
# Over HTTP: the routes, CORS and retraining in a running server
# --------------------------------------------------------------------------------------

ALLOWED_ORIGIN, REFUSED_ORIGIN = "http://localhost:5173", "http://evil.example"


def http(url: str, path: str, body=None, *, key: str | None = None, raw: bytes | None = None, method: str | None = None, headers: dict | None = None):
    """``(status, parsed JSON or text, response headers)`` of one request; a 4xx/5xx is returned, not raised."""
    import json
    import urllib.error
    import urllib.request

    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key:
        sent["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url + path, data=data, headers=sent, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            status, content, got = answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        status, content, got = error.code, error.read(), error.headers
    try:
        return status, json.loads(content), got
    except ValueError:
        return status, content.decode(errors="replace"), got


@pytest.fixture(scope="module")
def legacy_server(real_data_dir, tmp_path_factory, quick_model):
    """A server whose store holds the real data and whose champion is a quick model trained on it;
    secrets declare the GXT alias, one allowed origin, a viewer key and an admin key."""
    from dashboard.server import running_dashboard, wait_until_healthy
    from model.auth.access import LOCAL_ADMIN
    from model.auth.api_keys import hash_key, new_key
    from model.io import PreparedUpload, load_dataset
    from model.registry.registry import ModelRegistry
    from model.store.measurements import STORE_FILE, MeasurementStore

    root = tmp_path_factory.mktemp("legacy-server")
    models_dir, data_dir = root / "models", root / "data"
    store = MeasurementStore(data_dir / STORE_FILE, seed=False)
    store.add(PreparedUpload(load_dataset(real_data_dir)[0], None, ("pp-inks",), "real"), user=LOCAL_ADMIN)
    dataset = store.to_dataset()
    model = clone(quick_model).fit(dataset)
    card = ModelRegistry(models_dir).save_model(model, metrics={"delta_e00_mean_headline": 1.0, "fluorescence_r2": 0.93}, dataset_info={"fingerprint": dataset.fingerprint(), "store_version": store.version(), "n_samples": len(dataset), "n_recipes": dataset.n_recipes, "name": "pp-inks"})
    ModelRegistry(models_dir).promote(card.version, user=LOCAL_ADMIN)
    viewer, admin = new_key(), new_key()
    secrets = root / "secrets.toml"
    secrets.write_text(
        f'[api]\ncors_origins = ["{ALLOWED_ORIGIN}"]\n\n[api.aliases]\nGXT = "GXT-10"\n\n'
        f'[[api.keys]]\nname = "lims"\nrole = "viewer"\nhash = "{hash_key(viewer)}"\n\n'
        f'[[api.keys]]\nname = "lab lead"\nrole = "admin"\nhash = "{hash_key(admin)}"\n'
    )
    env = {"HUECAST_MODELS_DIR": str(models_dir), "HUECAST_DATA_DIR": str(data_dir), "HUECAST_RETRAIN_CV": "2x1", "HUECAST_RETRAIN_NICENESS": "0"}
    with running_dashboard(root / "server.log", env, secrets_file=secrets) as (url, _):
        wait_until_healthy(url)
        yield {"url": url, "model": model, "card": card, "viewer": viewer, "admin": admin, "log": root / "server.log"}


def v1_over_http(url: str, bodies: list[dict]) -> list[dict]:
    """``/api/v1/predict``'s answers for old predict bodies, in one request."""
    recipes = [{"GXT-10": 0, "BiVaO4": 0, "PG": 0, "PearlB": 0} | {ALIASES.get(name, name): value for name, value in body["concentrations"].items()}
               | {"thickness_um": body.get("thickness", 8.0)} for body in bodies]
    status, answer, _ = http(url, "/api/v1/predict", {"recipes": recipes})
    assert status == 200, answer
    return answer["predictions"]


@pytest.mark.slow
def test_the_old_routes_answer_over_http_as_v1_does(legacy_server):
    url, card = legacy_server["url"], legacy_server["card"]
    status, answer, _ = http(url, "/api/status")
    assert status == 200 and answer["status"] == "ok" and answer["reagents"] == ["GXT", "BiVaO4", "PG", "PearlB"]
    assert answer["samples_loaded"] == 83 and answer["model_version"] == card.version
    status, answer, _ = http(url, "/api/reagents/")  # a trailing slash too
    assert status == 200 and answer["thicknesses"] == [8.0, 12.0] and answer["reagents"][0] == "GXT"
    status, one, _ = http(url, "/api/predict", {**OLD_SCRIPT_BODIES[4], "model_type": "neural-net"})
    assert status == 200
    assert_same_as_v1(one, v1_over_http(url, [OLD_SCRIPT_BODIES[4]])[0], card)
    status, batch, _ = http(url, "/api/batch_predict", OLD_SCRIPT_BODIES)
    assert status == 200 and len(batch) == 5
    for answer, v1 in zip(batch, v1_over_http(url, OLD_SCRIPT_BODIES)):
        assert_same_as_v1(answer, v1, card)
        assert answer["fluorescence"]["model_r2"] == 0.93
    # The old front end checks only that / answers 200: the dashboard's page does.
    status, page, _ = http(url, "/")
    assert status == 200 and "<html" in page.lower()


@pytest.mark.slow
def test_the_old_routes_refuse_bad_input_with_400_and_a_detail(legacy_server):
    url = legacy_server["url"]
    status, answer, _ = http(url, "/api/predict", {"concentrations": {"TitaniumWhite": 30}, "thickness": 8})
    assert status == 400 and set(answer) == {"detail"}
    assert "concentrations.TitaniumWhite" in answer["detail"] and "GXT (for GXT-10)" in answer["detail"]
    status, answer, _ = http(url, "/api/predict", raw=b'{"concentrations": {"GXT": 5, "GXT": 95}}')
    assert status == 400 and "concentrations.GXT is given more than once" in answer["detail"]
    status, answer, _ = http(url, "/api/batch_predict", raw=b"{not json")
    assert status == 400 and "not JSON" in answer["detail"]
    status, answer, _ = http(url, "/api/predict")  # GET
    assert status == 405 and answer == {"detail": "GET is not allowed on /api/predict; use POST."}
    status, answer, _ = http(url, "/api/inverse_predict", {"target_spectrum": T22H_SPECTRUM[:5]})
    assert status == 400 and "target_spectrum" in answer["detail"]


@pytest.mark.slow
def test_inverse_predict_over_http_returns_a_recipe_v1_predicts_as_the_predicted_spectrum(legacy_server):
    url = legacy_server["url"]
    status, answer, _ = http(url, "/api/inverse_predict", {"target_spectrum": T22H_SPECTRUM, "thickness": 12, "method": "local"})
    assert status == 200, answer
    recipe = answer["concentrations"]
    body = {"concentrations": {name: value for name, value in recipe.items() if name != "thickness"}, "thickness": recipe["thickness"]}
    v1 = v1_over_http(url, [body])[0]
    np.testing.assert_allclose(answer["predicted_spectrum"], [v1[band] for band in BAND_COLUMNS], rtol=1e-9, atol=1e-12)
    assert answer["target_spectrum"] == T22H_SPECTRUM and answer["metrics"]["r2"] > 0.9


@pytest.mark.slow
def test_cors_lets_the_allowed_origin_in_and_no_other(legacy_server):
    url = legacy_server["url"]
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,authorization"}
    status, _, headers = http(url, "/api/predict", method="OPTIONS", headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in headers["Access-Control-Allow-Methods"] and "authorization" in headers["Access-Control-Allow-Headers"].lower()
    status, _, headers = http(url, "/api/predict", method="OPTIONS", headers={"Origin": REFUSED_ORIGIN, **preflight})
    assert status == 400 and "Access-Control-Allow-Origin" not in headers
    for path in ("/api/status", "/api/v1/health"):
        status, _, headers = http(url, path, headers={"Origin": ALLOWED_ORIGIN})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        status, _, headers = http(url, path, headers={"Origin": REFUSED_ORIGIN})
        assert status == 200 and "Access-Control-Allow-Origin" not in headers  # answered, but the browser will not let a page read it
    status, _, headers = http(url, "/api/predict", OLD_SCRIPT_BODIES[0], headers={"Origin": ALLOWED_ORIGIN})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


@pytest.mark.slow
def test_retrain_needs_an_admin_key_starts_a_challenger_and_never_promotes(legacy_server):
    url, viewer, admin, card = legacy_server["url"], legacy_server["viewer"], legacy_server["admin"], legacy_server["card"]
    status, answer, _ = http(url, "/api/retrain", {}, key=viewer)
    assert status == 403 and set(answer) == {"detail"}
    status, answer, _ = http(url, "/api/v1/retrain", {}, key=viewer)
    assert status == 403 and answer["error"]["status"] == 403
    status, answer, _ = http(url, "/api/v1/jobs/nothing-here", key=admin)
    assert status == 404
    status, answer, _ = http(url, "/api/retrain", raw=b"", key=admin)
    assert status == 200, answer
    assert answer["status"] == "started" and answer["reagents"] == ["GXT", "BiVaO4", "PG", "PearlB"] and "Retrain page" in answer["message"]
    job_id = answer["job_id"]
    status, busy, _ = http(url, "/api/v1/retrain", raw=b"", key=admin)  # one job at a time
    assert status == 409 and "running" in busy["error"]["message"].lower()
    assert busy["error"]["message"].endswith(f"Over the API, follow it with GET /api/v1/jobs/{job_id}.")
    report = wait_for_report(url, job_id, admin)
    assert report["state"] == "done", report
    assert report["champion_version"] == card.version and report["challenger_version"] and "never promoted" in report["decision"]
    comparison = report["comparison"]
    assert comparison["challenger_version"] == report["challenger_version"] and isinstance(comparison["challenger_wins"], bool)
    assert {row["metric"] for row in comparison["summary"]} >= {"mean ΔE00"}
    assert http(url, "/api/v1/health")[1]["model_version"] == card.version  # still the champion
    status, started, _ = http(url, "/api/v1/retrain", {}, key=admin)
    assert status == 202 and started["status_url"] == f"/api/v1/jobs/{started['job_id']}"
    assert wait_for_report(url, started["job_id"], admin)["state"] == "done"


def wait_for_report(url: str, job_id: str, key: str, timeout_s: float = 240) -> dict:
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        status, report, _ = http(url, f"/api/v1/jobs/{job_id}", key=key)
        assert status == 200, report
        if report["state"] != "running" or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


@pytest.mark.slow
def test_measurements_upload_reviews_as_the_retrain_page_and_stores_only_on_commit(legacy_server, real_data_dir):
    url, viewer, admin = legacy_server["url"], legacy_server["viewer"], legacy_server["admin"]
    real_files = [{"name": name, "content": (real_data_dir / name).read_text(encoding="utf-8")} for name in ("Spectra.csv", "Concentrations.csv", "Fluorescence.csv")]
    status, answer, _ = http(url, "/api/v1/measurements", {"files": real_files}, key=viewer)
    assert status == 403
    status, review, _ = http(url, "/api/v1/measurements", {"files": real_files}, key=admin)
    assert status == 200, review
    assert review["committed"] is False and review["n_new"] == 0 and review["fluorescence"] and review["clashes"] == []
    # Near-miss names are left out unless accepted, as on the Retrain page; accepted, all 83 are the stored ones.
    suggested = [entry["measured_name"] for entry in review["suggestions"]]
    assert suggested and review["n_already_stored"] == 83 - len(suggested) and len(review["left_out"]) >= len(suggested)
    status, review, _ = http(url, "/api/v1/measurements", {"files": real_files, "accept_suggestions": suggested}, key=admin)
    assert status == 200 and review["n_new"] == 0 and review["n_already_stored"] == 83 and review["notes"] == []
    header = "sample_id,recipe_id,GXT-10,BiVaO4,PG,PearlB,thickness_um," + ",".join(BAND_COLUMNS)
    # A colorant column left blank in every row: read as 0 wt %, and the review says so (issue 27).
    spectrum = ",".join(f"{value:g}" for value in T22H_SPECTRUM)
    blank_pg = {"files": [{"name": "blank.csv", "content": f"{header}\nZ1@8,Z1,20,5,,0,8,{spectrum}\nZ1@12,Z1,20,5,,0,12,{spectrum}\n"}]}
    status, review, _ = http(url, "/api/v1/measurements", blank_pg, key=admin)
    assert status == 200 and review["n_new"] == 2, review
    assert len(review["notes"]) == 1 and "column 'PG' is empty in all 2 rows, so it was read as 0 wt %" in review["notes"][0]
    row = "T22H-again,T22,20,5,1.5,0,12," + ",".join(f"{value + 0.001:g}" for value in T22H_SPECTRUM)
    tidy = {"files": [{"name": "again.csv", "content": f"{header}\n{row}\n"}]}
    status, review, _ = http(url, "/api/v1/measurements", tidy, key=admin)
    assert status == 200 and review["n_new"] == 1 and review["committed"] is False
    status, stored, _ = http(url, "/api/v1/measurements", tidy | {"commit": True}, key=admin)
    assert status == 200 and stored["committed"] is True and stored["n_added"] == 1 and stored["store_version"]
    status, again, _ = http(url, "/api/v1/measurements", tidy | {"commit": True}, key=admin)
    assert status == 200 and again["n_added"] == 0  # the same measurement is never stored twice
    status, refused_answer, _ = http(url, "/api/v1/measurements", {"files": [{"name": "bad.csv", "content": f"{header}\n{row.replace(',12,', ',twelve,')}"}]}, key=admin)
    assert status == 422 and "cannot be used yet" in refused_answer["error"]["message"]
    status, refused_answer, _ = http(url, "/api/v1/measurements", tidy | {"dry_run": True}, key=admin)
    assert status == 422 and refused_answer["error"]["field"] == "dry_run"


def test_an_accepted_suggestion_that_is_not_offered_is_refused_by_name(isolated_install, repo_root):
    # Review: a name not among the review's near misses was dropped without a word (200).
    from model.auth.access import LOCAL_ADMIN
    from model.serving import retrain_api

    demo = repo_root / "data" / "demo"
    files = [{"name": name, "content": (demo / name).read_text(encoding="utf-8")} for name in ("Spectra.csv", "Concentrations.csv")]
    with pytest.raises(ApiError) as refused:
        retrain_api.upload_measurements({"files": files, "accept_suggestions": ["nonexistent"]}, LOCAL_ADMIN)
    assert (refused.value.status, refused.value.field) == (422, "accept_suggestions")
    assert refused.value.message.startswith("accept_suggestions: 'nonexistent' is not a near-miss name of these files")
    assert retrain_api.upload_measurements({"files": files, "accept_suggestions": []}, LOCAL_ADMIN)["committed"] is False


def test_a_busy_queue_names_the_running_job_even_after_crossing_a_process():
    import pickle

    from model.jobs.job_queue import JobBusy

    busy = pickle.loads(pickle.dumps(JobBusy("A challenger training is already running.", job_id="20261207-abc")))
    assert (str(busy), busy.job_id) == ("A challenger training is already running.", "20261207-abc")
