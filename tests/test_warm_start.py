"""The warm start (dashboard/warm_start.py): its two phases, and what it leaves behind.

The start-up time itself is measured in bench/dashboard_speed.py, not here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from dashboard import readiness, warm_start


def test_the_warm_start_leaves_the_garbage_collector_running():
    """The warm start pauses the cyclic collector while it imports; it must switch it back on."""
    import gc

    try:
        assert warm_start.warm_start(first_page_wait_s=0.0) > 0
        assert gc.isenabled()
    finally:
        gc.unfreeze()  # the warm start froze this test process's objects; a server keeps them


def test_without_a_warm_start_running_pages_do_not_wait(monkeypatch):
    """AppTest and the tests run pages with no warm start thread: both waits return at once, though
    neither phase has finished. With a warm start alive the same waits block until their phase ends."""
    for event in ("light_done", "heavy_wanted", "heavy_done"):
        monkeypatch.setattr(readiness, event, threading.Event())  # neither phase done, whatever ran before
    monkeypatch.setattr(readiness, "warm_thread", None)
    started = time.monotonic()
    readiness.wait_for_light_imports(timeout_s=10)
    readiness.wait_for_heavy_imports(timeout_s=10)
    assert time.monotonic() - started < 2.0, "a page waited for a warm start that is not running"
    assert not readiness.heavy_wanted.is_set()

    # The contrast, so the check above can fail: a live warm start holds both waits to their timeout.
    finish = threading.Event()
    stand_in = threading.Thread(target=finish.wait, daemon=True)
    stand_in.start()
    monkeypatch.setattr(readiness, "warm_thread", stand_in)
    try:
        started = time.monotonic()
        readiness.wait_for_light_imports(timeout_s=0.2)
        readiness.wait_for_heavy_imports(timeout_s=0.2)
        assert time.monotonic() - started >= 0.4
        assert readiness.heavy_wanted.is_set()  # asking for phase 2 starts it without waiting for a page run
    finally:
        finish.set()
        stand_in.join()


_FIRST_ELEMENT_SCRIPT = """
import inspect, sys
import streamlit as st
from dashboard import warm_start
if sys.argv[1] == "warm":
    warm_start._check_for_a_repl_while_it_is_cheap()
def refuse(*args, **kwargs):
    raise RuntimeError("inspect.stack called")
inspect.stack = refuse
st.empty()  # the first element a page run would draw
"""


@pytest.mark.parametrize("warm", [False, True])
def test_the_warm_start_makes_streamlits_repl_check_before_the_first_page(warm):
    """Streamlit's once-per-process REPL check (inspect.stack, 0.15 s on a first page run) is made by the
    warm start, before its imports; without it, the first element drawn makes it (a fresh process each)."""
    run = subprocess.run([sys.executable, "-c", _FIRST_ELEMENT_SCRIPT, "warm" if warm else "cold"], check=False,
                         capture_output=True, text=True, timeout=120)
    if warm:
        assert run.returncode == 0, run.stderr
    else:
        assert run.returncode != 0 and "inspect.stack called" in run.stderr


_TWO_PHASES_SCRIPT = """
import json, sys, time
from dashboard import readiness, warm_start
warm_start.start()
readiness.wait_for_light_imports(timeout_s=120)
from dashboard import champion
snapshot, card = champion.serving_snapshot()
answer = {
    "light_done": readiness.light_done.is_set(),
    "snapshot": type(snapshot).__name__,
    "sklearn_after_light": "sklearn" in sys.modules,
    "L": float(snapshot.predict(champion.explore.recipe_frame({c: 1.0 for c in snapshot.colorants_}, 8.0, list(snapshot.colorants_))).Lab[0, 0]),
}
time.sleep(0.5)
answer["heavy_before_page_ended"] = readiness.heavy_done.is_set()
readiness.page_run_ended()  # what dashboard/app.py says after the first page run
readiness.wait_for_heavy_imports(timeout_s=120)
model, _ = champion.served(full=True)
answer["sklearn_after_heavy"] = "sklearn" in sys.modules
answer["full_L"] = float(model.predict(champion.explore.recipe_frame({c: 1.0 for c in model.colorants_}, 8.0, list(model.colorants_))).Lab[0, 0])
print(json.dumps(answer))
"""


def test_the_first_phase_serves_predictions_without_scikit_learn_and_the_second_waits_for_the_first_page(repo_root):
    """On the shipped champion (it has a serving snapshot): pages may run once pandas, Plotly and the snapshot are
    loaded, with scikit-learn not imported yet; scikit-learn and the full model follow once the first page run ends."""
    run = subprocess.run([sys.executable, "-c", _TWO_PHASES_SCRIPT], check=False, cwd=repo_root, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HUECAST_MODELS_DIR": str(repo_root / "trained_models")})
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["light_done"] and answer["snapshot"] == "ServingSnapshot"
    assert not answer["sklearn_after_light"]
    assert not answer["heavy_before_page_ended"]  # it waits for the first page run (up to FIRST_PAGE_WAIT_S)
    assert answer["sklearn_after_heavy"]
    assert answer["L"] == pytest.approx(answer["full_L"], abs=1e-9)  # one model, two forms


_NO_SNAPSHOT_SCRIPT = """
import json, sys
from dashboard import readiness, warm_start
warm_start.start()
readiness.wait_for_light_imports(timeout_s=120)
print(json.dumps({"sklearn_when_pages_may_run": "sklearn" in sys.modules, "heavy_done": readiness.heavy_done.is_set()}))
"""


def test_without_a_serving_snapshot_pages_wait_for_scikit_learn_and_the_full_model(repo_root, tmp_path):
    """A champion saved before snapshots existed (its card names none) is served by the full model: no page
    may run until scikit-learn is imported, or a page thread would import it beside the warm start's."""
    models = tmp_path / "models"
    shutil.copytree(repo_root / "trained_models", models)
    version = (models / "CHAMPION").read_text().strip()
    card_path = models / version / "card.json"
    card = json.loads(card_path.read_text())
    card.pop("serving_sha256")
    card_path.write_text(json.dumps(card))
    (models / version / "serving.npz").unlink()
    run = subprocess.run([sys.executable, "-c", _NO_SNAPSHOT_SCRIPT], check=False, cwd=repo_root, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "HUECAST_MODELS_DIR": str(models)})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"sklearn_when_pages_may_run": True, "heavy_done": True}
