"""The long work: training, the configuration search and retraining, in one job queue.

- :mod:`~model.jobs.job_queue`: the one queue every long task runs in (a worker process, one at a time);
- :mod:`~model.jobs.training`: train the honest way (leave-recipe-out CV, then the final fit);
- :mod:`~model.jobs.search` and :mod:`~model.jobs.search_result`: the hyperparameter search
  (its space is :mod:`model.evaluation.search_space`) and its saved results;
- :mod:`~model.jobs.retrain`: a challenger trained off the request path and compared with the champion;
- :mod:`~model.jobs.dask_worker`: what a Dask worker preloads (``--preload model.jobs.dask_worker``).

The top of the operations: above the registry, below serving. Nothing is re-exported;
import the module you need.
"""
