"""The server's warm start: load what the first page needs before the first browser asks for it.

``st.App``'s lifespan (:func:`dashboard.api.lifespan`) calls :func:`start`; one thread then
works in two phases while the server already answers and a browser loads the app's
JavaScript:

1. **light**: what the Predict and Batch pages import (pandas, Plotly, the serving snapshot:
   no scikit-learn), the champion's serving snapshot (:mod:`model.models.snapshot`: plain
   numpy arrays, read in milliseconds), one prediction and the training samples. From
   here those pages may run.
2. **heavy**: scikit-learn (which imports ``scipy.stats``) and what the other pages import,
   and the full champion, unpickled, for formulation, planning and review. This phase
   waits until the first page run has ended (or a page asks for it, or a few seconds have
   passed), so the first prediction does not share the server's one Python thread of CPU
   (the GIL) with 0.6 s of imports.

:mod:`dashboard.readiness` holds the events pages wait on. A champion without a serving
snapshot (a model kind that has none) is served by the full model: pages then wait for both
phases, as before.
"""

from __future__ import annotations

import gc
import importlib
import logging
import sys
import threading
import time

import streamlit as st

from dashboard import readiness

__all__ = ["start", "warm_start"]

_LOG = logging.getLogger("huecast.warm_start")

#: What the Predict and Batch pages, the sidebar and the API's predict import; none of them
#: imports scikit-learn, SciPy or joblib (tests/test_import_weight.py).
LIGHT_MODULES = ("dashboard.champion", "dashboard.state", "dashboard.app_pages._layout", "model.serving.api", "model.serving.explore",
                 "model.serving.batch", "model.presentation.figures", "model.presentation.swatches", "model.io.safe_csv",
                 "model.models.snapshot", "model.registry.registry", "model.registry.training_data")
#: What the other pages import (scikit-learn, SciPy and the models come with them).
HEAVY_MODULES = ("model.models", "model.models.hybrid", "model.registry.review", "model.formulation", "model.jobs.retrain")
#: How long phase 2 waits for the first page run to end before it starts anyway (a server
#: nobody has opened yet, or an API-only install).
FIRST_PAGE_WAIT_S = 5.0

_lock = threading.Lock()  # one warm start per process


def _import(names) -> None:
    for name in names:
        importlib.import_module(name)


def _check_for_a_repl_while_it_is_cheap() -> None:
    """Let Streamlit make its once-per-process "is this a Python REPL?" check now.

    Streamlit makes that check on the first element a process draws
    (``DeltaGenerator._enqueue`` → ``streamlit.env_util.is_repl``), through
    ``inspect.stack()``, which reads the source of every frame and looks up the file of
    every loaded module. Left to the first page run, deep in Streamlit's script runner and
    with scikit-learn, SciPy and pandas loaded, it took 0.15 s (the sidebar's first
    ``st.markdown``, timed in the server over 4 starts); here, from a short stack before
    those imports, about 0.03 s. Outside a page run ``st.empty()`` draws nothing.
    """
    st.empty()


def _light_phase() -> bool:
    """Phase 1. Returns True when the champion has a serving snapshot: pages may then run before phase 2."""
    _import(LIGHT_MODULES)
    from dashboard import champion
    from model.serving import api

    try:
        snapshot, card = champion.serving_snapshot()
        if snapshot is None:
            return False
        api.predict({"recipes": [champion.explore.default_recipe(snapshot)]}, snapshot, card)  # first-call costs
        champion.training_samples(card)
    except Exception as error:  # the page shows it to the user; the log gets it here
        _LOG.warning("Warm start could not load the champion's serving snapshot: %s", error)
        return False
    readiness.light_done.set()
    return True


def _heavy_phase() -> None:
    try:
        _import(HEAVY_MODULES)
    finally:
        readiness.heavy_done.set()  # even after a failure: the page then shows it
        readiness.light_done.set()  # without a serving snapshot, pages waited for this phase too
    from dashboard import champion
    from model.serving import api

    try:
        served, card = champion.served(full=True)
        api.predict({"recipes": [champion.explore.default_recipe(served)]}, served, card)
        champion.training_samples(card)
    except Exception as error:
        _LOG.warning("Warm start could not load the champion: %s", error)


def warm_start(first_page_wait_s: float = FIRST_PAGE_WAIT_S) -> float:
    """Both phases, in this thread; returns the seconds they took (without the wait between them).

    Nothing here may stop the server: a missing champion is the pages' to explain.
    """
    start = time.perf_counter()
    _check_for_a_repl_while_it_is_cheap()
    # Importing makes millions of objects and almost no garbage, yet the cyclic collector keeps
    # scanning them: paused (for the whole warm start, the first page run included), the imports
    # take about a fifth less CPU (1.9 → 1.5 s). Frozen
    # afterwards, these long-lived objects stay out of every later collection, whose pauses
    # would otherwise land on API requests.
    gc.disable()
    try:
        light_serves = _light_phase()
        light_s = time.perf_counter() - start
        if light_serves:
            _say(f"serving predictions from the champion's serving snapshot after {light_s:.2f} s")
            readiness.heavy_wanted.wait(first_page_wait_s)
        heavy_start = time.perf_counter()
        _heavy_phase()
        heavy_s = time.perf_counter() - heavy_start
    finally:
        readiness.light_done.set()
        readiness.heavy_done.set()
        gc.enable()
        gc.freeze()
    _say(f"every page ready after {heavy_s:.2f} s more (scikit-learn and the full champion)")
    return light_s + heavy_s


def _say(message: str) -> None:
    # The server log; bench/dashboard_speed.py reads these lines.
    print(f"Huecast warm start: {message}", file=sys.stderr, flush=True)


def start() -> None:
    """Start :func:`warm_start` in a thread, once per process (the ``st.App`` lifespan calls it)."""
    with _lock:
        if readiness.warm_thread is None:
            readiness.warm_thread = threading.Thread(target=warm_start, name="huecast-warm-start", daemon=True)
            readiness.warm_thread.start()
