"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

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
def tiny_config():
    """A quick-to-fit configuration; accuracy is not what these tests are about."""
    from model import ModelConfig

    return ModelConfig(hidden_layer_sizes=(16,), max_iter=300, n_ensemble=1, alpha=0.1)
