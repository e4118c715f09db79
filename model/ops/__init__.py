"""Operations: what the lab does with models over time, above the models and their evaluation.

- :mod:`~model.ops.store`: the SQLite measurement store; :mod:`~model.ops.intake` reads
  uploads and the store for a job;
- :mod:`~model.ops.registry`: versioned models, cards and the champion pointer;
- :mod:`~model.ops.training` and :mod:`~model.ops.training_data`: train honestly; find
  what a model was trained on;
- :mod:`~model.ops.search_space`, :mod:`~model.ops.search`, :mod:`~model.ops.search_result`:
  the hyperparameter search and its saved results;
- :mod:`~model.ops.retrain` and :mod:`~model.ops.comparison`: challenger against champion;
- :mod:`~model.ops.jobs`: the one job queue every long task runs in;
- :mod:`~model.ops.review`: how good the champion is, in plain words;
- :mod:`~model.ops.access` and :mod:`~model.ops.passwords`: who may do what.

Import the module you need (``from model.ops import registry``): nothing is re-exported
here, so the prediction command line does not pay for the search and the store.
"""
