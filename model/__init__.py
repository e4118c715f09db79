"""Huecast's model library: predict the colour of a pigmented film from its recipe.

Pure Python (no Streamlit). A chemist can script it::

    from model import load_dataset, ModelConfig, train_and_evaluate
    dataset, report = load_dataset("data/demo")
    result = train_and_evaluate(dataset, ModelConfig())
    result.model.predict(dataset.recipes.head()).Lab

Scales used throughout: concentrations in wt % (0–100), film thickness in µm,
reflectance factor 0–1 (may exceed 1 for fluorescent colorants), XYZ 0–100, L* 0–100.
"""

from importlib import import_module

# Where each public name lives. Submodules load on first use (PEP 562), so that
# ``python -m model predict`` does not pay for the evaluation and training stack.
_PUBLIC = {
    "BAND_COLUMNS": "._schema",
    "THICKNESS_COLUMN": "._schema",
    "WAVELENGTHS_NM": "._schema",
    "Dataset": "._schema",
    "Prediction": "._prediction",
    "TrainingRange": "._prediction",
    "PREDICTION_COLUMNS": "._prediction",
    "ModelConfig": ".formulation_model",
    "FormulationModel": ".formulation_model",
    "Evaluation": ".evaluation",
    "cross_validate": ".evaluation",
    "grouped_folds": ".evaluation",
    "format_metrics": ".evaluation",
    "IngestError": ".ingest",
    "load_dataset": ".ingest",
    "IntegrityError": ".registry",
    "ModelCard": ".registry",
    "load_model": ".registry",
    "load_champion": ".registry",
    "save_model": ".registry",
    "promote": ".registry",
    "TrainingResult": ".training",
    "train_and_evaluate": ".training",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
