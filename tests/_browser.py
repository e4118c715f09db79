"""What the browser tests share: Debian's Chromium under Playwright, and `streamlit run` on loopback."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

import pytest

from dashboard.server import running_dashboard

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling out to the closed network.
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
START_TIMEOUT_S = 120
STEP_TIMEOUT_MS = 90_000


def playwright_or_skip():
    """``playwright.sync_api``, or skip the test saying what is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package (.ci/run does)")
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")


def streamlit_server(log_path: Path, env_overrides: dict | None = None):
    """``streamlit run dashboard/app.py`` on a free loopback port; yields ``(url, process)``."""
    return running_dashboard(log_path, env_overrides)


@contextlib.contextmanager
def server_on_shipped_models(root: Path):
    """The dashboard on a copy of the shipped trained_models/ and an empty store, both in ``root``.

    Yields ``{"url", "root", "log", "process"}``.
    """
    shutil.copytree(REPO_ROOT / "trained_models", root / "models")
    log_path = root / "streamlit.log"
    env = {"HUECAST_MODELS_DIR": str(root / "models"), "HUECAST_DATA_DIR": str(root / "data")}
    with streamlit_server(log_path, env) as (url, process):
        yield {"url": url, "root": root, "log": log_path, "process": process}


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def open_app(sync_api, page, url: str) -> None:
    """Go to ``url``, retrying while the server starts, and wait for the app to draw."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            page.goto(url, timeout=STEP_TIMEOUT_MS)
            break
        except sync_api.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    page.get_by_test_id("stApp").wait_for(timeout=STEP_TIMEOUT_MS)
