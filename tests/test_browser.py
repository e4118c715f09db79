"""The dashboard as a person uses it: `streamlit run` in a subprocess, headless Chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: a loaded 2-core CI machine starts Streamlit and imports scikit-learn slowly.
START_TIMEOUT_S = 90
STEP_TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(repo_root, tmp_path):
    port = _free_port()
    log = open(tmp_path / "streamlit.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(repo_root / "dashboard" / "app.py"),
         "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=repo_root, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _metric_value(page, label: str):
    label_match = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMetric").filter(has=label_match).get_by_test_id("stMetricValue").first  # a rerun may briefly leave a stale copy


def test_changing_a_concentration_changes_L_star_in_the_browser(server, repo_root):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")
    artefacts = repo_root / "tests" / "artifacts"
    artefacts.mkdir(exist_ok=True)

    from model import registry

    model, _ = registry.load_champion()
    colorant = model.colorants_[0]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:  # the server needs a moment before it accepts connections
                try:
                    page.goto(server, timeout=STEP_TIMEOUT_MS)
                    break
                except sync_api.Error:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            L_star = _metric_value(page, "L*")
            L_star.wait_for(timeout=STEP_TIMEOUT_MS)
            before = L_star.inner_text()

            concentration = page.get_by_label(f"{colorant} (wt %)", exact=True)
            concentration.fill(f"{model.training_range_.maximum[colorant]:g}")
            concentration.press("Enter")
            sync_api.expect(L_star).not_to_have_text(before, timeout=STEP_TIMEOUT_MS)
            after = L_star.inner_text()
            page.screenshot(path=str(artefacts / "predict.png"), full_page=True)
        finally:
            browser.close()
    assert float(after) != float(before)
    assert (artefacts / "predict.png").stat().st_size > 10_000
