"""The dashboard's first page imports no heavy library: scikit-learn, SciPy, joblib and
colour-science load later (0.6 s of scikit-learn alone), so the first prediction shows within 3 s.

Each check runs in a fresh interpreter: the test process itself has long imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dashboard.warm_start import LIGHT_MODULES

#: What the dashboard's first page run imports (the Predict page, the sidebar and the API's predict):
#: the warm start's first phase, and the serving modules beside it.
FIRST_PAGE_MODULES = (
    *LIGHT_MODULES,
    "model.serving.batch",
    "model.registry.registry",
    "model.registry.training_data",
    "model.models.uncertainty",
    "model.core.prediction",
)
#: Top-level packages that must wait until a page needs them.
HEAVY_PACKAGES = ("sklearn", "scipy", "joblib", "colour")


def _fresh_interpreter_answer(probe: str, repo_root):
    """What ``probe`` prints last, as JSON, when run in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", probe], check=False, cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _heavy_packages_after(statement: str, repo_root) -> list[str]:
    """The heavy top-level packages in ``sys.modules`` after ``statement`` runs in a fresh interpreter."""
    probe = (
        f"{statement}\n"
        "import json, sys\n"
        f"print(json.dumps(sorted({{name.partition('.')[0] for name in sys.modules}} & {set(HEAVY_PACKAGES)!r})))\n"
    )
    return _fresh_interpreter_answer(probe, repo_root)


def test_first_page_modules_import_no_heavy_library(repo_root):
    heavy = _heavy_packages_after(f"import {', '.join(FIRST_PAGE_MODULES)}", repo_root)
    assert heavy == [], (
        f"importing the first page's modules loaded {heavy}; find the path with "
        "`python3 -X importtime -c 'import <module>' 2>&1 | grep -B2 sklearn` and move that import into the function that needs it"
    )


def test_a_model_module_does_import_scikit_learn(repo_root):
    # The probe above must be able to fail: the models themselves do need scikit-learn.
    assert "sklearn" in _heavy_packages_after("import model.models.hybrid", repo_root)


def test_model_package_names_load_on_first_use():
    from model import models

    for name in models.__all__:
        assert getattr(models, name) is not None, name
    from model.models import HybridModel, finite_film_reflectance
    from model.models.hybrid import HybridModel as defined_hybrid
    from model.models.physics import finite_film_reflectance as defined_reflectance

    assert HybridModel is defined_hybrid and finite_film_reflectance is defined_reflectance
    with pytest.raises(AttributeError, match="no attribute 'NoSuchModel'"):
        models.NoSuchModel  # noqa: B018


def test_every_model_kind_is_known_after_importing_only_the_contract(repo_root):
    # ``python -m model train`` rebuilds the default HybridModel from its kind having imported only base.
    probe = (
        "import json\n"
        "from model.models.base import model_kinds\n"
        "print(json.dumps(sorted(model_kinds())))\n"
    )
    assert _fresh_interpreter_answer(probe, repo_root) == ["FluorescentKubelkaMunkModel", "FormulationModel", "HybridModel", "KubelkaMunkModel"]


def test_a_lazy_name_asked_for_by_many_threads_at_once_is_resolved_once(monkeypatch):
    """model/__init__.py and model/models/__init__.py share one locked loader (model.core.lazy)."""
    import threading
    import time
    import types

    from model.core import lazy

    resolved = []

    def slow_import(name):
        resolved.append(name)
        time.sleep(0.05)  # a module that takes a while to import: the window two threads could both enter
        return types.SimpleNamespace(value=object())

    monkeypatch.setattr(lazy, "import_module", slow_import)
    namespace: dict = {}
    getattr_, dir_ = lazy.lazy_attributes("demo", namespace, {"value": "demo.slow"})
    results = []
    threads = [threading.Thread(target=lambda: results.append(getattr_("value"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert resolved == ["demo.slow"] and len(results) == 8 and all(result is results[0] for result in results)
    assert namespace["value"] is results[0] and dir_() == ["value"]
    with pytest.raises(AttributeError, match="module 'demo' has no attribute 'other'"):
        getattr_("other")
    import model
    import model.models

    assert model.__getattr__.__module__ == model.models.__getattr__.__module__ == "model.core.lazy"
