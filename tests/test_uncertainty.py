import numpy as np
import pytest
from sklearn.base import clone

from model.core import colorimetry
from model.evaluation import calibration_table, cross_validate
from model.models.uncertainty import BAND_SCALE, ensemble_uncertainty, member_spread


def test_identical_members_have_no_spread():
    Lab = np.array([[50.0, 10.0, -20.0], [80.0, -5.0, 60.0]])
    np.testing.assert_allclose(member_spread(np.stack([Lab, Lab, Lab]), Lab), 0.0, atol=1e-12)


def test_spread_is_the_rms_ciede2000_distance_of_the_members():
    centre = np.array([[50.0, 10.0, -20.0]])
    members = np.stack([centre + [1.0, 0, 0], centre - [1.0, 0, 0], centre + [0, 2.0, 0]])
    expected = np.sqrt(np.mean([float(colorimetry.delta_E00(m, centre)[0]) ** 2 for m in members]))
    np.testing.assert_allclose(member_spread(members, centre), [expected], rtol=1e-12)


def test_one_member_reports_nan_not_zero():
    # A single network has no spread; reporting 0 would claim perfect confidence.
    Lab = np.array([[50.0, 0.0, 0.0]])
    assert np.isnan(member_spread(Lab[None], Lab)).all()


def test_band_is_the_scaled_spread_of_each_path():
    rng = np.random.default_rng(0)
    reflectance = np.clip(0.5 + 0.05 * rng.standard_normal((3, 4, 31)), 0, 1)
    member_Lab = np.stack([colorimetry.reflectance_to_Lab(r) for r in reflectance]) + [0.5, 0.0, -0.5] * rng.standard_normal((3, 4, 1))
    Lab_spectral = colorimetry.reflectance_to_Lab(reflectance.mean(axis=0))
    Lab_head = member_Lab.mean(axis=0)
    bands = ensemble_uncertainty(reflectance, member_Lab, Lab_spectral, Lab_head)
    spectral_members = np.stack([colorimetry.reflectance_to_Lab(r) for r in reflectance])
    np.testing.assert_allclose(bands["spectral"], BAND_SCALE * member_spread(spectral_members, Lab_spectral))
    np.testing.assert_allclose(bands["head"], BAND_SCALE * member_spread(member_Lab, Lab_head))
    unscaled = ensemble_uncertainty(reflectance, member_Lab, Lab_spectral, Lab_head, scale=1.0)
    np.testing.assert_allclose(unscaled["head"] * BAND_SCALE, bands["head"])


def test_calibration_counts_errors_inside_k_bands():
    table = calibration_table([0.5, 1.0, 2.0, 3.0, np.nan], [1.0, 1.0, 1.0, 1.0, 1.0], multiples=(1.0, 2.0, 3.0))
    assert table["fraction_within"].tolist() == [0.5, 0.75, 1.0]
    assert (table["n"] == 4).all()  # the NaN error is left out, not counted as a miss


def test_calibration_rank_correlation_sees_an_informative_band():
    errors = np.arange(1.0, 11.0)
    assert calibration_table(errors, errors / 2).attrs["spearman"] == pytest.approx(1.0)
    assert calibration_table(errors, errors[::-1]).attrs["spearman"] == pytest.approx(-1.0)
    assert np.isnan(calibration_table(errors, np.ones_like(errors)).attrs["spearman"])


def test_cross_validated_uncertainty_is_leave_recipe_out(tiny_dataset, quick_model):
    config = clone(quick_model).set_params(n_ensemble=2, input_transform="mixed")
    per_sample = cross_validate(tiny_dataset, config, n_splits=3, seeds=(0,)).with_headline("head").per_sample
    assert len(per_sample) == len(tiny_dataset)
    assert per_sample[["uncertainty_spectral", "uncertainty_head"]].gt(0).all().all()
    assert per_sample["uncertainty"].equals(per_sample["uncertainty_head"])
    folds = per_sample.groupby("recipe_id")["fold"].nunique()
    assert (folds == 1).all()  # both thicknesses of a recipe are held out together
