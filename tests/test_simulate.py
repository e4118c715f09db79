"""Tests for model.simulate: the film physics, the noise model and the demo files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.core import colorimetry
from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, THICKNESS_COLUMN, WAVELENGTHS_NM
from model.simulate import (
    BACKING_REFLECTANCE,
    DEMO_COLORANTS,
    THICK_FILM_UM,
    THIN_FILM_UM,
    demo_measurement_plan,
    demo_recipes,
    measure,
    repeatability_delta_e00,
    simulate_dataset,
    simulate_reflectance,
    write_demo,
)

COLORANT_NAMES = [c.name for c in DEMO_COLORANTS]
BAND_HEADERS = [f"R{int(w)} nm" for w in WAVELENGTHS_NM]


def single(name: str, wt_percent: float) -> np.ndarray:
    """A one-row concentration matrix with one demo colorant at ``wt_percent``."""
    row = np.zeros((1, len(COLORANT_NAMES)))
    row[0, COLORANT_NAMES.index(name)] = wt_percent
    return row


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    return write_demo(folder, seed=2026)


def read_export(path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", skiprows=3)


# ------------------------------------------------------------------ physics


def test_fluorescent_yellow_reflects_more_than_it_receives_in_the_green():
    reflectance = simulate_reflectance(single("FluoYellow", 25.0), [THICK_FILM_UM])[0]
    green = (WAVELENGTHS_NM >= 500) & (WAVELENGTHS_NM <= 570)
    assert reflectance.max() > 1.1
    assert reflectance.max() < 1.35  # capped: a plausible daylight-fluorescent pigment
    assert np.all(reflectance[~green] < 1.0)
    assert green[np.argmax(reflectance)]


def test_fluorescence_grows_with_loading_and_stops_without_the_pigment():
    peaks = [simulate_reflectance(single("FluoYellow", c), [THIN_FILM_UM]).max() for c in (5, 15, 25)]
    assert peaks[0] < peaks[1] < peaks[2]
    # Saturation: the second 10 % adds less than the first.
    assert peaks[2] - peaks[1] < peaks[1] - peaks[0]
    no_fluorescent = simulate_reflectance(single("BiVaYellow", 20.0), [THICK_FILM_UM])
    assert no_fluorescent.max() <= 1.0


def test_mixing_in_a_green_absorber_quenches_the_emission():
    alone = simulate_reflectance(single("FluoYellow", 20.0), [THIN_FILM_UM]).max()
    mixed = single("FluoYellow", 20.0) + single("QuinMagenta", 2.0)
    assert simulate_reflectance(mixed, [THIN_FILM_UM]).max() < alone - 0.05


@pytest.mark.parametrize(
    ("name", "wt_percent", "absorbing_nm"),
    [("PhthaloGreen", 2.0, (620, 690)), ("QuinMagenta", 5.0, (520, 580)), ("BiVaYellow", 5.0, (400, 480))],
)
def test_thicker_film_of_an_absorbing_pigment_is_darker(name, wt_percent, absorbing_nm):
    reflectance = simulate_reflectance(np.vstack([single(name, wt_percent)] * 2), [THIN_FILM_UM, THICK_FILM_UM])
    band = (WAVELENGTHS_NM >= absorbing_nm[0]) & (WAVELENGTHS_NM <= absorbing_nm[1])
    assert np.all(reflectance[1, band] < reflectance[0, band] - 0.01)
    L_thin, L_thick = colorimetry.reflectance_to_Lab(reflectance)[:, 0]
    assert L_thick < L_thin - 0.3


def test_a_clear_film_shows_the_backing():
    reflectance = simulate_reflectance(np.zeros((1, len(COLORANT_NAMES))), [THIN_FILM_UM])[0]
    # The binder is nearly clear: it takes a little, most in the violet.
    assert np.all(reflectance < BACKING_REFLECTANCE)
    np.testing.assert_allclose(reflectance, BACKING_REFLECTANCE, atol=0.05)
    np.testing.assert_allclose(reflectance[WAVELENGTHS_NM >= 450], BACKING_REFLECTANCE[WAVELENGTHS_NM >= 450], atol=0.025)


def test_saunderson_correction_lowers_reflectance_and_keeps_its_order():
    concentrations = np.vstack([single("PhthaloGreen", c) for c in (0.5, 1.0, 2.0)])
    plain = simulate_reflectance(concentrations, [8.0] * 3)
    corrected = simulate_reflectance(concentrations, [8.0] * 3, saunderson=(0.04, 0.6))
    assert np.all(corrected < plain)
    # More green pigment still means less red light after the correction (620 nm).
    assert np.all(np.diff(corrected[:, 22]) < 0)


def test_simulate_reflectance_names_the_mismatch():
    with pytest.raises(ValueError, match="one per colorant"):
        simulate_reflectance(np.zeros((2, 3)), [8.0, 8.0])
    with pytest.raises(ValueError, match="one per recipe"):
        simulate_reflectance(np.zeros((2, len(COLORANT_NAMES))), [8.0])


# ------------------------------------------------------------------ noise


def test_noise_repeatability_is_about_half_a_delta_e00():
    plan = demo_measurement_plan()
    truth = simulate_reflectance(plan[COLORANT_NAMES].to_numpy(), plan[THICKNESS_COLUMN].to_numpy())
    delta_e00 = repeatability_delta_e00(np.repeat(truth, 20, axis=0), np.random.default_rng(11))
    assert 0.3 < delta_e00.mean() < 0.8
    assert 0.4 < delta_e00.mean() < 0.6  # calibrated to 0.50


def test_measure_is_reproducible_and_unbiased():
    truth = simulate_reflectance(single("BiVaYellow", 5.0), [8.0]).repeat(2000, axis=0)
    first = measure(truth, np.random.default_rng(3))
    np.testing.assert_array_equal(first, measure(truth, np.random.default_rng(3)))
    assert not np.array_equal(first, measure(truth, np.random.default_rng(4)))
    np.testing.assert_allclose(first.mean(axis=0), truth[0], atol=0.003)


# ------------------------------------------------------------------ design


def test_design_has_at_least_40_recipes_each_at_8_and_12_um():
    recipes = demo_recipes()
    plan = demo_measurement_plan()
    assert len(recipes) >= 40
    assert recipes[RECIPE_ID_COLUMN].is_unique
    thicknesses = plan.groupby(RECIPE_ID_COLUMN)[THICKNESS_COLUMN].agg(set)
    assert len(thicknesses) == len(recipes)
    assert all(seen == {THIN_FILM_UM, THICK_FILM_UM} for seen in thicknesses)
    # a few recipes read twice at the same thickness, like the real OPTI15
    repeats = plan.groupby([RECIPE_ID_COLUMN, THICKNESS_COLUMN]).size()
    assert 1 <= (repeats == 2).sum() <= 5


def test_design_covers_ladders_and_mixtures_within_the_real_ranges():
    recipes = demo_recipes()
    n_colorants = (recipes[COLORANT_NAMES] > 0).sum(axis=1)
    assert (n_colorants == 1).sum() == 25  # 5 ladders of 5 levels
    assert (n_colorants == 2).sum() >= 8
    assert (n_colorants == 3).sum() >= 4
    assert (n_colorants >= 4).sum() >= 2
    maximum = recipes[COLORANT_NAMES].max()
    assert maximum["FluoYellow"] <= 25 and maximum["PhthaloGreen"] <= 2.5
    assert (maximum <= 25).all()


def test_simulate_dataset_is_noiseless_without_rng():
    plan = demo_measurement_plan().head(6)
    dataset = simulate_dataset(plan)
    expected = simulate_reflectance(plan[COLORANT_NAMES].to_numpy(), plan[THICKNESS_COLUMN].to_numpy())
    np.testing.assert_array_equal(dataset.reflectance, expected)
    assert dataset.colorants == tuple(COLORANT_NAMES)
    noisy = simulate_dataset(plan, rng=np.random.default_rng(0))
    assert not np.array_equal(noisy.reflectance, expected)


# ------------------------------------------------------------------ files


def test_write_demo_is_byte_reproducible(tmp_path):
    first = write_demo(tmp_path / "one", seed=2026)
    second = write_demo(tmp_path / "two", seed=2026)
    for key in ("spectra", "concentrations", "fluorescence"):
        assert first[key].read_bytes() == second[key].read_bytes()
    other_seed = write_demo(tmp_path / "three", seed=7)
    assert other_seed["spectra"].read_bytes() != first["spectra"].read_bytes()
    assert other_seed["fluorescence"].read_bytes() != first["fluorescence"].read_bytes()


def test_committed_demo_is_what_the_simulator_writes(repo_root, demo_files):
    """data/demo must be regenerated whenever the simulator changes."""
    for key, name in (("spectra", "Spectra.csv"), ("concentrations", "Concentrations.csv"), ("fluorescence", "Fluorescence.csv")):
        committed = repo_root / "data" / "demo" / name
        assert committed.read_bytes() == demo_files[key].read_bytes(), (
            f"{committed} is stale; run: python -m model.simulate --out data/demo --seed 2026"
        )


def test_export_has_the_instrument_layout(demo_files):
    lines = demo_files["spectra"].read_text(encoding="utf-8").splitlines()
    assert lines[0] == "sep=;"
    assert lines[1].startswith("Export Date/Time;")
    assert lines[3].startswith("Index;Original Library Name;Saved Collection Name;Original Color Name;User Color Name;")
    header = lines[3].split(";")
    assert header[15:21] == ["L", "a", "b", "L", "c", "h"]
    assert [h for h in header if h.startswith("R") and h.endswith(" nm")] == BAND_HEADERS
    assert all(len(line.split(";")) == len(header) for line in lines[4:])


def test_export_colour_columns_agree_with_the_spectrum(demo_files):
    export = read_export(demo_files["spectra"])
    reflectance = export[BAND_HEADERS].to_numpy(dtype=float)
    assert reflectance.shape == (len(demo_measurement_plan()), 31)
    Lab = colorimetry.reflectance_to_Lab(reflectance)
    np.testing.assert_allclose(export[["L", "a", "b"]].to_numpy(), Lab, atol=1e-6)
    # XYZ is stated on a 0–1 scale in the export, as the real instrument does.
    np.testing.assert_allclose(export[["X", "Y", "Z"]].to_numpy(), colorimetry.reflectance_to_XYZ(reflectance) / 100, atol=1e-8)
    assert export["Nix Device"].eq("Simulated Spectro").all()
    assert (reflectance.max(axis=1) > 1.0).any()


def test_recipe_table_uses_percent_strings_and_thickness_lives_in_the_names(demo_files):
    table = pd.read_csv(demo_files["concentrations"], dtype=str)
    assert list(table.columns) == ["Sample ID", *(f"{name} (%)" for name in COLORANT_NAMES)]
    assert table.iloc[:, 1:].stack().str.fullmatch(r"\d+(\.\d+)?%").all()
    assert "0.99625%" in set(table["PearlBlue (%)"])
    names = set(read_export(demo_files["spectra"])["User Color Name"])
    assert {"MIX9", "MIX9H", "FY25H"} <= names
    # harmless spelling differences for the matcher: underscore and space
    assert "BLUE_1" in names and "BLUE1" in set(table["Sample ID"])
    assert "MIX7" in names and "MIX 7" in set(table["Sample ID"])


def test_demo_loads_through_ingest(demo_files):
    ingest = pytest.importorskip("model.io")
    dataset, report = ingest.load_dataset(demo_files["spectra"].parent)
    plan = demo_measurement_plan()
    assert len(dataset) == len(plan)
    assert dataset.n_recipes == len(demo_recipes())
    assert dataset.colorants == tuple(COLORANT_NAMES)
    assert sorted(dataset.table[THICKNESS_COLUMN].unique()) == [THIN_FILM_UM, THICK_FILM_UM]
    assert dataset.table[BAND_COLUMNS].notna().all().all()
    frame = report.to_frame()
    assert (frame["status"] == "matched").all()
    blue_1 = dataset.table[dataset.table["sample_id"] == "BLUE_1"]
    assert blue_1["PearlBlue"].tolist() == [0.99625]
    assert blue_1[THICKNESS_COLUMN].tolist() == [THIN_FILM_UM]


def test_the_simulator_uses_the_fitted_models_fluorescence_physics():
    """Issue 12: the demo's films are made with the emission term the physics model fits."""
    from model.models.fluorescent_km import excitation_bands, fluorescence_emission
    from model.simulate import Colorant
    from model.simulate.film import BINDER_ABSORPTION

    fluorescent = DEMO_COLORANTS[0]
    concentrations = single("FluoYellow", 20.0) + single("PhthaloGreen", 0.5)
    thickness = np.array([THIN_FILM_UM])
    with_emission = simulate_reflectance(concentrations, thickness)
    quenched = Colorant(fluorescent.name, fluorescent.absorption, fluorescent.scattering)  # no emission
    without = simulate_reflectance(concentrations, thickness, colorants=(quenched, *DEMO_COLORANTS[1:]))
    absorption = concentrations @ np.array([c.absorption for c in DEMO_COLORANTS]) + BINDER_ABSORPTION
    expected = fluorescence_emission(
        concentrations[:, 0], fluorescent.absorption, absorption, thickness,
        fluorescent.fluorescence_yield * fluorescent.emission, excitation_bands(fluorescent.excitation_max_nm),
    )
    np.testing.assert_allclose(with_emission - without, expected, rtol=1e-12, atol=1e-15)
    assert expected.max() > 0.2
