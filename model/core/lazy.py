"""Public names of a package that import their module on first use (PEP 562), behind one lock.

``python -m model predict`` and the dashboard's first page must not pay for the training
and evaluation stack (scikit-learn alone is about 0.6 s), so ``model`` and ``model.models``
name their public objects here and import each module only when a name is first asked for.
The lock makes the first use from two threads (the warm start and a page, say) resolve
and cache a name once; it is re-entrant because importing one module may ask the same
package for another lazy name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from importlib import import_module

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, namespace: dict, public: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``, named in the ``AttributeError`` for an unknown name.
    namespace : dict
        The package's ``globals()``: a name, once imported, is stored there, so later look-ups
        do not reach ``__getattr__``.
    public : mapping of name → module
        Where each public name is defined.

    Examples
    --------
    >>> namespace = {}
    >>> getattr_, dir_ = lazy_attributes("demo", namespace, {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0), "sqrt" in namespace, dir_()
    (3.0, True, ['sqrt'])
    """
    lock = threading.RLock()

    def __getattr__(name: str):
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        with lock:
            if name not in namespace:
                namespace[name] = getattr(import_module(public[name]), name)
            return namespace[name]

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
