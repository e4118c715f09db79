"""Plan experiments: the suggested batch, its reasons, its download round trip, and the page."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from sklearn.base import clone
from streamlit.testing.v1 import AppTest

from model.auth.access import LOCAL_ADMIN
from model.core import colorimetry
from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, THICKNESS_COLUMN
from model.formulation import Constraints, Target
from model.formulation.experiment_plan import measurement_names
from model.formulation.experiments import default_constraints, length_scale, plan_experiments, scaled_recipes
from model.io.recipes import read_recipe_table
from model.models import HybridModel
from model.presentation import figures
from model.registry.registry import ModelRegistry
from model.registry.training_data import find_training_data
from model.simulate import DEMO_COLORANTS, measure, simulate_reflectance
from model.store import intake

TINY_COLORANTS = DEMO_COLORANTS[1:4]  # the tiny_dataset fixture's colorants


@pytest.fixture(scope="module")
def small_hybrid(tiny_dataset):
    """A small HybridModel on the tiny dataset (about 3 s): the planner reads its physics path."""
    model = HybridModel(hidden_layer_sizes=(8,), max_iter=200, n_ensemble=2, inner_folds=2)
    return model.fit(tiny_dataset)


@pytest.fixture(scope="module")
def plan(small_hybrid, tiny_dataset):
    return plan_experiments(small_hybrid, tiny_dataset, batch_size=6)


def test_plan_gives_n_distinct_recipes_inside_the_allowed_ranges_spread_apart(plan, tiny_dataset):
    allowed = default_constraints(tiny_dataset)
    assert len(plan) == 6
    concentrations = np.array([[s.concentrations[name] for name in tiny_dataset.colorants] for s in plan.suggestions])
    assert len(np.unique(concentrations, axis=0)) == 6
    upper = np.array([allowed.maximum[name] for name in tiny_dataset.colorants])
    assert np.all(concentrations >= 0) and np.all(concentrations <= upper + 1e-9)
    assert {s.thickness_um for s in plan.suggestions} <= {8.0, 12.0} and plan.thicknesses_um == (8.0, 12.0)
    # Spread: no two suggestions closer than the planner's own length scale (half the measured
    # recipes' typical nearest-neighbour distance), in the scaled space it measures distances in.
    scaled = scaled_recipes(concentrations, upper)
    pairwise = np.linalg.norm(scaled[:, None] - scaled[None], axis=2)[np.triu_indices(6, 1)]
    measured = tiny_dataset.table.groupby(RECIPE_ID_COLUMN)[list(tiny_dataset.colorants)].first().to_numpy(dtype=float)
    assert pairwise.min() > length_scale(scaled_recipes(measured, upper))


def test_each_suggestion_carries_its_colour_uncertainty_and_reasons_from_the_data(plan, tiny_dataset):
    measured_max = tiny_dataset.recipes[list(tiny_dataset.colorants)].max()
    for suggestion in plan.suggestions:
        assert suggestion.uncertainty > 0 and np.isfinite(suggestion.disagreement)
        assert re.fullmatch(r"#[0-9a-f]{6}", suggestion.hex)
        assert suggestion.nearest_recipe in set(tiny_dataset.recipe_ids)
        assert f"nearest measured recipe is {suggestion.nearest_recipe}, {suggestion.nearest_distance_wt:.1f} wt % away" in suggestion.reasons
        assert any(reason.startswith(f"uncertainty band {suggestion.uncertainty:.1f} ΔE00") for reason in suggestion.reasons)
        for name, value in suggestion.concentrations.items():
            beyond = f"no measured film has more than {measured_max[name]:g} % {name}"
            assert any(reason.startswith(beyond) for reason in suggestion.reasons) == (value > measured_max[name])
    frame = plan.to_frame()
    assert list(frame["recipe_id"]) == [f"PLAN{i}" for i in range(1, 7)]
    assert {"uncertainty (ΔE00)", "why", "L*", "hex"} <= set(frame.columns)
    figure = figures.experiment_plan_figure(plan)
    assert figure.layout.xaxis.title.text.startswith("a* (CIELAB") and figure.layout.yaxis.title.text.startswith("b* (CIELAB")


def test_the_plan_chart_names_each_suggestion_without_two_names_overlapping():
    from types import SimpleNamespace

    # Six suggestions crowded into one corner of the a*-b* plane, as a target colour gives.
    crowded = [SimpleNamespace(recipe_id=f"PLAN{i + 1}", Lab=np.array([60.0, 10.0 + 0.4 * i, 20.0 - 0.3 * i]), uncertainty=1.0 + i, hex="#88aa44")
               for i in range(6)]
    plan = SimpleNamespace(suggestions=crowded, measured_Lab=np.array([[50.0, -40.0, -30.0], [70.0, 40.0, 60.0]]))
    figure = figures.experiment_plan_figure(plan)
    assert [annotation.text for annotation in figure.layout.annotations] == [f"PLAN{i}" for i in range(1, 7)]
    assert figure.data[1].mode == "markers"  # no text drawn on the markers themselves
    # Where the labels land at 800 px (the narrowest plot the layout allows): no two boxes meet.
    x_range, y_range = figure.layout.xaxis.range, figure.layout.yaxis.range
    width_px, height_px = figures._PLAN_PLOT_PX
    label_w, label_h = figures._PLAN_LABEL_PX
    boxes = [((a.x - x_range[0]) / (x_range[1] - x_range[0]) * width_px + a.ax,
              (y_range[1] - a.y) / (y_range[1] - y_range[0]) * height_px + a.ay) for a in figure.layout.annotations]
    for index, (x, y) in enumerate(boxes):
        for other_x, other_y in boxes[index + 1:]:
            assert abs(x - other_x) >= label_w or abs(y - other_y) >= label_h, (boxes, index)


def test_beyond_a_ladders_end_the_reason_says_how_far_the_data_goes(small_hybrid, tiny_dataset):
    top = float(tiny_dataset.recipes["PearlBlue"].max())
    beyond = Constraints(minimum={"PearlBlue": top + 1.0}, maximum={"PearlBlue": top + 3.0})
    plan = plan_experiments(small_hybrid, tiny_dataset, beyond, batch_size=2)
    for suggestion in plan.suggestions:
        assert suggestion.concentrations["PearlBlue"] >= top + 1.0
        assert f"no measured film has more than {top:g} % PearlBlue (this has {suggestion.concentrations['PearlBlue']:g} %)" in suggestion.reasons


def test_on_the_real_data_the_reasons_quote_the_real_ladders(real_data_dir, quick_model):
    from model import load_dataset

    dataset = load_dataset(real_data_dir)[0]
    model = clone(quick_model).fit(dataset)
    top = float(dataset.recipes["PearlB"].max())
    assert top == 15.0  # F052B; the example
    plan = plan_experiments(model, dataset, Constraints(minimum={"PearlB": 16.0}, maximum={"PearlB": 20.0}), batch_size=3)
    for suggestion in plan.suggestions:
        assert suggestion.reasons[0] == f"no measured film has more than 15 % PearlB (this has {suggestion.concentrations['PearlB']:g} %)"


def test_a_one_colorant_recipe_says_where_that_colorants_ladder_stops(small_hybrid, tiny_dataset):
    # The tiny data holds mixtures only, so no film of PearlBlue alone was ever measured.
    top = float(tiny_dataset.recipes["PearlBlue"].max())
    alone = Constraints(colorants=["PearlBlue"], maximum={"PearlBlue": top})
    plan = plan_experiments(small_hybrid, tiny_dataset, alone, batch_size=2)
    for suggestion in plan.suggestions:
        assert [name for name, value in suggestion.concentrations.items() if value > 0] == ["PearlBlue"]
        assert "no film of PearlBlue alone was measured" in suggestion.reasons


def test_a_target_pulls_the_suggestions_toward_it(small_hybrid, tiny_dataset):
    target = Target.from_Lab(*colorimetry.reflectance_to_Lab(tiny_dataset.reflectance[5]))

    def mean_distance(plan) -> float:
        return float(np.mean([colorimetry.delta_E00(s.Lab, target.Lab) for s in plan.suggestions]))

    free = plan_experiments(small_hybrid, tiny_dataset, batch_size=4)
    around = plan_experiments(small_hybrid, tiny_dataset, batch_size=4, target=target, radius_delta_e00=4.0)
    # A radius of 4 ΔE00 pulls the batch in by at least a quarter (measured: about 40 %; the physics' fit moves it a little).
    assert mean_distance(around) < 0.75 * mean_distance(free)
    assert around.target_label == target.label
    assert all(any("from the target" in reason for reason in s.reasons) for s in around.suggestions)


def test_a_model_without_physics_is_planned_with_its_own_path_disagreement(tiny_dataset, quick_model):
    model = clone(quick_model).set_params(n_ensemble=2).fit(tiny_dataset)
    plan = plan_experiments(model, tiny_dataset, batch_size=3)
    assert len(plan) == 3 and all(np.isfinite(s.disagreement) for s in plan.suggestions)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_size": 0}, r"batch_size=0: ask for at least 1 recipe"),
        ({"batch_size": 2.5}, r"batch_size=2.5"),
        ({"constraints": Constraints(minimum={"PearlBlue": 5.0}, maximum={"PearlBlue": 1.0})}, r"Maximum of PearlBlue \(1 wt %\) is below its minimum"),
        ({"constraints": Constraints(maximum={"Nonsense": 1.0})}, r"Colorant 'Nonsense' is not one this model knows"),
        ({"radius_delta_e00": 0.0}, r"radius_delta_e00=0.0"),
        ({"uncertainty_weight": 2.0}, r"uncertainty_weight=2.0"),
    ],
)
def test_bad_input_fails_naming_the_field(small_hybrid, tiny_dataset, change, message):
    with pytest.raises(ValueError, match=message):
        plan_experiments(small_hybrid, tiny_dataset, **change)


def test_candidates_shrunk_to_the_total_stay_at_or_below_it_after_rounding_to_the_weighing_step():
    # Review: maxima of 40 wt % on three colorants made candidates shrunk to 100 wt % round back up to 100.01,
    # which predict refuses, and the page showed no plan.
    from model.formulation.experiments import candidate_recipes

    lower, upper = np.zeros(4), np.array([40.0, 40.0, 5.0, 40.0])
    for seed in range(5):
        recipes = candidate_recipes(lower, upper, 100.0, 4000, np.random.default_rng(seed))
        assert recipes.sum(axis=1).max() <= 100.0 + 1e-9
        assert np.isclose(recipes.sum(axis=1).max(), 100.0, atol=0.05)  # the cap is reached, not avoided


def test_a_plan_with_wide_ranges_keeps_every_total_within_100(small_hybrid, tiny_dataset):
    wide = Constraints(maximum={name: 60.0 for name in small_hybrid.colorants_})
    plan = plan_experiments(small_hybrid, tiny_dataset, wide, batch_size=4, n_candidates=2000, seed=0)
    assert (plan.to_frame()[[f"{name} (wt %)" for name in small_hybrid.colorants_]].sum(axis=1) <= 100.0 + 1e-9).all()


def test_no_measured_data_fails_saying_what_to_pass(small_hybrid):
    with pytest.raises(ValueError, match=r"measured: no measured recipes.*find_training_data"):
        plan_experiments(small_hybrid, None)


def _instrument_export(names, reflectance) -> bytes:
    """A spectrophotometer export in the shape of pp-inks/Spectra.csv (the header the reader looks for)."""
    header = ["Index", "Original Color Name", "User Color Name", "L", "a", "b", *(f"R{w} nm" for w in range(400, 701, 10))]
    lines = ["sep=;", "Export Date/Time;Mon Jan 01 2026,User Email;-", "Exported From; Saved Library", ";".join(header)]
    for index, (name, spectrum) in enumerate(zip(names, reflectance), start=1):
        Lab = colorimetry.reflectance_to_Lab(spectrum)
        lines.append(";".join([str(index), '"-"', f'"{name}"', *(f"{v:.4f}" for v in Lab), *(f"{v:.6f}" for v in spectrum)]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_the_download_round_trips_through_the_retrain_upload_and_a_retrain(tiny_install):
    """Plan on the champion's own training data, 'measure' the download with the simulator, upload it the
    way the Retrain page does, store it, retrain a small model: it now knows the new recipes."""
    champion, card = ModelRegistry(tiny_install["models_dir"]).load_champion()
    training = find_training_data(card, tiny_install["store"])
    assert training.dataset is not None, training.description
    plan = plan_experiments(champion, training.dataset, batch_size=3)
    table, colorants = read_recipe_table(plan.recipe_table_csv(), name="next.csv")
    assert colorants == list(champion.colorants_) and list(table[RECIPE_ID_COLUMN]) == ["PLAN1", "PLAN2", "PLAN3"]
    np.testing.assert_allclose(table[colorants].to_numpy(), [[s.concentrations[c] for c in colorants] for s in plan.suggestions])

    films = [(name, s, t) for s in plan.suggestions for name, t in zip(measurement_names(s.recipe_id, plan.thicknesses_um), plan.thicknesses_um)]
    concentrations = np.array([[s.concentrations[c] for c in colorants] for _, s, _ in films])
    thickness = np.array([t for _, _, t in films])
    measured = measure(simulate_reflectance(concentrations, thickness, colorants=TINY_COLORANTS), np.random.default_rng(3))
    files = [("Spectra.csv", _instrument_export([name for name, _, _ in films], measured)), ("next.csv", plan.recipe_table_csv())]

    store = tiny_install["store"]
    upload = intake.review_upload(files, store)
    assert upload.n_new == 6 and upload.n_recipes == 3 and not upload.clashes and not upload.left_out
    np.testing.assert_allclose(upload.prepared.dataset.table[THICKNESS_COLUMN], thickness)
    store.add(upload.prepared, user=LOCAL_ADMIN)
    snapshot = intake.store_snapshot(store)
    assert snapshot.dataset.n_recipes == training.dataset.n_recipes + 3

    retrained = clone(tiny_install["unfitted"]).fit(snapshot.dataset)
    new = snapshot.dataset.subset(np.isin(snapshot.dataset.recipe_ids, ["PLAN1", "PLAN2", "PLAN3"]))
    measured_Lab = colorimetry.reflectance_to_Lab(new.table[BAND_COLUMNS].to_numpy(dtype=float))

    def error(model) -> float:
        return float(np.mean(colorimetry.delta_E00(model.predict(new.recipes).Lab, measured_Lab)))

    # The point of the exercise: measuring the suggestions teaches the model where it was weakest.
    assert error(retrained) < error(champion)


# ----------------------------------------------------------------------- the page

#: Any admin password hash: with one in secrets, a session is a viewer until it signs in.
VIEWER_SECRETS = {"auth": {"admin_password_hash": "pbkdf2_sha256$1$c2FsdA==$aGFzaA=="}}


def _open_plan_page(repo_root, secrets: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=60)
    for section, values in (secrets or {}).items():
        at.secrets[section] = values
    at.run()
    at.switch_page("app_pages/plan.py").run()
    assert not at.exception, at.exception
    return at


def test_the_page_plans_shows_the_suggestions_and_offers_the_download(tiny_install, repo_root):
    at = _open_plan_page(repo_root)
    assert at.title[0].value == "Plan experiments"
    at.number_input(key="plan_batch_size").set_value(4)
    at.button(key="plan_run").click().run()
    assert not at.exception, at.exception
    version, plan = at.session_state["plan_result"]
    assert len(plan) == 4 and version == tiny_install["card"].version
    frame = at.dataframe[0].value
    assert list(frame["recipe"]) == ["PLAN1", "PLAN2", "PLAN3", "PLAN4"] and frame["why this recipe"].str.len().min() > 20
    # What a reader needs first, in words (at 800 px only the first few columns show); the colorants next.
    colorants = list(tiny_install["model"].colorants_)
    assert list(frame.columns[:5 + len(colorants)]) == [
        "recipe", "colour", "why this recipe", "uncertainty today (ΔE00)", "name the readings", *(f"{c} (wt %)" for c in colorants)
    ]
    assert not [column for column in frame.columns if "_" in column]  # no raw names such as recipe_id
    # The reasons wrap: a fixed-width column in rows taller than 4 rem (64 px), where Streamlit wraps text.
    proto = at.dataframe[0].proto
    assert proto.row_height > 64 and json.loads(proto.columns)["why this recipe"]["width"] == 300
    assert at.subheader[0].value == "4 recipes to make next"
    assert len(at.get("download_button")) == 1
    assert any("`PLAN1H`" in markdown.value for markdown in at.markdown)
    assert len(at.get("plotly_chart")) == 1


def test_a_viewer_can_plan_too(tiny_install, repo_root):
    at = _open_plan_page(repo_root, VIEWER_SECRETS)
    assert any(caption.value.startswith("Not signed in") for caption in at.sidebar.caption)
    at.button(key="plan_run").click().run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 6


def test_the_page_warns_when_the_training_data_is_out_of_reach(isolated_install, tiny_dataset, quick_model, repo_root):
    model = clone(quick_model).fit(tiny_dataset)
    card = ModelRegistry(isolated_install.models_dir).save_model(model, metrics={}, dataset_info={"fingerprint": "0" * 64, "name": "lost"})
    ModelRegistry(isolated_install.models_dir).promote(card.version, user=LOCAL_ADMIN)
    at = _open_plan_page(repo_root)
    assert at.warning and at.warning[0].value.startswith("Cannot plan: the model's training data is in neither")
    assert not at.get("download_button") and not [button for button in at.button if button.key == "plan_run"]
