"""The Predict page driven through its widget keys (AppTest), and the helpers behind it."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from model import THICKNESS_COLUMN, TrainingRange
from model.presentation.wording import band_sentence
from model.registry.registry import ModelRegistry
from model.registry.training_data import find_training_data
from model.serving import explore
from tests._downloads import downloaded_table, record_downloads

APP_TIMEOUT_S = 60


@pytest.fixture
def app(open_dashboard):
    return open_dashboard(timeout_s=APP_TIMEOUT_S)


def shown_Lab(at) -> list[str]:
    metrics = {metric.label: metric.value for metric in at.metric}
    return [metrics["L*"], metrics["a*"], metrics["b*"]]


def test_shown_Lab_equals_the_model_for_a_recipe_set_through_widget_keys(app, shipped):
    model, _ = shipped
    colorants = list(model.colorants_)
    recipe = {colorants[0]: 3.0, colorants[1]: 7.5, colorants[3]: 2.25}
    before = shown_Lab(app)
    for name, value in recipe.items():
        app.text_input(key=f"predict_{name}").input(f"{value:g}")
    app.text_input(key="predict_thickness_um").input("11")
    app.run()
    assert not app.exception, app.exception

    expected = model.predict(explore.recipe_frame(recipe, 11.0, colorants)).Lab[0]
    assert shown_Lab(app) == [f"{value:.2f}" for value in expected]
    assert shown_Lab(app) != before
    # The table of both paths shows the same headline numbers, in the column marked reported.
    paths = app.dataframe[0].value
    [reported] = [column for column in paths.columns if column.endswith("✓")]
    np.testing.assert_allclose(paths[reported].iloc[:3].to_numpy(dtype=float), expected, atol=1e-9)
    # Sidebar names the champion and its leave-recipe-out ΔE00.
    assert any(m.label == "Leave-recipe-out mean ΔE00 per film" for m in app.sidebar.metric)


def test_slider_and_text_box_follow_each_other(app, shipped):
    model, _ = shipped
    name = model.colorants_[1]
    app.slider(key=f"predict_{name}_slider").set_value(4.0).run()
    assert app.text_input(key=f"predict_{name}").value == "4"
    app.text_input(key=f"predict_{name}").input("6.5").run()
    assert app.slider(key=f"predict_{name}_slider").value == 6.5


def test_out_of_range_recipe_gets_a_plain_warning(app, shipped):
    model, _ = shipped
    name = model.colorants_[0]
    assert not app.warning
    above = model.training_range_.maximum[name] + 5
    app.text_input(key=f"predict_{name}").input(f"{above:g}").run()
    assert any("outside what the model was trained on" in w.value and name in w.value for w in app.warning)


def test_spectrum_overlays_named_nearest_measured_samples(app):
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    names = [trace["name"] for trace in spec["data"]]
    assert names[0] == "Predicted"
    assert len(names) == 4 and all(n.startswith("Measured ") for n in names[1:])
    assert spec["layout"]["xaxis"]["title"]["text"] == "Wavelength (nm)"
    assert "Reflectance" in spec["layout"]["yaxis"]["title"]["text"]


def test_pins_at_most_four_recipes(app):
    for _ in range(4):
        app.button(key="predict_pin").click().run()
    assert len(app.session_state["predict_pinned"]) == 4
    assert app.button(key="predict_pin").disabled
    assert len(app.get("plotly_chart")) == 2  # the pinned spectra chart
    app.button(key="predict_unpin_0").click().run()
    assert len(app.session_state["predict_pinned"]) == 3
    assert not app.button(key="predict_pin").disabled


def test_broken_champion_falls_back_to_the_last_good_champion(tmp_path, monkeypatch, repo_root, shipped):
    _, card = shipped
    good = ModelRegistry().root / card.version
    shutil.copytree(good, tmp_path / card.version)
    shutil.copytree(good, tmp_path / "zz-tampered")
    tampered_card = json.loads((tmp_path / "zz-tampered" / "card.json").read_text())
    tampered_card["version"] = "zz-tampered"
    (tmp_path / "zz-tampered" / "card.json").write_text(json.dumps(tampered_card))
    with open(tmp_path / "zz-tampered" / "model.joblib", "ab") as handle:
        handle.write(b"tampered")
    (tmp_path / "CHAMPION").write_text("zz-tampered\n")
    promotions = [{"action": "promote", "version": card.version}, {"action": "promote", "version": "zz-tampered"}]
    (tmp_path / "promotions.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in promotions))
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(tmp_path))

    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=APP_TIMEOUT_S)
    at.run()
    assert not at.exception, at.exception
    assert any("zz-tampered" in e.value and "modified after it was saved" in e.value for e in at.error)
    assert any(card.version in w.value for w in at.warning)
    assert len(shown_Lab(at)) == 3


def test_nearest_samples_are_ordered_by_scaled_recipe_distance(shipped):
    model, card = shipped
    dataset = find_training_data(card).dataset
    assert dataset is not None and dataset.fingerprint() == card.dataset["fingerprint"]
    measured = dataset.recipes.iloc[[7]]
    nearest = explore.nearest_samples(dataset, measured, model.training_range_, k=3)
    assert nearest["distance"].iloc[0] == 0.0
    assert nearest["sample_id"].iloc[0] == dataset.sample_ids[7]
    assert nearest["distance"].is_monotonic_increasing
    assert {"L", "a", "b", "hex", "R400", "R700"} <= set(nearest.columns)
    # The prepared index answers the same as the one-off function.
    again = explore.TrainingSamples(dataset).nearest(measured, model.training_range_, k=3)
    pd.testing.assert_frame_equal(again, nearest)
    np.testing.assert_array_equal(nearest.loc[0, ["R400", "R700"]].to_numpy(dtype=float), dataset.reflectance[7, [0, -1]])


def test_lab_paths_table_derives_chroma_and_hue_from_each_path(shipped):
    model, _ = shipped
    prediction = model.predict(explore.recipe_frame({model.colorants_[2]: 1.0}, 10.0, model.colorants_))
    table = explore.lab_paths_table(prediction)
    head = table.loc["From the CIELAB head"]
    assert head["C*"] == pytest.approx(np.hypot(head["a*"], head["b*"]))
    assert head["h°"] == pytest.approx(np.degrees(np.arctan2(head["b*"], head["a*"])) % 360)
    assert table["headline"].sum() == 1
    assert list(explore.recipe_frame({"x": 1}, 9, ["x", "y"]).columns) == ["x", "y", THICKNESS_COLUMN]
    assert explore.recipe_frame({"x": 1}, 9, ["x", "y"]).iloc[0].tolist() == [1.0, 0.0, 9.0]


def test_the_page_states_the_prediction_uncertainty(app, shipped):
    model, _ = shipped
    colorants = list(model.colorants_)
    app.text_input(key=f"predict_{colorants[0]}").input("5")
    app.run()
    expected = model.predict(explore.recipe_frame({colorants[0]: 5.0}, float(app.text_input(key="predict_thickness_um").value), colorants))
    captions = [caption.value for caption in app.caption if caption.value.startswith("Uncertainty")]
    # The sentence says what the band means: calibrated ("9 in 10 recipes like this come within …") or, for a
    # model saved before the calibration, that it is only the networks' spread.
    assert captions == ["Uncertainty: " + band_sentence(float(expected.uncertainty[0]), expected.uncertainty_coverage)]
    assert f"ΔE00 {expected.uncertainty[0]:.1f}" in captions[0]
    assert ("9 in 10 recipes like this" in captions[0]) == (expected.uncertainty_coverage == 0.9)


def test_a_broken_champion_with_no_earlier_one_stops_every_page_with_errors(tmp_path, monkeypatch, repo_root, shipped):
    _, card = shipped
    shutil.copytree(ModelRegistry().root / card.version, tmp_path / card.version)
    with open(tmp_path / card.version / "model.joblib", "ab") as handle:
        handle.write(b"tampered")
    (tmp_path / "CHAMPION").write_text(card.version + "\n")
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(tmp_path))

    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=APP_TIMEOUT_S)
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(f"The champion model {card.version} cannot be used" in e and "modified after it was saved" in e for e in errors)
    assert any(e.startswith(f"No champion model in {tmp_path} can be loaded") for e in errors)
    assert not at.warning and not at.metric  # no page ran


def _two_colorant_model():
    """Just what the input policy reads: two colorants and a training range (wt %, µm)."""
    trained = TrainingRange(minimum={"A": 0.0, "B": 0.5, THICKNESS_COLUMN: 8.0}, maximum={"A": 20.0, "B": 70.0, THICKNESS_COLUMN: 12.0})
    return SimpleNamespace(colorants_=("A", "B"), training_range_=trained)


def test_input_bounds_allow_half_again_the_trained_range_rounded_up():
    bounds = explore.input_bounds(_two_colorant_model())
    assert list(bounds) == ["A", "B", THICKNESS_COLUMN]
    assert bounds["A"] == (0.0, 30.0, 0.05)  # 1.5 × 20 = 30
    assert bounds["B"] == (0.0, 100.0, 0.05)  # 1.5 × 70 = 105, but never above 100 wt %
    assert bounds[THICKNESS_COLUMN] == (4.0, 20.0, 0.1)  # from half of 8 µm to 1.5 × 12 = 18, rounded up to 20
    low, high, step = bounds["A"]
    assert (low, high, step) == (bounds["A"].minimum, bounds["A"].maximum, bounds["A"].step)


def test_default_recipe_is_the_first_colorant_at_half_its_maximum():
    assert explore.default_recipe(_two_colorant_model()) == {"A": 10.0, "B": 0.5, THICKNESS_COLUMN: 10.0}


def test_describe_recipe_and_untrusted_uncertainty():
    assert explore.describe_recipe({"A": 1.5, "B": 0.0, THICKNESS_COLUMN: 8.0}, ["A", "B"]) == "A 1.5%"
    assert explore.describe_recipe({"A": 0.0, "B": 0.0}, ["A", "B"]) == "no colorant"
    assert explore.is_untrusted(explore.UNTRUSTED_UNCERTAINTY + 0.1)
    assert not explore.is_untrusted(explore.UNTRUSTED_UNCERTAINTY) and not explore.is_untrusted(float("nan"))


# ---- decimal comma, refused entries, the recipe in the URL (issue 15) ----------------


def test_a_decimal_comma_is_read_as_a_decimal_point_and_said_so(app, shipped):
    model, _ = shipped
    name = model.colorants_[0]
    app.text_input(key=f"predict_{name}").input("1,5").run()
    assert not app.exception, app.exception
    assert app.text_input(key=f"predict_{name}").value == "1.5"  # the box shows how it was read
    assert "Read “1,5” as 1.5 wt %." in [caption.value for caption in app.caption]
    expected = model.predict(explore.recipe_frame({name: 1.5}, 10.0, model.colorants_)).Lab[0]
    assert shown_Lab(app) == [f"{value:.2f}" for value in expected]
    assert app.query_params[name] in ("1.5", ["1.5"])


def test_an_entry_above_the_box_maximum_is_refused_visibly_and_the_prediction_kept(app, shipped):
    model, _ = shipped
    name = model.colorants_[0]
    before = shown_Lab(app)
    app.text_input(key=f"predict_{name}").input("150").run()
    assert not app.exception, app.exception
    assert app.text_input(key=f"predict_{name}").value == "150"  # left as typed, next to its message
    [error] = [e.value for e in app.error]
    assert error.startswith(f"{name}: 150 wt % is above the largest value this box accepts") and "still uses" in error
    assert any(w.value.startswith("Not the recipe you typed") for w in app.warning)
    assert shown_Lab(app) == before
    app.text_input(key=f"predict_{name}").input("2").run()  # a usable entry clears the message
    assert not app.error and shown_Lab(app) != before


def test_the_recipe_and_pins_survive_another_page_and_come_back_from_the_link(app, shipped, repo_root):
    model, _ = shipped
    colorants = list(model.colorants_)
    app.text_input(key=f"predict_{colorants[1]}").input("3,25").run()
    app.button(key="predict_pin").click().run()
    link = {key: app.query_params[key] for key in app.query_params}
    def as_list(value):
        return value if isinstance(value, list) else [value]

    assert as_list(link[colorants[1]]) == ["3.25"] and as_list(link["thickness_um"]) == ["10"] and len(as_list(link["pin"])) == 1

    app.switch_page("app_pages/batch.py").run()
    app.switch_page("app_pages/predict.py").run()
    assert not app.exception, app.exception
    assert app.text_input(key=f"predict_{colorants[1]}").value == "3.25"
    assert len(app.session_state["predict_pinned"]) == 1

    # A new session (a reload, or a colleague opening the link) reads the recipe and pins from the URL.
    fresh = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=APP_TIMEOUT_S)
    for key, values in link.items():
        fresh.query_params[key] = values
    fresh.run()
    assert not fresh.exception, fresh.exception
    assert fresh.text_input(key=f"predict_{colorants[1]}").value == "3.25"
    assert shown_Lab(fresh) == shown_Lab(app)
    assert fresh.session_state["predict_pinned"] == app.session_state["predict_pinned"]


def test_a_bad_value_in_a_link_is_named_and_the_default_used(repo_root, shipped):
    model, _ = shipped
    name = model.colorants_[0]
    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=APP_TIMEOUT_S)
    at.query_params[name] = "lots"
    at.query_params["thickness_um"] = "9,5"
    at.run()
    assert not at.exception, at.exception
    assert any(w.value.startswith(f"In the link, {name}: “lots” is not a number") for w in at.warning)
    assert at.text_input(key="predict_thickness_um").value == "9.5"
    assert at.text_input(key=f"predict_{name}").value == explore.format_entry(explore.default_recipe(model)[name])


def test_a_link_parameter_naming_no_colorant_is_named_on_the_page_with_the_colorants(repo_root, shipped):
    """?TitaniumWhite=30 and a wrong-case colorant are ignored visibly, never guessed (issue 21)."""
    model, _ = shipped
    colorants = list(model.colorants_)
    first = colorants[0]
    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=APP_TIMEOUT_S)
    at.query_params["TitaniumWhite"] = "30"
    at.query_params[first.lower()] = "5"
    at.query_params[first] = "0"
    at.run()
    assert not at.exception, at.exception
    [note] = [w.value for w in at.warning if "TitaniumWhite" in w.value]
    assert f"“{first.lower()}” (did you mean “{first}”?)" in note
    assert all(colorant in note for colorant in colorants)
    # The exact name is used, the wrong-case one is not: the recipe is the link's, at 0 wt %.
    assert at.session_state[f"predict_value_{first}"] == 0.0
    # The URL the page writes back names only the model's inputs (and pins).
    assert "TitaniumWhite" not in at.query_params and first.lower() not in at.query_params


def test_near_miss_suggests_one_name_or_none():
    from model.io.matching import near_miss

    names = ["FluoYellow", "BiVaYellow", "PearlBlue", THICKNESS_COLUMN]
    assert near_miss("fluoyellow", names) == "FluoYellow"
    assert near_miss("Pearl_Blue", names) == "PearlBlue"
    assert near_miss("FluoYelow", names) == "FluoYellow"
    assert near_miss("thickness", names) == THICKNESS_COLUMN
    assert near_miss("TitaniumWhite", names) is None
    assert near_miss("Yellow", names) is None  # as close to two names: no guess


def test_read_entry_accepts_a_decimal_comma_and_refuses_what_it_cannot_read():
    bounds = explore.InputBounds(0.0, 30.0, 0.05)
    assert explore.read_entry("1,5", "PG", bounds) == (1.5, None, "Read “1,5” as 1.5 wt %.")
    assert explore.read_entry(" 12.25 ", "PG", bounds) == (12.25, None, None)
    assert explore.read_entry("0", "PG", bounds).value == 0.0
    for text, phrase in [("abc", "is not a number"), ("", "the box is empty"), ("1,000", "could mean 1 or 1000"), ("nan", "is not a number"),
                         ("31", "above the largest value this box accepts (0–30 wt %)"), ("-1", "below the smallest")]:
        reading = explore.read_entry(text, "PG", bounds)
        assert reading.value is None and phrase in reading.problem, (text, reading)
    thickness = explore.read_entry("3", THICKNESS_COLUMN, explore.InputBounds(4.0, 20.0, 0.1))
    assert thickness.value is None and "µm" in thickness.problem


def test_recipe_and_pins_round_trip_through_query_parameters():
    bounds = explore.input_bounds(_two_colorant_model())
    recipe = {"A": 12.5, "B": 0.0, THICKNESS_COLUMN: 8.0}
    query = explore.recipe_to_query(recipe, list(bounds))
    assert query == {"A": "12.5", "B": "0", THICKNESS_COLUMN: "8"}
    assert explore.recipe_from_query(query, bounds, {"A": 1.0, "B": 1.0, THICKNESS_COLUMN: 10.0}) == (recipe, [], [])
    partial, problems, ignored = explore.recipe_from_query({"A": "99", "other": "x"}, bounds, {"A": 1.0, "B": 2.0, THICKNESS_COLUMN: 10.0})
    assert partial == {"A": 1.0, "B": 2.0, THICKNESS_COLUMN: 10.0} and ignored == ["other"]
    assert len(problems) == 2 and "99 wt %" in problems[0] and "“other”" in problems[1]
    pins = [recipe, {"A": 0.0, "B": 1.5, THICKNESS_COLUMN: 12.0}]
    assert explore.pins_to_query(pins, list(bounds)) == ["A:12.5,thickness_um:8", "B:1.5,thickness_um:12"]
    assert explore.pins_from_query([*explore.pins_to_query(pins, list(bounds)), "A:nonsense,thickness_um:8", "A:1"], bounds, 4) == pins
    assert len(explore.pins_from_query(explore.pins_to_query(pins * 3, list(bounds)), bounds, 4)) == 4
    assert [explore.format_entry(value) for value in (12.5, 0.0, 3.0, 1 / 3)] == ["12.5", "0", "3", "0.33333"]
    assert explore.format_entry(0.99625) == "0.99625"  # a real recipe table's value, kept whole in the box and the link


def test_the_predicted_fluorescence_is_shown_with_its_unit_when_the_champion_has_a_head(glowing_install, open_dashboard):
    model = glowing_install["model"]
    at = open_dashboard(timeout_s=APP_TIMEOUT_S)
    at.text_input(key="predict_FluoYellow").input("12")
    at.text_input(key="predict_thickness_um").input("10")
    at.run()
    assert not at.exception
    [shown] = [metric.value for metric in at.metric if metric.label == "Fluorescence"]
    recipe = pd.DataFrame({name: [at.session_state[f"predict_value_{name}"]] for name in model.input_columns})
    expected = model.predict(recipe).fluorescence_cts[0]
    assert expected > 0 and shown == f"{expected:,.0f} ct/s"
    assert any("without a fluorescent colorant (FluoYellow)" in caption.value for caption in at.caption)


def test_a_champion_without_a_head_shows_no_fluorescence(tiny_install, open_dashboard):
    at = open_dashboard(timeout_s=APP_TIMEOUT_S)
    assert not at.exception and [metric.label for metric in at.metric][:3] == ["L*", "a*", "b*"]
    assert "Fluorescence" not in [metric.label for metric in at.metric]


def test_the_paths_table_has_a_row_per_quantity_so_all_five_show_at_any_width(app, shipped):
    model, _ = shipped
    paths = app.dataframe[0].value
    # A row per quantity and a column per path: two short number columns fit at 800 px, where a column
    # per quantity showed only L* and a*. The words for each quantity and the mark are in the caption below.
    assert list(paths.index) == ["L*", "a*", "b*", "C*", "h°"]
    assert sorted(column.removesuffix(" ✓") for column in paths.columns) == ["Lab head", "spectrum"]
    assert sum(column.endswith(" ✓") for column in paths.columns) == 1
    assert any(caption.value.startswith("L* lightness (0–100, above 100 for a fluorescent film); a* green (−) to red (+)") and "✓ marks the path the model reports" in caption.value
               for caption in app.caption)
    recipe = explore.recipe_frame({name: app.session_state[f"predict_value_{name}"] for name in model.colorants_},
                                  app.session_state["predict_value_thickness_um"], model.colorants_)
    by_path = explore.lab_paths_table(model.predict(recipe))
    np.testing.assert_allclose(paths.to_numpy(dtype=float), by_path[["L*", "a*", "b*", "C*", "h°"]].to_numpy(dtype=float).T, atol=1e-9)


def _decimals(cells) -> int:
    """The most decimals written in a column of CSV cells."""
    return max(len(cell.partition(".")[2]) for cell in cells)


def test_the_download_has_the_precision_a_lab_reads(open_dashboard, shipped, monkeypatch):
    model, _ = shipped
    files = record_downloads(monkeypatch)
    at = open_dashboard(timeout_s=APP_TIMEOUT_S)
    at.text_input(key=f"predict_{model.colorants_[0]}").input("3.14159").run()
    table = downloaded_table(files, "huecast-prediction.csv")
    # L*a*b*, C*, h° 2 decimals; ΔE00 2; reflectance 4; wt % 3; thickness 1 (it was L 70.36394889524092).
    assert all(_decimals(table[column]) <= 2 for column in ["L", "a", "b", "C", "h", "delta_e00_paths", "uncertainty_delta_e00"])
    assert max(_decimals(table[band]) for band in [f"R{wavelength}" for wavelength in range(400, 701, 10)]) <= 4
    assert table[model.colorants_[0]].iloc[0] == "3.142" and _decimals(table[THICKNESS_COLUMN]) <= 1
    recipe = explore.recipe_frame({model.colorants_[0]: 3.14159}, at.session_state["predict_value_thickness_um"], model.colorants_)
    assert float(table["L"].iloc[0]) == pytest.approx(model.predict(recipe).Lab[0, 0], abs=0.005)


def test_a_link_made_for_other_colorants_says_what_was_dropped_and_moves_nothing(open_dashboard, shipped, repo_root):
    model, _ = shipped
    colorants = list(model.colorants_)
    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=APP_TIMEOUT_S)
    # A link made for the lab's model (GXT-10, PG) opened on the demo model, with a pin of that model too.
    at.query_params["GXT-10"] = "12.5"
    at.query_params["PG"] = "1"
    at.query_params["thickness_um"] = "8"
    at.query_params["pin"] = "GXT-10:3,thickness_um:12"
    at.run()
    assert not at.exception, at.exception
    warnings = [warning.value for warning in at.warning]
    [note] = [text for text in warnings if "made for a model with other colorants" in text]
    assert "GXT-10 12.5 wt %, PG 1 wt %" in note and f"{', '.join(colorants)} are not in the link, so they are at 0 wt %" in note
    # No amount moved to the model's own colorants: the default recipe (the first colorant at half its maximum) is not used.
    assert [at.session_state[f"predict_value_{name}"] for name in colorants] == [0.0] * len(colorants)
    assert at.session_state["predict_value_thickness_um"] == 8.0
    assert any("1 pinned recipe was not pinned: it names GXT-10" in text for text in warnings)
    assert at.session_state["predict_pinned"] == []


def test_a_link_note_names_dropped_colorants_and_keeps_typos_apart():
    bounds = explore.input_bounds(_two_colorant_model())
    link = explore.recipe_from_query({"A": "2", "Z": "4", THICKNESS_COLUMN: "9"}, bounds, {"A": 1.0, "B": 2.0, THICKNESS_COLUMN: 10.0})
    assert link.recipe == {"A": 2.0, "B": 0.0, THICKNESS_COLUMN: 9.0} and link.ignored == ["Z"]
    [note] = link.problems
    assert "Dropped from the link, because this model does not have that colorant: Z 4 wt %. B is not in the link, so it is at 0 wt %." in note
    typo = explore.recipe_from_query({"a": "2"}, bounds, {"A": 1.0, "B": 2.0, THICKNESS_COLUMN: 10.0})  # a near miss: the old note, defaults kept
    assert typo.recipe == {"A": 1.0, "B": 2.0, THICKNESS_COLUMN: 10.0} and "did you mean “A”?" in typo.problems[0]
    assert explore.dropped_pins_note(["A:1,thickness_um:8"], bounds) is None
    assert "could not be read" in explore.dropped_pins_note(["A:1"], bounds)
