"""The physics' fit cache: a hit is the fresh fit, to the last bit that matters; the cache is bounded and keyed on content."""

from __future__ import annotations

import numpy as np
import pytest

from model.core.schema import BAND_COLUMNS, Dataset
from model.models import fluorescent_km
from model.models.fit_cache import FitCache, content_key
from model.models.fluorescent_km import FIT_CACHE, FluorescentKubelkaMunkModel

FITTED = ("K_", "S_", "K_binder_", "S_binder_", "substrate_reflectance_", "emission_", "scattering_exponent_", "residual_rms_")


@pytest.fixture(autouse=True)
def empty_cache():
    FIT_CACHE.clear()
    yield
    FIT_CACHE.clear()


def _quick() -> FluorescentKubelkaMunkModel:
    return FluorescentKubelkaMunkModel(max_nfev=15)


def test_a_cache_hit_equals_a_fresh_fit(tiny_dataset):
    first = _quick().fit(tiny_dataset)
    hit = _quick().fit(tiny_dataset)
    assert FIT_CACHE.info() == {"hits": 1, "misses": 1, "size": 1}
    FIT_CACHE.clear()
    fresh = _quick().fit(tiny_dataset)
    assert FIT_CACHE.info()["misses"] == 1  # solved again, not taken from the cache
    for name in FITTED:
        np.testing.assert_allclose(getattr(hit, name), getattr(fresh, name), rtol=0, atol=1e-12, err_msg=name)
    assert hit.surface_ == fresh.surface_ and hit.cost_ == pytest.approx(fresh.cost_, abs=1e-12)
    assert hit.colorants_ == first.colorants_ and hit.n_iterations_ == fresh.n_iterations_
    np.testing.assert_allclose(hit.reflectance_of(tiny_dataset.recipes.to_numpy(float)), fresh.reflectance_of(tiny_dataset.recipes.to_numpy(float)), atol=1e-12)


def test_other_parameters_or_other_data_are_solved_again(tiny_dataset):
    _quick().fit(tiny_dataset)
    _quick().set_params(ridge=1e-2).fit(tiny_dataset)
    table = tiny_dataset.table.copy()
    table.loc[0, BAND_COLUMNS[0]] += 1e-9  # one reflectance, one part in a billion
    _quick().fit(Dataset(table, tiny_dataset.colorants, tiny_dataset.name))
    _quick().fit(tiny_dataset.subset(np.arange(len(tiny_dataset) - 2)))
    assert FIT_CACHE.info() == {"hits": 0, "misses": 4, "size": 4}


def test_changing_a_fitted_array_never_changes_the_cache(tiny_dataset):
    first = _quick().fit(tiny_dataset)
    kept = first.K_.copy()
    first.K_[:] = 0.0
    np.testing.assert_array_equal(_quick().fit(tiny_dataset).K_, kept)


def test_the_cache_is_bounded_least_recently_used_first():
    cache = FitCache(max_entries=2)
    keys = [content_key({"ridge": ridge}, ["A"], np.zeros((2, 2))) for ridge in (1, 2, 3)]
    cache.put(keys[0], {"x": np.ones(1)})
    cache.put(keys[1], {"x": np.ones(1) * 2})
    assert cache.get(keys[0])["x"][0] == 1  # keys[0] is now the most recently used
    cache.put(keys[2], {"x": np.ones(1) * 3})
    assert cache.get(keys[1]) is None and cache.get(keys[0]) is not None and cache.info()["size"] == 2
    assert fluorescent_km.FIT_CACHE.max_entries >= 64  # a 50-trial search's 16 training sets × 4 physics fit, with room
