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


@pytest.fixture(scope="session")
def shipped():
    """The shipped demo champion and its card, from the checkout's trained_models/ (read only)."""
    from model.registry.registry import ModelRegistry

    return ModelRegistry(_REPO_ROOT / "trained_models").load_champion()


@pytest.fixture
def open_dashboard(repo_root):
    """``open_dashboard(page=None)``: the app's entry script run in AppTest, on ``page`` if named.

    The install it sees is whatever HUECAST_MODELS_DIR and HUECAST_DATA_DIR say (the
    checkout's by default; ``isolated_install`` for a temporary one).
    """
    from streamlit.testing.v1 import AppTest

    def open_page(page: str | None = None, timeout_s: float = 60):
        at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=timeout_s).run()
        if page is not None:
            at.switch_page(f"app_pages/{page}").run()
        assert not at.exception, at.exception
        return at

    return open_page


@pytest.fixture(scope="session")
def tiny_evaluated(tiny_dataset, quick_model):
    """The quick model on the tiny dataset: its leave-recipe-out evaluation (2 folds), the model fitted
    on all of it, and the ``dataset_info`` a card records."""
    from types import SimpleNamespace

    from model import cross_validate

    return SimpleNamespace(
        evaluation=cross_validate(tiny_dataset, quick_model, n_splits=2, seeds=(0,)),
        model=clone(quick_model).fit(tiny_dataset),
        info={"name": "tiny", "fingerprint": tiny_dataset.fingerprint(), "n_samples": len(tiny_dataset), "n_recipes": tiny_dataset.n_recipes, "colorants": list(tiny_dataset.colorants)},
    )


class Install:
    """Where an isolated install keeps its models and its measurement store."""

    def __init__(self, root: Path) -> None:
        self.models_dir = root / "models"
        self.data_dir = root / "data"

    def copy_shipped_models(self) -> Path:
        """Put a copy of the checkout's trained_models/ (the demo champion, its search) in this install."""
        import shutil

        shutil.copytree(_REPO_ROOT / "trained_models", self.models_dir)
        return self.models_dir


@pytest.fixture
def isolated_install(tmp_path, monkeypatch) -> Install:
    """Empty models and data folders under tmp_path, named by HUECAST_MODELS_DIR and HUECAST_DATA_DIR.

    Every test that runs a page, the CLI or the ops layer goes through this, so no test
    reads or writes the checkout's trained_models/ or data/store/. Background workers
    run at normal priority (HUECAST_RETRAIN_NICENESS=0): the tests wait for them.
    """
    install = Install(tmp_path)
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(install.models_dir))
    monkeypatch.setenv("HUECAST_DATA_DIR", str(install.data_dir))
    monkeypatch.setenv("HUECAST_RETRAIN_NICENESS", "0")
    return install


@pytest.fixture
def tiny_install(isolated_install, tiny_dataset, quick_model):
    """An isolated install with a store holding the tiny dataset's first 24 rows and a champion trained on them."""
    import numpy as np

    from model.auth.access import LOCAL_ADMIN
    from model.io import PreparedUpload
    from model.registry.registry import ModelRegistry
    from model.store.measurements import MeasurementStore

    models_dir, data_dir = isolated_install.models_dir, isolated_install.data_dir
    store = MeasurementStore(data_dir / "measurements.sqlite3", seed=False)
    store.add(PreparedUpload(tiny_dataset.subset(np.arange(24)), None, ("first.csv",), "first"), user=LOCAL_ADMIN)
    unfitted = clone(quick_model).set_params(hidden_layer_sizes=(8,), max_iter=150)
    # A plain fit is enough for a champion here; its card names the store version it saw.
    first = store.to_dataset()
    model = clone(unfitted).fit(first)
    card = ModelRegistry(models_dir).save_model(model, metrics={"delta_e00_mean_headline": 1.0}, dataset_info={"fingerprint": first.fingerprint(), "store_version": store.version(), "n_samples": len(first), "n_recipes": first.n_recipes, "name": "first"})
    ModelRegistry(models_dir).promote(card.version, user=LOCAL_ADMIN)
    return {"models_dir": models_dir, "store": store, "card": card, "model": model, "unfitted": unfitted}


@pytest.fixture(scope="session")
def glowing_dataset():
    """A small simulated dataset with fluorescence readings (``fluorescence_cts``, ct/s): FluoYellow
    (fluorescent), BiVaYellow and PhthaloGreen; 16 recipes × 8 and 12 µm, FluoYellow left out of
    the first 5 recipes, and the films of recipe R15 without a reading (NaN)."""
    import numpy as np
    import pandas as pd

    from model.core.schema import FLUORESCENCE_COLUMN
    from model.simulate import DEMO_COLORANTS, simulate_dataset

    colorants = DEMO_COLORANTS[0:3]
    rng = np.random.default_rng(21)
    levels = rng.uniform(0.1, 1, size=(16, len(colorants))) * np.array([25.0, 10.0, 2.0])
    levels[:5, 0] = 0.0
    rows = [
        {"recipe_id": f"R{index}", "sample_id": f"R{index}@{thickness:g}", **{c.name: v for c, v in zip(colorants, recipe)}, "thickness_um": thickness}
        for index, recipe in enumerate(levels)
        for thickness in (8.0, 12.0)
    ]
    dataset = simulate_dataset(pd.DataFrame(rows), colorants=colorants, rng=np.random.default_rng(22), name="glowing", fluorescence=True)
    dataset.table.loc[dataset.table["recipe_id"] == "R15", FLUORESCENCE_COLUMN] = np.nan
    return dataset


@pytest.fixture
def glowing_install(isolated_install, glowing_dataset, quick_model):
    """An isolated install whose champion (a quick FormulationModel) has a fluorescence head, trained on ``glowing_dataset``."""
    from model.auth.access import LOCAL_ADMIN
    from model.registry.registry import ModelRegistry

    model = clone(quick_model).fit(glowing_dataset)
    card = ModelRegistry(isolated_install.models_dir).save_model(model, metrics={"delta_e00_mean_headline": 1.0, "fluorescence_mae": 123.0, "fluorescence_rmse": 150.0, "fluorescence_r2": 0.95, "fluorescence_n_samples": 30}, dataset_info={"fingerprint": glowing_dataset.fingerprint(), "n_samples": len(glowing_dataset), "n_recipes": glowing_dataset.n_recipes, "name": "glowing"})
    ModelRegistry(isolated_install.models_dir).promote(card.version, user=LOCAL_ADMIN)
    return {"models_dir": isolated_install.models_dir, "card": card, "model": model}
