"""A small per-process cache of solved fits, keyed by the content of what was fitted.

A deterministic fit (a fixed start, one BLAS thread) of the same hyperparameters on the
same arrays always gives the same solution, so it need not be solved twice. The
configuration search of the hybrid model fits the same physics on the same training
recipes in every trial that shares its physics parameters (3 folds × (3 inner folds + 1)
training sets, plus the final fit's 4); :class:`FitCache` lets each worker process solve
each of them once (:mod:`model.models.fluorescent_km`, bench/search.py).

The key is a SHA-256 of the hyperparameters, the names and the exact bytes and shapes of
the arrays; the cache is bounded (least recently used entries go first), thread-safe and
held per process: nothing is written to disk, and a new process starts empty.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["FitCache", "content_key"]


def content_key(params: dict, names, *arrays: np.ndarray) -> str:
    """SHA-256 (hex) of ``params`` (JSON, sorted), ``names`` and each array's dtype-normalised bytes and shape."""
    digest = hashlib.sha256()
    digest.update(json.dumps([sorted(params.items()), list(names)], default=repr).encode("utf-8"))
    for array in arrays:
        array = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(repr(array.shape).encode("ascii"))
        digest.update(array.tobytes())
    return digest.hexdigest()


def _copied(values: dict) -> dict:
    return {name: value.copy() if isinstance(value, np.ndarray) else value for name, value in values.items()}


class FitCache:
    """Solved fits by content key: at most ``max_entries``, least recently used dropped first.

    Values are dicts of fitted attributes; they are copied in and out, so a caller that
    changes a fitted array never changes the cache.
    """

    def __init__(self, max_entries: int):
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()  # the dashboard fits in several threads of one process
        self.hits = self.misses = 0

    def get(self, key: str) -> dict | None:
        """The fitted attributes stored under ``key`` (a copy), or None; counts a hit or a miss."""
        with self._lock:
            values = self._entries.get(key)
            if values is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return _copied(values)

    def put(self, key: str, values: dict) -> None:
        """Store ``values`` (copied) under ``key``, dropping the least recently used beyond ``max_entries``."""
        with self._lock:
            self._entries[key] = _copied(values)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def info(self) -> dict[str, int]:
        """``hits``, ``misses`` and ``size`` (entries held)."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._entries)}

    def clear(self) -> None:
        """Drop every entry and zero the counts."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0
