"""Huecast's model library: predict the colour of a pigmented film from its recipe.

Pure Python (no Streamlit). A chemist can script it::

    from model import FormulationModel, load_dataset, train_and_evaluate
    dataset, report = load_dataset("data/demo")
    result = train_and_evaluate(dataset, FormulationModel(n_ensemble=3))
    result.model.predict(dataset.recipes.head()).Lab

Scales used throughout: concentrations in wt % (0–100), film thickness in µm,
reflectance factor 0–1 (may exceed 1 for fluorescent colorants), XYZ 0–100, L* 0–100.
"""

from model.core.lazy import lazy_attributes

# Where each public name lives. Submodules load on first use (PEP 562), so that
# ``python -m model predict`` does not pay for the evaluation and training stack.
_PUBLIC = {
    "BAND_COLUMNS": "model.core.schema",
    "THICKNESS_COLUMN": "model.core.schema",
    "WAVELENGTHS_NM": "model.core.schema",
    "Dataset": "model.core.schema",
    "Prediction": "model.core.prediction",
    "TrainingRange": "model.core.prediction",
    "PREDICTION_COLUMNS": "model.core.prediction",
    "ColourModel": "model.models.base",
    "model_from_config": "model.models.base",
    "FormulationModel": "model.models.mlp",
    "KubelkaMunkModel": "model.models.physics",
    "Evaluation": "model.evaluation",
    "cross_validate": "model.evaluation",
    "grouped_folds": "model.evaluation",
    "format_metrics": "model.evaluation",
    "IngestError": "model.io",
    "load_dataset": "model.io",
    "IntegrityError": "model.registry.registry",
    "ModelCard": "model.registry.registry",
    # The models folder (ModelRegistry().load_champion() …); a model starts serving only through
    # model.registry.promotion.promote, the one door, so no promote is exported here.
    "ModelRegistry": "model.registry.registry",
    "TrainingResult": "model.jobs.training",
    "train_and_evaluate": "model.jobs.training",
}

__all__ = list(_PUBLIC)


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
