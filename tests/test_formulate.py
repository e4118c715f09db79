"""Inverse formulation: target parsing, constraints, the search, the fast forward pass it scores with, and the real-data round trip."""

from __future__ import annotations


import numpy as np
import pytest
from sklearn.base import clone

from model import FormulationModel, load_dataset
from model.core import colorimetry
from model.formulation import (
    METAMERISM_ILLUMINANTS,
    Constraints,
    SpectrumParseError,
    Target,
    formulate,
    parse_spectrum,
)
from model.models.physics import KubelkaMunkModel
from model.registry.registry import ModelRegistry

SPECTRUM = np.linspace(0.05, 0.9, 31)


@pytest.fixture(scope="module")
def tiny_model(tiny_dataset, quick_model):
    return clone(quick_model).fit(tiny_dataset)


@pytest.fixture(scope="module")
def demo_champion(repo_root):
    model, _ = ModelRegistry(repo_root / "trained_models").load_champion()  # read only
    return model


# ---- pasted spectra ----------------------------------------------------------------------


def test_parse_31_numbers_in_any_separator():
    for separator in (", ", ";", "\t", "\n", " "):
        values, notes = parse_spectrum(separator.join(f"{v:.6f}" for v in SPECTRUM))
        np.testing.assert_allclose(values, SPECTRUM, atol=1e-6)
        assert notes == []


def test_parse_instrument_export_row_takes_the_last_31_numbers():
    row = '1;"-";"MASTER";"-";"T22H";Scan;"-";Nix Spectro 2;D65;10;M2;9.7e+1;-2.5e+1;7.1e+1;241;255;101;#f1ff65;' + ";".join(
        f"{v:.8e}" for v in SPECTRUM
    )
    values, notes = parse_spectrum(row)
    np.testing.assert_allclose(values, SPECTRUM, rtol=1e-7)
    assert "last 31" in notes[0]


def test_parse_header_and_row_with_decimal_commas_and_percent():
    header = "Name;L;" + ";".join(f"R{w} nm" for w in range(400, 701, 10))
    row = "X;50,1;" + ";".join(f"{100 * v:.3f}".replace(".", ",") for v in SPECTRUM)
    values, notes = parse_spectrum(header + "\n" + row)
    np.testing.assert_allclose(values, SPECTRUM, atol=1e-5)
    assert any("percent" in note for note in notes)


def test_parse_wavelength_value_pairs():
    text = "\n".join(f"{w} {v}" for w, v in zip(range(400, 701, 10), SPECTRUM))
    np.testing.assert_allclose(parse_spectrum(text)[0], SPECTRUM)


@pytest.mark.parametrize("text, expected", [("", "Nothing was pasted"), ("0.1, 0.2, 0.3", "Found 3 numbers"), ("-0.1 " * 31, "not negative")])
def test_parse_errors_say_what_was_expected(text, expected):
    with pytest.raises(SpectrumParseError, match=expected):
        parse_spectrum(text)


def test_targets_from_hex_and_Lab_agree():
    from_hex = Target.from_hex("#2e8b57")
    from_Lab = Target.from_Lab(*from_hex.Lab)
    assert from_hex.hex == "#2e8b57" == from_Lab.hex
    assert not from_hex.is_spectral
    with pytest.raises(ValueError, match="six hex digits"):
        Target.from_hex("green")


def test_target_from_sample_unknown_id(tiny_dataset):
    target = Target.from_sample(tiny_dataset, tiny_dataset.sample_ids[0])
    np.testing.assert_allclose(target.Lab, colorimetry.reflectance_to_Lab(tiny_dataset.reflectance[0]))
    with pytest.raises(ValueError, match="pick one of its sample ids"):
        Target.from_sample(tiny_dataset, "no such sample")


# ---- constraints ------------------------------------------------------------------------


def test_constraint_errors_name_the_problem(tiny_model):
    name = tiny_model.colorants_[0]
    with pytest.raises(ValueError, match="not one this model knows"):
        Constraints(colorants=["Unobtainium"]).resolve(tiny_model)
    with pytest.raises(ValueError, match="below its minimum"):
        Constraints(minimum={name: 5}, maximum={name: 1}).resolve(tiny_model)
    with pytest.raises(ValueError, match="minimums add up"):
        Constraints(minimum={name: 5}, max_total=2).resolve(tiny_model)


def test_search_respects_the_constraints(tiny_model, tiny_dataset):
    first, second, third = tiny_model.colorants_
    constraints = Constraints(colorants=[first, third], maximum={first: 10.0}, max_total=12.0, thicknesses_um=[12.0])
    result = formulate(tiny_model, Target.from_sample(tiny_dataset, tiny_dataset.sample_ids[5]), constraints)
    assert 1 <= len(result.candidates) <= 3
    for candidate in result.candidates:
        assert candidate.recipe[second] == 0.0
        assert 0.0 <= candidate.recipe[first] <= 10.0 + 1e-9
        assert sum(candidate.recipe[c] for c in tiny_model.colorants_) <= 12.0 + 1e-6
        assert candidate.recipe["thickness_um"] == 12.0
    # Distinct: no two candidates are the same recipe.
    recipes = [tuple(round(v, 3) for v in c.recipe.values()) for c in result.candidates]
    assert len(set(recipes)) == len(recipes)


def test_spectral_target_reports_rms_and_metamerism_colour_target_does_not(tiny_model, tiny_dataset):
    spectral = formulate(tiny_model, Target.from_sample(tiny_dataset, tiny_dataset.sample_ids[3]), n_candidates=1)
    assert spectral.best.spectral_rms is not None and set(spectral.best.metamerism) == set(METAMERISM_ILLUMINANTS)
    colour = formulate(tiny_model, Target.from_Lab(*spectral.best.Lab), n_candidates=1)
    assert colour.best.spectral_rms is None and colour.best.metamerism is None
    assert colour.best.delta_e00 < 0.5  # a colour the model itself predicted is reachable
    assert set(colour.to_frame().columns) >= {"rank", "delta_e00", "hex", "out_of_range", "thickness_um"}


def test_any_colour_model_can_be_formulated_for(tiny_dataset):
    """The search reads only the model contract, so the Kubelka–Munk baseline works as well as the MLP."""
    physics = KubelkaMunkModel().fit(tiny_dataset)
    own_colour = physics.predict(tiny_dataset.recipes.iloc[[3]]).Lab[0]
    # Every training recipe holds some of each colorant: kept at or above the trained minimum, the recipe
    # found stays in the trained range, where a match counts as reached.
    inside = Constraints(minimum={c: physics.training_range_.minimum[c] for c in physics.colorants_})
    result = formulate(physics, Target.from_Lab(*own_colour), inside, n_candidates=1)
    assert result.reachable and result.best.delta_e00 < 0.5 and not result.best.out_of_range


def test_predict_arrays_agrees_with_predict(tiny_model, tiny_dataset):
    """The optimiser scores through ``predict_arrays``; it must give what ``predict`` reports."""
    reflectance, Lab = tiny_model.predict_arrays(tiny_dataset.recipes.to_numpy())
    prediction = tiny_model.predict(tiny_dataset.recipes)
    np.testing.assert_allclose(reflectance, prediction.reflectance, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Lab, prediction.Lab, rtol=1e-10, atol=1e-9)


def _strictly_inside(dataset, model) -> np.ndarray:
    """Rows whose recipe is below every colorant's trained maximum (a corner of the range
    can lie beyond what the model reproduces, so its colour may not be reachable)."""
    upper = np.array([model.training_range_.maximum[c] for c in dataset.colorants])
    return np.all(dataset.recipes[list(dataset.colorants)].to_numpy() < upper, axis=1)


def test_round_trip_on_demo_data(demo_champion, repo_root):
    """Targets = measured demo spectra (every 48th inside the range): the found recipe reproduces the target.

    The demo has five colorants, so this runs without the real data too. The issue's
    ≤ 0.5 ΔE00 criterion is checked on the real data below; on the synthetic demo the
    spectral objective can trade a little ΔE00 for spectral fit, so the bar here is
    "below what an observer can see" (1.0).
    """
    dataset, _ = load_dataset(repo_root / "data" / "demo")
    targets = dataset.sample_ids[_strictly_inside(dataset, demo_champion)][::48]
    assert len(targets) >= 2
    for sample_id in targets:
        result = formulate(demo_champion, Target.from_sample(dataset, sample_id), n_candidates=1)
        assert result.reachable
        assert result.best.delta_e00 <= 1.0, (sample_id, result.best.recipe, result.best.delta_e00)


def test_unreachable_saturated_red_is_explained_not_raised(demo_champion):
    result = formulate(demo_champion, Target.from_hex("#e01010"))
    assert not result.reachable
    assert result.best.delta_e00 > 5
    assert "Not reachable" in result.explanation
    assert any("chroma" in reason for reason in result.shortfalls)


def test_a_match_only_outside_the_trained_range_is_not_called_reached(demo_champion):
    # Seen in review: PhthaloGreen allowed to 30 wt % (trained to about 2) gave a green "Reached: 0.27 ΔE00"
    # while every recipe held 19-26 wt % of it.
    result = formulate(demo_champion, Target.from_hex("#3c8c5a"), Constraints(maximum={"PhthaloGreen": 30.0}), seed=0)
    assert all(candidate.out_of_range for candidate in result.candidates), [c.recipe for c in result.candidates]
    assert min(candidate.delta_e00 for candidate in result.candidates) <= 1.0  # a close prediction, which the model cannot stand behind
    assert not result.reachable
    assert result.explanation.startswith("Not a reliable match: the closest recipe is predicted")
    assert "PhthaloGreen" in result.explanation and "Keep the colorants within their trained range" in result.explanation


def test_a_bad_thickness_is_named_in_plain_numbers(tiny_model):
    with pytest.raises(ValueError, match=r"^Allowed thicknesses \(-5, 0 µm\): give one or more positive film thicknesses in µm\.$"):
        Constraints(thicknesses_um=[0.0, -5.0]).resolve(tiny_model)


def test_round_trip_on_real_data(real_data_dir):
    """A model (default config) trained on the real data; targets = every 12th measured spectrum whose recipe
    is strictly inside the training range (edge-of-range recipes are covered by bench/formulate.py)."""
    dataset, _ = load_dataset(real_data_dir)
    model = FormulationModel().fit(dataset)  # the shipped default config, ~4 s
    targets = dataset.sample_ids[_strictly_inside(dataset, model)][::12]
    assert len(targets) >= 4
    errors = [formulate(model, Target.from_sample(dataset, sample_id), n_candidates=1).best.delta_e00 for sample_id in targets]
    assert max(errors) <= 0.5, dict(zip(targets, np.round(errors, 3)))
