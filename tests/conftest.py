"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.base import clone

_REPO_ROOT = Path(__file__).resolve().parents[1]
# The real measurements live beside the repository and are never copied into it.
_REAL_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder (the one holding ``model/`` and ``tests/``)."""
    return _REPO_ROOT


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real pp-inks measurements; tests that need them skip where they are absent."""
    if not _REAL_DATA_DIR.is_dir():
        pytest.skip(f"real data ../shared/data/pp-inks is absent: no folder {_REAL_DATA_DIR}")
    return _REAL_DATA_DIR


@pytest.fixture(scope="session")
def tiny_dataset():
    """A small simulated dataset (3 colorants, 16 recipes × 2 thicknesses) for fast model tests."""
    import numpy as np
    import pandas as pd

    from model.simulate import DEMO_COLORANTS, simulate_dataset

    colorants = DEMO_COLORANTS[1:4]
    rng = np.random.default_rng(11)
    levels = rng.uniform(0, 1, size=(16, len(colorants))) * np.array([20.0, 2.0, 6.0])
    rows = []
    for index, recipe in enumerate(levels):
        for thickness in (8.0, 12.0):
            rows.append({"recipe_id": f"R{index}", "sample_id": f"R{index}@{thickness:g}", **{c.name: v for c, v in zip(colorants, recipe)}, "thickness_um": thickness})
    return simulate_dataset(pd.DataFrame(rows), colorants=colorants, rng=np.random.default_rng(12), name="tiny")


@pytest.fixture(scope="session")
def quick_model():
    """An unfitted, quick-to-fit FormulationModel (clone it before fitting); accuracy is not what these tests are about."""
    from model import FormulationModel

    return FormulationModel(hidden_layer_sizes=(16,), max_iter=300, n_ensemble=1, alpha=0.1)


@pytest.fixture
def tiny_install(tmp_path, monkeypatch, tiny_dataset, quick_model):
    """A tmp install: a store holding the tiny dataset's first 24 rows and a champion trained on them.

    The models and data folders are set through HUECAST_MODELS_DIR / HUECAST_DATA_DIR,
    and the retrain worker runs at normal priority (the tests wait for it).
    """
    import numpy as np

    from model.io import PreparedUpload
    from model.ops import registry
    from model.ops.access import LOCAL_ADMIN
    from model.ops.store import MeasurementStore

    models_dir, data_dir = tmp_path / "models", tmp_path / "data"
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("HUECAST_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HUECAST_RETRAIN_NICENESS", "0")
    store = MeasurementStore(data_dir / "measurements.sqlite3", seed=False)
    store.add(PreparedUpload(tiny_dataset.subset(np.arange(24)), None, ("first.csv",), "first"), user=LOCAL_ADMIN)
    unfitted = clone(quick_model).set_params(hidden_layer_sizes=(8,), max_iter=150)
    # A plain fit is enough for a champion here; its card names the store version it saw.
    first = store.to_dataset()
    model = clone(unfitted).fit(first)
    card = registry.save_model(
        model,
        metrics={"delta_e00_mean_headline": 1.0},
        dataset_info={"fingerprint": first.fingerprint(), "store_version": store.version(), "n_samples": len(first), "n_recipes": first.n_recipes, "name": "first"},
        models_dir=models_dir,
    )
    registry.promote(card.version, models_dir, user=LOCAL_ADMIN)
    return {"models_dir": models_dir, "store": store, "card": card, "model": model, "unfitted": unfitted}
