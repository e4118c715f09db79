import numpy as np
import pandas as pd
import pytest

from model.core import colorimetry
from model.models.uncertainty import BAND_SCALE, calibration_table, cross_validate_uncertainty, ensemble_uncertainty, member_spread


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


def test_band_is_the_scaled_spread_of_the_chosen_path():
    rng = np.random.default_rng(0)
    reflectance = np.clip(0.5 + 0.05 * rng.standard_normal((3, 4, 31)), 0, 1)
    member_Lab = np.stack([colorimetry.reflectance_to_Lab(r) for r in reflectance])
    spread = member_spread(member_Lab, colorimetry.reflectance_to_Lab(reflectance.mean(axis=0)))
    np.testing.assert_allclose(ensemble_uncertainty(reflectance, member_Lab, "spectral"), BAND_SCALE * spread)
    np.testing.assert_allclose(
        ensemble_uncertainty(reflectance, member_Lab + [0, 0, 0], "head", scale=1.0),
        member_spread(member_Lab, member_Lab.mean(axis=0)),
    )
    with pytest.raises(ValueError, match="path"):
        ensemble_uncertainty(reflectance, member_Lab, "blend")


def test_calibration_counts_errors_inside_k_bands():
    table = calibration_table([0.5, 1.0, 2.0, 3.0, np.nan], [1.0, 1.0, 1.0, 1.0, 1.0], multiples=(1.0, 2.0, 3.0))
    assert table["fraction_within"].tolist() == [0.5, 0.75, 1.0]
    assert (table["n"] == 4).all()  # the NaN error is left out, not counted as a miss


def test_calibration_rank_correlation_sees_an_informative_band():
    errors = np.arange(1.0, 11.0)
    assert calibration_table(errors, errors / 2).attrs["spearman"] == pytest.approx(1.0)
    assert calibration_table(errors, errors[::-1]).attrs["spearman"] == pytest.approx(-1.0)
    assert np.isnan(calibration_table(errors, np.ones_like(errors)).attrs["spearman"])


def test_cross_validated_uncertainty_is_leave_recipe_out(tiny_dataset, tiny_config):
    config = tiny_config.replace(n_ensemble=2, input_transform="mixed")
    per_sample = cross_validate_uncertainty(tiny_dataset, config, n_splits=3, seeds=(0,))
    assert len(per_sample) == len(tiny_dataset)
    assert per_sample[["uncertainty_spectral", "uncertainty_head"]].gt(0).all().all()
    folds = per_sample.groupby("recipe_id")["fold"].nunique()
    assert (folds == 1).all()  # both thicknesses of a recipe are held out together
