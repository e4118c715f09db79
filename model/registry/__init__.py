"""Versioned models on disk and which one serves.

- :mod:`~model.registry.registry`: a version's folder, its card, the champion pointer;
  :mod:`~model.registry.card_signature` signs cards; :mod:`~model.registry.backup` backs an install up;
- :mod:`~model.registry.training_data`: the measurements a saved model was trained on;
- :mod:`~model.registry.comparison` and :mod:`~model.registry.promotion`: champion against challenger
  on the same folds, and the one door through which a model starts serving;
- :mod:`~model.registry.review`: how good the champion is, in plain words.

Above :mod:`model.store`, below :mod:`model.jobs`. Nothing is re-exported here, so the
prediction command line does not pay for the store and the search: import the module you
need (``from model.registry import registry``).
"""
