import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from model import FormulationModel, ModelConfig
from model.core import colorimetry
from model.core.schema import THICKNESS_COLUMN


def test_predict_carries_both_paths_and_derived_lch(tiny_dataset, tiny_config):
    model = FormulationModel(tiny_config).fit(tiny_dataset)
    prediction = model.predict(tiny_dataset.recipes.head(5))
    assert prediction.reflectance.shape == (5, 31)
    assert prediction.Lab_head.shape == prediction.Lab_spectral.shape == (5, 3)
    np.testing.assert_allclose(prediction.Lab_spectral, colorimetry.reflectance_to_Lab(prediction.reflectance))
    np.testing.assert_allclose(prediction.delta_e00_paths, colorimetry.delta_E00(prediction.Lab_spectral, prediction.Lab_head))
    # C* and h° come from a*, b*, never from a regression.
    np.testing.assert_allclose(prediction.LCh[:, 1], np.hypot(prediction.Lab[:, 1], prediction.Lab[:, 2]))
    assert len(prediction.hex) == 5 and all(code.startswith("#") for code in prediction.hex)
    assert not prediction.out_of_range.any()


def test_headline_switches_the_reported_path(tiny_dataset, tiny_config):
    spectral = FormulationModel(tiny_config.replace(headline="spectral")).fit(tiny_dataset).predict(tiny_dataset.recipes.head(3))
    head = FormulationModel(tiny_config.replace(headline="head")).fit(tiny_dataset).predict(tiny_dataset.recipes.head(3))
    np.testing.assert_allclose(spectral.Lab, spectral.Lab_spectral)
    np.testing.assert_allclose(head.Lab, head.Lab_head)


def test_same_seed_same_predictions_and_other_seed_differs(tiny_dataset, tiny_config):
    recipes = tiny_dataset.recipes.head(4)
    first = FormulationModel(tiny_config).fit(tiny_dataset).predict(recipes)
    again = FormulationModel(tiny_config).fit(tiny_dataset).predict(recipes)
    other = FormulationModel(tiny_config.replace(random_state=7)).fit(tiny_dataset).predict(recipes)
    np.testing.assert_array_equal(first.reflectance, again.reflectance)
    assert not np.allclose(first.reflectance, other.reflectance)


def test_out_of_range_recipe_is_flagged_with_the_reason(tiny_dataset, tiny_config):
    model = FormulationModel(tiny_config).fit(tiny_dataset)
    recipe = tiny_dataset.recipes.head(1).copy()
    colorant = tiny_dataset.colorants[0]
    recipe[colorant] = model.training_range_.maximum[colorant] * 2 + 1
    prediction = model.predict(recipe)
    assert prediction.out_of_range[0]
    assert colorant in prediction.out_of_range_detail[0] and "outside trained" in prediction.out_of_range_detail[0]


def test_missing_input_column_says_what_the_model_takes(tiny_dataset, tiny_config):
    model = FormulationModel(tiny_config).fit(tiny_dataset)
    with pytest.raises(ValueError, match=THICKNESS_COLUMN):
        model.predict(tiny_dataset.recipes.drop(columns=[THICKNESS_COLUMN]))


def test_unfitted_model_refuses_to_predict(tiny_dataset):
    with pytest.raises(NotFittedError):
        FormulationModel().predict(tiny_dataset.recipes)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"activation": "softsign"}, "activation"),
        ({"solver": "rmsprop"}, "solver"),
        ({"spectral_target": "absorbance"}, "spectral_target"),
        ({"n_ensemble": 0}, "n_ensemble"),
        ({"hidden_layer_sizes": ()}, "hidden_layer_sizes"),
    ],
)
def test_invalid_config_names_the_parameter(change, message, tiny_dataset):
    config = ModelConfig().replace(**change)
    with pytest.raises(ValueError, match=message):
        FormulationModel(config).fit(tiny_dataset)


def test_config_round_trips_through_dict():
    config = ModelConfig(hidden_layer_sizes=(64, 128, 64), solver="adam", n_ensemble=2)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown ModelConfig fields"):
        ModelConfig.from_dict({"hidden_layers": [3]})


@pytest.mark.parametrize("target", ["reflectance", "log", "ks"])
@pytest.mark.parametrize("features", ["raw", "sqrt", "amount", "mixed"])
def test_every_transform_fits_and_predicts_finite_spectra(target, features, tiny_dataset, tiny_config):
    model = FormulationModel(tiny_config.replace(spectral_target=target, input_transform=features)).fit(tiny_dataset)
    reflectance = model.predict(tiny_dataset.recipes).reflectance
    assert np.isfinite(reflectance).all()
    # The fit must have learnt something: in-sample error well under the spread of the data.
    assert np.abs(reflectance - tiny_dataset.reflectance).mean() < 0.5 * tiny_dataset.reflectance.std()


def test_any_number_of_colorants(tiny_dataset, tiny_config):
    two = tiny_dataset.table.drop(columns=[tiny_dataset.colorants[-1]])
    from model import Dataset

    dataset = Dataset(two, tiny_dataset.colorants[:-1])
    model = FormulationModel(tiny_config).fit(dataset)
    assert model.input_columns == [*dataset.colorants, THICKNESS_COLUMN]
    assert model.predict(dataset.recipes).reflectance.shape == (len(dataset), 31)


def test_every_listed_input_transform_and_target_is_accepted():
    from model.models.mlp import INPUT_TRANSFORMS, SPECTRAL_TARGETS

    # The search samples from these tuples, so each value must validate.
    for features in INPUT_TRANSFORMS:
        for target in SPECTRAL_TARGETS:
            ModelConfig(input_transform=features, spectral_target=target).validate()


def test_mixed_inputs_give_members_different_feature_maps(tiny_dataset, tiny_config):
    from model.models.mlp import MIXED_INPUT_CYCLE, member_input_transform

    config = tiny_config.replace(input_transform="mixed", n_ensemble=4)
    assert [member_input_transform(config, k) for k in range(4)] == [*MIXED_INPUT_CYCLE, MIXED_INPUT_CYCLE[0]]
    assert member_input_transform(tiny_config.replace(input_transform="sqrt"), 2) == "sqrt"
    model = FormulationModel(config).fit(tiny_dataset)
    features = [head.regressor_[0].func.__name__ for head in model.spectral_heads_]
    assert features == ["_features_raw", "_features_sqrt", "_features_amount", "_features_raw"]


def test_ensemble_prediction_states_an_uncertainty_and_a_single_network_does_not(tiny_dataset, tiny_config):
    recipes = tiny_dataset.recipes.head(6)
    ensemble = FormulationModel(tiny_config.replace(n_ensemble=3, input_transform="mixed")).fit(tiny_dataset).predict(recipes)
    assert ensemble.uncertainty.shape == (6,)
    assert np.all(np.isfinite(ensemble.uncertainty)) and np.all(ensemble.uncertainty > 0)
    assert "uncertainty_delta_e00" in ensemble.to_frame().columns
    single = FormulationModel(tiny_config).fit(tiny_dataset).predict(recipes)
    assert np.isnan(single.uncertainty).all()


def test_uncertainty_follows_the_headline_path(tiny_dataset, tiny_config):
    from model.models.uncertainty import ensemble_uncertainty

    config = tiny_config.replace(n_ensemble=3, input_transform="mixed", headline="head")
    model = FormulationModel(config).fit(tiny_dataset)
    recipes = tiny_dataset.recipes.head(4)
    members = model.predict_members(recipes)
    np.testing.assert_allclose(model.predict(recipes).uncertainty, ensemble_uncertainty(*members, "head"))
    assert not np.allclose(ensemble_uncertainty(*members, "head"), ensemble_uncertainty(*members, "spectral"))


def test_default_config_fits_in_seconds_on_a_lab_sized_dataset(tiny_dataset):
    import time

    started = time.perf_counter()
    FormulationModel(ModelConfig()).fit(tiny_dataset)
    # The dashboard retrains the default 16 times (CV + final fit); generous for a shared CI box.
    assert time.perf_counter() - started < 30
