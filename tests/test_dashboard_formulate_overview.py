"""AppTest drives the Formulate and Overview pages on a tiny promoted model in a temp folder."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state
from model import THICKNESS_COLUMN, TrainingRange
from model.ops import registry, review
from model.ops.access import LOCAL_ADMIN
from model.serving import explore


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_evaluated):
    root = tmp_path_factory.mktemp("models")
    evaluation = tiny_evaluated.evaluation
    card = registry.save_model(tiny_evaluated.model, metrics=evaluation.metrics, dataset_info=tiny_evaluated.info, models_dir=root)
    review.save_out_of_fold(evaluation, card.version, root)
    registry.promote(card.version, root, user=LOCAL_ADMIN)
    return root


@pytest.fixture
def app(models_dir, tmp_path, monkeypatch, repo_root):
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("HUECAST_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=60)
    at.run()
    return at


def test_formulate_finds_recipes_and_copies_one_into_predict(app, tiny_dataset):
    app.switch_page("app_pages/formulate.py").run()
    assert not app.exception
    app.radio(key="formulate_target_kind").set_value("CIELAB values").run()
    app.number_input(key="formulate_L").set_value(70.0)
    app.number_input(key="formulate_a").set_value(-10.0)
    app.number_input(key="formulate_b").set_value(40.0)
    app.slider(key="formulate_n_candidates").set_value(2)
    app.button(key="formulate_run").click().run()
    assert not app.exception
    headers = [h.value for h in app.subheader]
    assert headers and headers[0].startswith("Recipe 1: ΔE00")
    assert len(headers) <= 2
    # The tiny model cannot make a film this yellow-green at L* 70 (its closest recipe is about
    # 12 ΔE00 away), so the page must explain the shortfall, never claim success.
    result = app.session_state["formulate_result"]
    assert not result.reachable and result.best.delta_e00 > 5
    assert not app.success
    assert app.warning[0].value == result.explanation
    assert result.explanation.startswith("Not reachable within these constraints")
    app.button(key="formulate_copy_1").click().run()
    assert not app.exception
    colorant = tiny_dataset.colorants[0]
    assert app.session_state[f"predict_{colorant}"] == pytest.approx(result.best.recipe[colorant])
    assert app.session_state["predict_thickness_um"] == pytest.approx(result.best.recipe["thickness_um"])


def test_formulate_bad_paste_says_what_was_expected(app):
    app.switch_page("app_pages/formulate.py").run()
    app.radio(key="formulate_target_kind").set_value("Pasted spectrum").run()
    app.text_area(key="formulate_spectrum_text").set_value("0.1 0.2 0.3").run()
    assert any("expected 31 reflectance values" in e.value for e in app.error)
    assert app.button(key="formulate_run").disabled


def test_overview_headline_card_and_report(app, models_dir):
    app.switch_page("app_pages/overview.py").run()
    assert not app.exception
    headline = app.info[0].value
    assert headline.startswith("On 16 recipes the model never saw, the median colour error was")
    assert "% under 1.0" in headline and "% under 2.0" in headline
    text = " ".join(m.value for m in app.markdown)
    assert registry.champion_version(models_dir) in text and "first champion" in text
    assert "ΔE00 (CIEDE2000)" in app.caption[0].value


def test_send_recipe_to_predict_sets_the_number_boxes_only():
    session = {"predict_pinned": []}
    state.send_recipe_to_predict(session, {"PG": 1, THICKNESS_COLUMN: 12})
    assert session == {"predict_pinned": [], "predict_PG": 1.0, "predict_thickness_um": 12.0}
    assert isinstance(session["predict_PG"], float)
    assert state.predict_input_key("PG") == "predict_PG" and state.predict_slider_key("PG") == "predict_PG_slider"


def test_trained_thicknesses_and_parsing_chosen_ones(tiny_dataset):
    trained = TrainingRange.from_recipes(tiny_dataset.recipes)
    assert explore.trained_thicknesses(trained) == [8.0, 12.0]
    assert explore.parse_thicknesses([8.0, "10.5"]) == [8.0, 10.5]
    assert explore.parse_thicknesses([]) is None  # nothing chosen: no constraint
    with pytest.raises(ValueError, match=r"Thicknesses must be numbers in µm; got \[8.0, 'thick'\]"):
        explore.parse_thicknesses([8.0, "thick"])
