"""The JSON API's request logic, called directly: strict JSON, only known fields, a cap on every
list and count, and a formulation that stops when told to.

The shipped champion's serving snapshot answers (as the server's predict does), so no
scikit-learn is imported and every test is sub-second but the one that formulates.
"""

from __future__ import annotations

import json
import re

import pytest

from model.serving import api

GOOD = {"FluoYellow": 5, "BiVaYellow": 2, "PhthaloGreen": 0.5, "PearlBlue": 0, "QuinMagenta": 0, "thickness_um": 12}


@pytest.fixture(scope="module")
def served(repo_root):
    """``(snapshot, card)``: the shipped champion as the server predicts with it (read only)."""
    from model.registry.registry import ModelRegistry

    models_dir = repo_root / "trained_models"
    snapshot, card = ModelRegistry(models_dir).load_serving(ModelRegistry(models_dir).champion_version())
    assert snapshot is not None, "the shipped champion has a serving snapshot"
    assert list(snapshot.colorants_) == list(GOOD)[:-1], "GOOD names the shipped champion's colorants"
    return snapshot, card


class NeverPredicts:
    """A model that fails the test if anything is predicted (a refusal must come first)."""

    def __init__(self, snapshot):
        self.colorants_ = snapshot.colorants_
        self.training_range_ = snapshot.training_range_
        self.input_columns = snapshot.input_columns

    def predict(self, recipes):
        raise AssertionError(f"predicted {len(recipes)} recipes of a request that should have been refused")

    predict_arrays = predict_fluorescence = predict


def refused(call, *args, **kwargs) -> api.ApiError:
    with pytest.raises(api.ApiError) as caught:
        call(*args, **kwargs)
    message = caught.value.message
    assert "Traceback" not in message and not re.search(r"(^|[\s'\"(])/(work|home|tmp|usr|etc)/", message), message
    return caught.value


# --------------------------------------------------------------------------------------
# parse_body: strict JSON
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, field, words",
    [
        (b'{"recipes": [{"FluoYellow": 5, "FluoYellow": 95}]}', 422, "recipes[0].FluoYellow", "more than once"),
        (b'{"target": {"hex": "#9fc24a"}, "constraints": {"maximum": {"PearlBlue": 1, "PearlBlue": 2}}}', 422, "constraints.maximum.PearlBlue", "more than once"),
        (b'{"recipes": [{"FluoYellow": 1' + b"0" * 400 + b"}]}", 422, "recipes[0].FluoYellow", "beyond 64 bits"),
        (b'{"recipes": [' + json.dumps(GOOD).encode() + b', {"thickness_um": -18446744073709551616}]}', 422, "recipes[1].thickness_um", "beyond 64 bits"),
        (b'{"target": {"hex": "#9fc24a"}, "n_candidates": 9223372036854775808}', 422, "n_candidates", "beyond 64 bits"),
        (b'{"recipes": [{"FluoYellow": 1e400}]}', 422, "recipes[0].FluoYellow", "beyond the range of a double"),
        (b'{"recipes": [{"name": NaN}]}', 422, "recipes[0].name", "NaN is not a JSON number"),
        (b'{"recipes": [{"FluoYellow": -Infinity}]}', 422, "recipes[0].FluoYellow", "-Infinity is not a JSON number"),
        (b"[" * 5000 + b"]" * 5000, 400, None, f"at most {api.MAX_JSON_DEPTH}"),
        (b'{"recipes": ' + b"[" * (api.MAX_JSON_DEPTH + 1) + b"]" * (api.MAX_JSON_DEPTH + 1) + b"}", 400, None, f"{api.MAX_JSON_DEPTH + 2} deep"),
        (b"{not json", 400, None, "not JSON"),
        (b" " * (api.MAX_BODY_BYTES + 1), 413, None, f"at most {api.MAX_BODY_BYTES:,}"),
    ],
    ids=["duplicate key", "duplicate nested key", "integer 10^400", "integer beyond -2^64", "integer 2^63", "float 1e400", "NaN",
         "-Infinity", "5000 deep", "one level too deep", "not json", "too large"],
)
def test_parse_body_refuses_what_json_would_guess_at(body, status, field, words):
    error = refused(api.parse_body, body)
    assert (error.status, error.field) == (status, field), error.message
    assert words in error.message
    if field:
        assert error.message.startswith(field)


def test_parse_body_reads_what_is_strict_json_unchanged():
    body = {"recipes": [GOOD, {**GOOD, "name": "[" * 100 + "{" * 100 + '"\\'}], "n": [2**63 - 1, -(2**63), 1.5e308, 0]}
    assert api.parse_body(json.dumps(body).encode()) == body  # brackets in a text are no nesting
    deepest = b"[" * api.MAX_JSON_DEPTH + b"]" * api.MAX_JSON_DEPTH
    assert api.parse_body(deepest) is not None


# --------------------------------------------------------------------------------------
# predict: only known fields, refused before anything is predicted
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, field, words",
    [
        ({"recipes": [GOOD, {**GOOD, "TitaniumWhite": 30}]}, "recipes[1].TitaniumWhite", "Expected only FluoYellow, BiVaYellow, PhthaloGreen, PearlBlue, QuinMagenta, thickness_um, id, name"),
        ({"recipes": [{**GOOD, "FluoYellow": 0, "fluoyellow": 5}]}, "recipes[0].fluoyellow", "Did you mean 'FluoYellow'?"),
        ({"recipes": [{**GOOD, "Thickness_um": 10}]}, "recipes[0].Thickness_um", "Did you mean 'thickness_um'?"),
        ({"recipes": [GOOD], "model": "latest"}, "model", "not a field of a predict request"),
        ({"recipe": [GOOD]}, "recipes", "Did you mean 'recipes'?"),
    ],
    ids=["unknown colorant", "case near miss", "thickness near miss", "top-level field", "recipes misspelt"],
)
def test_unknown_fields_refuse_the_whole_request_naming_them(served, payload, field, words):
    snapshot, card = served
    error = refused(api.predict, payload, NeverPredicts(snapshot), card)
    assert (error.status, error.field) == (422, field)
    assert words in error.message


def test_one_unique_extra_field_per_recipe_is_refused_at_the_first_recipe(served):
    """4,000 recipes with a field each of their own (a 208 MB response before): 422, nothing predicted."""
    snapshot, card = served
    recipes = [{**GOOD, f"note_{index}": index} for index in range(4000)]
    payload = api.parse_body(json.dumps({"recipes": recipes}).encode())
    error = refused(api.predict, payload, NeverPredicts(snapshot), card)
    assert (error.status, error.field) == (422, "recipes[0].note_0") and len(error.message) < 400


def test_identifiers_pass_through_as_sent_and_a_long_one_is_a_row_error(served):
    snapshot, card = served
    recipes = [{"id": 3, **GOOD}, {"name": "A" * (api.MAX_ID_CHARS + 1), **GOOD}, {**GOOD, "sample_id": "S1", "recipe_id": None}, {"id": True, **GOOD}]
    answer = json.loads(api.to_json_bytes(api.predict({"recipes": recipes}, snapshot, card)))
    assert [row["row"] for row in answer["predictions"]] == [0, 2]
    first, third = answer["predictions"]
    assert (first["id"], third["id"], third["sample_id"], third["recipe_id"]) == (3, None, "S1", None)
    assert list(first)[:3] == ["row", "id", "sample_id"]
    assert {(error["row"], error["field"]) for error in answer["errors"]} == {(1, "recipes[1].name"), (3, "recipes[3].id")}
    assert f"at most {api.MAX_ID_CHARS} characters" in answer["errors"][0]["message"]
    assert "AAAA" * 20 not in json.dumps(answer["errors"])  # not echoed whole


def test_the_recipe_cap_is_still_413(served):
    snapshot, card = served
    error = refused(api.predict, {"recipes": [GOOD] * (api.MAX_RECIPES + 1)}, NeverPredicts(snapshot), card)
    assert (error.status, error.field) == (413, "recipes") and f"at most {api.MAX_RECIPES:,}" in error.message


# --------------------------------------------------------------------------------------
# formulate: every list and count capped, and a search that stops when told to
# --------------------------------------------------------------------------------------

HEX = {"hex": "#9fc24a"}


@pytest.mark.parametrize(
    "payload, field, words",
    [
        ({"target": HEX, "constraints": {"thicknesses_um": [10.0] * (api.MAX_THICKNESSES + 1)}}, "constraints.thicknesses_um", f"1 to {api.MAX_THICKNESSES} film thicknesses"),
        ({"target": HEX, "constraints": {"thicknesses_um": list(range(1, 10_001))}}, "constraints.thicknesses_um", "a list of 10,000 items"),
        ({"target": HEX, "n_candidates": api.MAX_CANDIDATES + 1}, "n_candidates", f"from 1 to {api.MAX_CANDIDATES}"),
        ({"target": HEX, "constraints": {"colorants": ["FluoYellow", "BiVaYellow", "FluoYellow"]}}, "constraints.colorants", "named twice"),
        ({"target": HEX, "constraints": {"colorants": [*GOOD][:-1] * 2}}, "constraints.colorants", "1 to 5 of this model's colorants"),
        ({"target": HEX, "constraints": {"colorants": ["fluoyellow"]}}, "constraints.colorants", "Did you mean 'FluoYellow'?"),
        ({"target": HEX, "constraints": {"minimum": {"TitaniumWhite": 1}}}, "constraints.minimum.TitaniumWhite", "not a colorant of this model"),
        ({"target": HEX, "constraints": {"max_totl": 20}}, "constraints.max_totl", "Did you mean 'max_total'?"),
        ({"target": {"spectrum": [0.5] * 30}}, "target.spectrum", "expected 31 reflectances"),
        ({"target": {"spectrum": [0.5] * 100_000}}, "target.spectrum", "a list of 100,000 items"),
        ({"target": {"Lab": [50, 0, 0, 0]}}, "target.Lab", "expected 3 numbers"),
        ({"target": {"hex": "#9fc24a", "lab": [50, 0, 0]}}, "target.lab", "Did you mean 'Lab'?"),
        ({"target": {"hex": "#" + "9" * 100_000}}, "target.hex", "(100,001 characters)"),
        ({"target": HEX, "n_starts": 1000}, "n_starts", "not a field of a formulate request"),
        ({"target": {"spectrum": [50.0] * 31}}, "target.spectrum", "If these are percent, divide them by 100"),
        ({"target": {"spectrum": [0.5] * 30 + [-7.0]}}, "target.spectrum", "value at 700 nm is -7; expected reflectance factors from 0 to 5"),
        ({"target": {"Lab": [1000, 0, 0]}}, "target.Lab", "outside L* 0–100"),
        ({"target": HEX, "constraints": {"colorants": ["PhthaloGreen"], "minimum": {"FluoYellow": 3}}}, "constraints", "not among the allowed colorants"),
    ],
    ids=["9 thicknesses", "10,000 thicknesses", "11 candidates", "a colorant twice", "more colorants than the model's", "colorant near miss",
         "minimum of an unknown colorant", "constraint near miss", "30-band spectrum", "100,000-band spectrum", "Lab of 4", "two targets",
         "100,000-character hex", "starts are not a field", "spectrum in percent", "negative band", "L* of 1000", "minimum of an excluded colorant"],
)
def test_formulate_caps_every_list_and_count_with_a_422_naming_it(served, payload, field, words):
    snapshot, card = served
    error = refused(api.formulate, payload, NeverPredicts(snapshot), card)
    assert (error.status, error.field) == (422, field), error.message
    assert words in error.message
    assert len(error.message) < 400


def test_formulate_at_the_thickness_cap_answers_from_the_serving_snapshot(served):
    snapshot, card = served
    thicknesses = [8.0 + index * 0.5 for index in range(api.MAX_THICKNESSES)]
    answer = api.formulate({"target": HEX, "constraints": {"thicknesses_um": thicknesses}, "n_candidates": 2}, snapshot, card, should_stop=lambda: False)
    assert answer["model_version"] == card.version and 1 <= len(answer["candidates"]) <= 2
    assert {candidate["thickness_um"] for candidate in answer["candidates"]} <= set(thicknesses)


def test_a_formulation_told_to_stop_answers_503_and_the_search_raises(served, monkeypatch):
    from model.formulation import Constraints, FormulationCancelled, Target, formulate

    snapshot, card = served
    asked = []
    error = refused(api.formulate, {"target": HEX}, snapshot, card, should_stop=lambda: asked.append(1) or True)
    assert error.status == 503 and "stopped after" in error.message and "fewer thicknesses or candidates" in error.message
    assert asked == [1]  # asked before the first prediction, and nothing after
    with pytest.raises(FormulationCancelled) as caught:
        formulate(snapshot, Target.from_hex("#9fc24a"), Constraints(), should_stop=lambda: True)
    assert caught.value.n_predictions == 0
    # Without a should_stop the API's own time limit still holds.
    monkeypatch.setattr(api, "FORMULATE_TIME_LIMIT_S", 0.0)
    assert refused(api.formulate, {"target": HEX}, snapshot, card).status == 503
