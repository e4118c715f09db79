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


# ---- the calibrated band (issue 24) ------------------------------------------------------

from model.models.difficulty import (  # noqa: E402
    FEATURES,
    DifficultyBand,
    DifficultyReference,
    conformal_quantile,
    difficulty_features,
    fit_difficulty_band,
)
from model.models.uncertainty import calibrated_bands  # noqa: E402


def _simulated_films(rng, n_recipes):
    """Recipes (3 colorants, 8 or 12 µm, each measured twice) whose true prediction error is known:
    a normal CIELAB error whose spread grows with the first colorant, so the difficulty can learn it."""
    recipes = rng.uniform(0, 1, size=(n_recipes, 3)) * [20.0, 2.0, 6.0]
    thickness = rng.choice([8.0, 12.0], size=(n_recipes, 1))
    X = np.repeat(np.column_stack([recipes, thickness]), 2, axis=0)
    measured = np.column_stack([80 - 2 * X[:, 0], 3 * X[:, 1] - 10, 40 - X[:, 2]])
    sigma = 0.2 + 0.08 * X[:, 0]  # CIELAB units per component
    predicted = measured + sigma[:, None] * rng.standard_normal(measured.shape)
    return X, predicted, measured, np.repeat(np.arange(n_recipes), 2)


def _band_from(X, predicted, measured, recipe_of, n_folds=3):
    folds = []
    for number in range(n_folds):
        held = np.flatnonzero(recipe_of % n_folds == number)
        folds.append((np.setdiff1d(np.arange(len(X)), held), held))
    bands = calibrated_bands(X, folds, np.arange(len(X)), {"head": predicted}, predicted, measured)
    return bands["head"]


def test_calibrated_band_holds_its_stated_coverage_on_simulated_films():
    # The truth is known: fresh films from the same process must fall inside the 90 % band
    # 90 % of the time (± 3 points), averaged over many calibrations of 60 recipes each.
    rng = np.random.default_rng(0)
    inside, bands, errors = [], [], []
    for _ in range(20):
        band = _band_from(*_simulated_films(rng, 60))
        X, predicted, measured, _ = _simulated_films(rng, 200)
        stated, _ = band.band_of(X, predicted, predicted)
        error = colorimetry.delta_E00(predicted, measured)
        inside.append(error <= stated)
        bands.append(stated)
        errors.append(error)
    coverage = np.mean(np.concatenate(inside))
    assert abs(coverage - 0.9) <= 0.03, coverage
    # ... and it ranks the errors: larger bands go with larger errors.
    assert calibration_table(np.concatenate(errors), np.concatenate(bands)).attrs["spearman"] > 0.3


def test_an_uncalibrated_constant_band_would_fail_the_coverage_check_per_difficulty():
    # Guard that the simulation is informative: the hard half (much of colorant 1) is missed far
    # more often by a single constant band than by the calibrated one.
    rng = np.random.default_rng(1)
    band = _band_from(*_simulated_films(rng, 60))
    X, predicted, measured, _ = _simulated_films(rng, 400)
    error = colorimetry.delta_E00(predicted, measured)
    stated, _ = band.band_of(X, predicted, predicted)
    constant = np.quantile(error, 0.9)
    hard = X[:, 0] > 15
    assert np.mean(error[hard] <= constant) < 0.8 <= np.mean(error[hard] <= stated[hard]) + 0.05


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1.0, 20.0)  # 19 scores: ⌈20 × 0.9⌉ = 18th smallest
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(scores[:5], 0.9) == np.inf  # too few to promise 90 %


def test_the_difficulty_rises_for_a_recipe_moved_beyond_the_trained_range():
    rng = np.random.default_rng(2)
    X, predicted, measured, recipe_of = _simulated_films(rng, 40)
    band = _band_from(X, predicted, measured, recipe_of)
    inside = np.array([[10.0, 1.0, 3.0, 8.0]])
    Lab = np.array([[60.0, -7.0, 37.0]])
    sigma_inside = band.band_of(inside, Lab, Lab)[1][0]
    for moved in ([40.0, 1.0, 3.0, 8.0], [10.0, 4.0, 3.0, 8.0], [10.0, 1.0, 3.0, 20.0]):
        features_moved = difficulty_features(band.reference, np.array([moved]), Lab, Lab)[0]
        features_inside = difficulty_features(band.reference, inside, Lab, Lab)[0]
        for name in ("nearest_distance", "beyond_range"):
            assert features_moved[FEATURES.index(name)] > features_inside[FEATURES.index(name)]
        assert band.band_of(np.array([moved]), Lab, Lab)[1][0] > sigma_inside


def test_extrapolation_signals_never_get_a_negative_weight():
    # Even when the data says otherwise by chance, being farther out may not make a recipe easier.
    rng = np.random.default_rng(3)
    features = rng.uniform(0, 1, size=(60, len(FEATURES)))
    errors = np.exp(-2.0 * features[:, FEATURES.index("nearest_distance")] + 0.1 * rng.standard_normal(60))
    band = fit_difficulty_band(DifficultyReference.from_inputs(rng.uniform(0, 1, (5, 4))), features, errors, np.arange(60) % 3)
    assert band.weights[FEATURES.index("nearest_distance")] == 0.0


def test_band_round_trips_as_plain_arrays():
    rng = np.random.default_rng(4)
    band = _band_from(*_simulated_films(rng, 30))
    again = DifficultyBand.from_arrays({name: np.asarray(value) for name, value in band.to_arrays().items()})
    X, predicted, _, _ = _simulated_films(rng, 5)
    np.testing.assert_allclose(again.band_of(X, predicted, predicted)[0], band.band_of(X, predicted, predicted)[0], rtol=1e-12)
    assert all(np.asarray(value).dtype != object for value in band.to_arrays().values())


def _quick_hybrid():
    from model.models import HybridModel

    return HybridModel(hidden_layer_sizes=(8,), max_iter=200, n_ensemble=2, inner_folds=2, blend_step=0.25)


@pytest.fixture(scope="module")
def fitted_hybrid(tiny_dataset):
    return _quick_hybrid().fit(tiny_dataset)


def test_hybrid_states_the_calibrated_band_and_its_snapshot_carries_it(fitted_hybrid, tiny_dataset, tmp_path):
    from model.models import snapshot

    prediction = fitted_hybrid.predict(tiny_dataset.recipes)
    assert prediction.uncertainty_coverage == 0.9 and prediction.uncertainty_is_calibrated
    assert np.all(prediction.uncertainty > 0) and np.all(np.isfinite(prediction.difficulty))
    np.testing.assert_allclose(prediction.uncertainty, fitted_hybrid.bands_["head"].quantile() * prediction.difficulty)
    assert (prediction.to_frame()["uncertainty_coverage"] == 0.9).all()
    path = tmp_path / "serving.npz"
    snapshot.save(fitted_hybrid.serving_, path)
    served = snapshot.load(path).predict(tiny_dataset.recipes)
    np.testing.assert_allclose(served.uncertainty, prediction.uncertainty, rtol=1e-9)
    assert served.uncertainty_coverage == 0.9


def test_difficulty_features_are_the_same_row_by_row_and_in_bounded_blocks(monkeypatch):
    """A large batch is taken a block at a time (the rows × trained recipes × inputs differences once
    needed 23.5 GB for 100,000 recipes against 3,200 films): each row's features come from that row alone."""
    import model.models.difficulty as difficulty

    rng = np.random.default_rng(5)
    trained = np.column_stack([rng.uniform(0, 20, (60, 3)), rng.choice([8.0, 12.0], (60, 1))])
    reference = DifficultyReference.from_inputs(trained, errors=rng.uniform(0.2, 2.0, 60))
    X = np.column_stack([rng.uniform(0, 25, (37, 3)), rng.uniform(6.0, 14.0, (37, 1))])
    Lab = np.column_stack([rng.uniform(20, 90, 37), rng.uniform(-30, 30, (37, 2))])
    whole = difficulty_features(reference, X, Lab, Lab)
    one_by_one = np.vstack([difficulty_features(reference, X[i:i + 1], Lab[i:i + 1], Lab[i:i + 1]) for i in range(len(X))])
    monkeypatch.setattr(difficulty, "_BLOCK_ELEMENTS", len(reference.recipes) * 4)  # blocks of 4 rows
    blocked = difficulty_features(reference, X, Lab, Lab)
    np.testing.assert_array_equal(blocked, whole)
    np.testing.assert_array_equal(one_by_one, whole)
    # The shortlist by matrix product finds what a search of every trained recipe finds.
    scaled = ((X[:, None, :] - reference.recipes[None, :, :]) / reference.span) ** 2
    np.testing.assert_allclose(whole[:, FEATURES.index("nearest_distance")], np.sqrt(scaled.sum(axis=2)).min(axis=1), rtol=1e-12)
    logged = difficulty._log_inputs(X, reference)[:, None, :] - difficulty._log_inputs(reference.recipes, reference)[None, :, :]
    neighbours = np.argsort((logged ** 2).sum(axis=2), axis=1, kind="stable")[:, :difficulty._NEIGHBOURS]
    np.testing.assert_allclose(whole[:, FEATURES.index("local_error")], reference.errors[neighbours].mean(axis=1), rtol=1e-12)


@pytest.mark.parametrize("k", [1, 2])
def test_the_nearest_search_finds_what_sorting_every_distance_finds_ties_included(k):
    """Exact ties (a duplicated trained recipe, a recipe on a grid, a recipe that is a trained one) go to
    the lower index, as a stable sort of every exact distance orders them."""
    import model.models.difficulty as difficulty

    rng = np.random.default_rng(11)
    trained = rng.integers(0, 6, (80, 4)).astype(float)  # on a grid: many equal distances
    trained[7] = trained[3]
    # Recipes midway between two trained ones: equal distances but for rounding, which the matrix-product form can misorder.
    centres, offsets = rng.uniform(5, 50, (60, 4)), rng.uniform(-0.5, 0.5, (60, 4))
    trained = np.vstack([trained, centres + offsets, centres - offsets])
    rows = np.vstack([rng.integers(0, 6, (300, 4)).astype(float), trained[:10], centres])
    found = difficulty._exact_nearest(rows, trained, k)
    every = ((rows[:, None, :] - trained[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(found, np.argsort(every, axis=1, kind="stable")[:, :k])
    assert found[300 + 3, 0] == 3 and found[300 + 7, 0] == 3  # the duplicate's lower index


def test_a_signal_constant_in_training_does_not_overflow_the_band():
    rng = np.random.default_rng(8)
    X, predicted, measured, recipe_of = _simulated_films(rng, 30)
    X[:, 2] = 0.0  # the third colorant is never used in training
    band = _band_from(X, predicted, measured, recipe_of)
    with np.errstate(over="raise"):
        sigma = band.band_of(np.array([[10.0, 1.0, 50.0, 8.0]]), np.array([[60.0, -7.0, 37.0]]), np.array([[60.0, -7.0, 37.0]]))[1]
    assert np.isfinite(sigma).all()
    assert band.band_of(np.array([[10.0, 1.0, 50.0, 8.0]]), np.array([[60.0, -7.0, 37.0]]), np.array([[60.0, -7.0, 37.0]]))[0][0] <= 100.0


def test_both_paths_share_one_nearest_recipe_search(monkeypatch, tiny_dataset):
    # The search depends only on the trained recipes: a prediction's two CIELAB paths search once,
    # and each path's band is what it would be with a search of its own.
    from model.models import difficulty, uncertainty

    X = tiny_dataset.recipes.to_numpy()
    rng = np.random.default_rng(3)
    errors = {path: rng.uniform(0.2, 2.0, len(X)) for path in ("spectral", "head")}
    Lab = {path: rng.uniform(20, 80, (len(X), 3)) for path in errors}
    bands = {}
    for path in errors:
        reference = difficulty.DifficultyReference.from_inputs(X, (), errors[path])
        features = difficulty.difficulty_features(reference, X, Lab[path], Lab[path])
        bands[path] = difficulty.fit_difficulty_band(reference, features, errors[path], np.arange(len(X)) % 3)
    alone = {path: bands[path].band_of(X, Lab[path], Lab["spectral"])[0] for path in bands}
    calls = []
    search = difficulty.nearest_trained
    monkeypatch.setattr(uncertainty, "nearest_trained", lambda *args: calls.append(1) or search(*args))
    shared, _, _ = uncertainty.band_prediction(bands, X, Lab, Lab["spectral"], "spectral")
    assert len(calls) == 1
    for path in bands:
        np.testing.assert_array_equal(shared[path], alone[path])
