import numpy as np
import pytest

from model.core import colorimetry
from model.core.schema import BAND_COLUMNS

# Sharma, Wu and Dalal (2005), Table 1: CIELAB pairs and their CIEDE2000.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
]


def test_delta_E00_matches_sharma_reference_pairs():
    Lab_1 = np.array([p[0] for p in SHARMA_PAIRS])
    Lab_2 = np.array([p[1] for p in SHARMA_PAIRS])
    expected = np.array([p[2] for p in SHARMA_PAIRS])
    np.testing.assert_allclose(colorimetry.delta_E00(Lab_1, Lab_2), expected, atol=1e-4)


def test_weight_matrix_maps_perfect_white_to_Y_100():
    W = colorimetry.weight_matrix()
    assert W.shape == (31, 3)
    XYZ = colorimetry.reflectance_to_XYZ(np.ones(31))
    assert XYZ[1] == pytest.approx(100.0, abs=1e-6)
    np.testing.assert_allclose(colorimetry.reflectance_to_Lab(np.ones(31)), [100.0, 0.0, 0.0], atol=1e-6)


def test_batch_is_linear_and_handles_n_dimensional_input():
    rng = np.random.default_rng(1)
    spectra = rng.uniform(0.05, 1.1, size=(4, 5, 31))
    Lab = colorimetry.reflectance_to_Lab(spectra)
    assert Lab.shape == (4, 5, 3)
    np.testing.assert_allclose(Lab[2, 3], colorimetry.reflectance_to_Lab(spectra[2, 3]))
    XYZ = colorimetry.reflectance_to_XYZ(spectra)
    np.testing.assert_allclose(colorimetry.reflectance_to_XYZ(spectra[0, 0] + spectra[1, 1]), XYZ[0, 0] + XYZ[1, 1])


def test_nan_propagates_instead_of_raising():
    spectrum = np.full(31, 0.5)
    spectrum[4] = np.nan
    assert np.isnan(colorimetry.reflectance_to_Lab(spectrum)).all()


def test_wrong_band_count_names_the_expected_grid():
    with pytest.raises(ValueError, match="31 bands"):
        colorimetry.reflectance_to_XYZ(np.ones(30))


def test_LCh_is_derived_from_a_and_b():
    LCh = colorimetry.Lab_to_LCh(np.array([[60.0, 0.0, 20.0], [60.0, -10.0, 0.0]]))
    np.testing.assert_allclose(LCh[:, 1], [20.0, 10.0])
    np.testing.assert_allclose(LCh[:, 2], [90.0, 180.0])


def test_srgb_swatch_and_gamut_flag():
    sRGB, out_of_gamut = colorimetry.Lab_to_sRGB(np.array([[50.0, 0.0, 0.0], [50.0, 120.0, -120.0]]))
    assert not out_of_gamut[0] and out_of_gamut[1]
    assert ((sRGB >= 0) & (sRGB <= 1)).all()
    assert colorimetry.sRGB_to_hex(np.array([1.0, 0.0, 0.5])) == "#ff0080"
    np.testing.assert_allclose(colorimetry.hex_to_sRGB("#ff0080"), [1.0, 0.0, 128 / 255])
    with pytest.raises(ValueError, match="six hex digits"):
        colorimetry.hex_to_sRGB("#zz0000")


def test_srgb_round_trip_through_Lab():
    Lab = np.array([55.0, 10.0, 20.0])
    sRGB, _ = colorimetry.Lab_to_sRGB(Lab)
    np.testing.assert_allclose(colorimetry.sRGB_to_Lab(sRGB), Lab, atol=0.01)  # 8-bit display precision


def test_reproduces_instrument_lab_on_real_data(real_data_dir):
    from model.io import read_instrument_export

    export = read_instrument_export(real_data_dir / "Spectra.csv")
    Lab = colorimetry.reflectance_to_Lab(export[BAND_COLUMNS].to_numpy(float))
    instrument = export[["L_instrument", "a_instrument", "b_instrument"]].to_numpy(float)
    delta = colorimetry.delta_E00(Lab, instrument)
    assert delta.mean() <= 0.01, f"mean ΔE00 to the instrument is {delta.mean():.4f}"
    assert delta.max() <= 0.02
