"""Huecast's model library: predict the colour of a pigmented film from its recipe.

Pure Python (no Streamlit). A chemist can script it::

    from model import load_dataset, ModelConfig, train_and_evaluate
    dataset, report = load_dataset("data/demo")
    result = train_and_evaluate(dataset, ModelConfig())
    result.model.predict(dataset.recipes.head()).Lab

Scales used throughout: concentrations in wt % (0–100), film thickness in µm,
reflectance factor 0–1 (may exceed 1 for fluorescent colorants), XYZ 0–100, L* 0–100.
"""

from ._prediction import PREDICTION_COLUMNS, Prediction, TrainingRange
from ._schema import BAND_COLUMNS, THICKNESS_COLUMN, WAVELENGTHS_NM, Dataset
from .evaluation import Evaluation, cross_validate, format_metrics, grouped_folds
from .formulation_model import FormulationModel, ModelConfig
from .ingest import IngestError, load_dataset
from .registry import IntegrityError, ModelCard, load_champion, load_model, promote, save_model
from .training import TrainingResult, train_and_evaluate

__all__ = [
    "BAND_COLUMNS",
    "THICKNESS_COLUMN",
    "WAVELENGTHS_NM",
    "Dataset",
    "Prediction",
    "TrainingRange",
    "PREDICTION_COLUMNS",
    "ModelConfig",
    "FormulationModel",
    "Evaluation",
    "cross_validate",
    "grouped_folds",
    "format_metrics",
    "IngestError",
    "load_dataset",
    "IntegrityError",
    "ModelCard",
    "load_model",
    "load_champion",
    "save_model",
    "promote",
    "TrainingResult",
    "train_and_evaluate",
]
