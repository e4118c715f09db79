"""One BLAS thread for the small fits, set cheaply enough to be set around every one of them.

The fits of this package work on matrices of tens to hundreds of rows (a network head, the
physics' normal equations). On such matrices a threaded BLAS spends longer synchronising
than computing (a hybrid fit measured 9.6 s threaded against 5.9 s on one thread on 2 cores),
and the folds of a cross-validation already run in parallel, one process per core.

``threadpoolctl.threadpool_limits`` finds the loaded BLAS libraries afresh on every call
(about 4 ms on this machine); a hybrid fit sets the limit around some forty fits, so that
alone was about 5 % of a retrain. :func:`one_blas_thread` asks one
``threadpoolctl.ThreadpoolController`` per process, made on first use (about 0.04 ms a call).
It limits the BLAS libraries loaded by then: callers import numpy and scipy first.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager

__all__ = ["one_blas_thread"]

_lock = threading.Lock()
_controller = None


def one_blas_thread() -> AbstractContextManager:
    """A context in which every BLAS library loaded so far uses one thread (restored on exit).

    Examples
    --------
    >>> import numpy as np
    >>> with one_blas_thread():
    ...     float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3))
    9.0
    """
    global _controller
    if _controller is None:
        with _lock:
            if _controller is None:
                from threadpoolctl import ThreadpoolController

                _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
