"""What a Dask worker loads when it starts: ``dask worker ADDRESS --nthreads 1 --preload model.jobs.dask_worker``.

A worker started this way is ready before the first fold or trial reaches it:

- it has imported what a fit needs (scikit-learn, scipy and this package's models, about
  2.5 s on this project's machine), which a plain worker would do inside its first task;
- its allocator maps large arrays as a plain process's does at its best
  (:func:`model.jobs.search.restore_malloc_thresholds`), also for a worker that joins the
  cluster after a run started, which ``search.joblib_backend`` (which sets it on the workers
  connected when a run starts) cannot reach.

Dask calls :func:`dask_setup` once the worker exists (its preload protocol). See
docs/pages/operations/cluster.md.
"""

from __future__ import annotations

import model.evaluation.cross_validation  # noqa: F401  (the fold's code)
import model.models.hybrid  # noqa: F401  (the default model: scikit-learn and scipy with it)
from model.jobs.search import restore_malloc_thresholds

__all__ = ["dask_setup"]


def dask_setup(worker) -> None:
    """Called by Dask in the new worker: set glibc's thresholds back (dask's nanny lowered them)."""
    restore_malloc_thresholds()
