"""The colour models: one written contract (:mod:`~model.models.base`) and the models that follow it.

Importing this package (or any module in it) registers every model kind, so
:func:`model_from_config` can rebuild any model a card names.
"""

from model.models.base import ColourModel, model_from_config, model_kinds
from model.models.fluorescent_km import FluorescentKubelkaMunkModel
from model.models.hybrid import HybridModel
from model.models.mlp import FormulationModel, legacy_model
from model.models.physics import KubelkaMunkModel, finite_film_reflectance

__all__ = [
    "ColourModel",
    "FluorescentKubelkaMunkModel",
    "FormulationModel",
    "HybridModel",
    "KubelkaMunkModel",
    "finite_film_reflectance",
    "legacy_model",
    "model_from_config",
    "model_kinds",
]
