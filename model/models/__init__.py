"""The colour models: one written contract (:mod:`~model.models.base`) and the models that follow it.

The public names load on first use (PEP 562), so importing one light module of the
package (:mod:`~model.models.uncertainty`, the serving snapshot) does not import
scikit-learn with every model. A model class registers its card ``kind`` when its module
is imported; :func:`import_model_modules` imports every module in :data:`MODEL_MODULES`,
so :func:`model_kinds` can list, and :func:`model_from_config` rebuild, any model a card names.
"""

from importlib import import_module

from model.core.lazy import lazy_attributes

#: Every module that defines a colour model (a :class:`~model.models.base.ColourModel` subclass).
MODEL_MODULES = (
    "model.models.mlp",
    "model.models.physics",
    "model.models.fluorescent_km",
    "model.models.hybrid",
)

# Where each public name lives; the module is imported when the name is first asked for.
_PUBLIC = {
    "ColourModel": "model.models.base",
    "model_from_config": "model.models.base",
    "model_kinds": "model.models.base",
    "FluorescentKubelkaMunkModel": "model.models.fluorescent_km",
    "HybridModel": "model.models.hybrid",
    "FormulationModel": "model.models.mlp",
    "legacy_model": "model.models.mlp",
    "KubelkaMunkModel": "model.models.physics",
    "finite_film_reflectance": "model.core.film_optics",
}

__all__ = [
    "MODEL_MODULES",
    "ColourModel",
    "FluorescentKubelkaMunkModel",
    "FormulationModel",
    "HybridModel",
    "KubelkaMunkModel",
    "finite_film_reflectance",
    "import_model_modules",
    "legacy_model",
    "model_from_config",
    "model_kinds",
]


def import_model_modules() -> None:
    """Import every module of :data:`MODEL_MODULES`, so every model kind is registered.

    :func:`model.models.base.model_kinds` calls it: a card names its model by ``kind``,
    and the class must be known before the model can be rebuilt.
    """
    for module in MODEL_MODULES:
        import_module(module)


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
