"""What may run yet, while the warm start (:mod:`dashboard.warm_start`) loads the champion.

The warm start works in two phases in its own thread: first what the Predict and Batch
pages need (no scikit-learn), then scikit-learn and the full champion for every other page. Two
threads must never import scikit-learn at once: its circular imports then fail with
"cannot import name 'clone' from partially initialized module 'sklearn.base'" (seen in
``bench/dashboard_speed.py``). So every page run first waits for phase 1
(:func:`wait_for_light_imports`, in ``dashboard/app.py``), and whatever needs the full
model waits for phase 2 (:func:`wait_for_heavy_imports`, in
:func:`dashboard.champion.full_model` and before any page not in ``LIGHT_PAGES`` of
``dashboard/app.py``). With no warm start
running (AppTest, the tests) both waits return at once.
"""

from __future__ import annotations

import threading

__all__ = ["wait_for_light_imports", "wait_for_heavy_imports", "page_run_ended"]

light_done = threading.Event()
heavy_wanted = threading.Event()
heavy_done = threading.Event()
#: The warm start's thread while it runs (set by dashboard.warm_start.start).
warm_thread: threading.Thread | None = None


def _warm_start_running() -> bool:
    thread = warm_thread
    return thread is not None and thread.is_alive()


def wait_for_light_imports(timeout_s: float = 120.0) -> None:
    """Return once the light pages (Predict, Batch) may import and run (at once when no warm start runs)."""
    if _warm_start_running():
        light_done.wait(timeout_s)


def wait_for_heavy_imports(timeout_s: float = 120.0) -> None:
    """Return once scikit-learn and the full champion are loaded (at once when no warm start runs).

    Asking also tells phase 2 to start now instead of after the first page run.
    """
    if _warm_start_running():
        heavy_wanted.set()
        heavy_done.wait(timeout_s)


def page_run_ended() -> None:
    """Called after every page run: phase 2 need not wait any longer for the first one to end."""
    heavy_wanted.set()
