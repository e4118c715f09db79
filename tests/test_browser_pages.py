"""Every page in a real browser: `streamlit run` on loopback, headless Chromium via Playwright.

One server and one browser for the whole walk (a few page visits), against tmp copies
of the models and the store. Each page does its main task and leaves a screenshot in
tests/artifacts/ (gitignored). The Predict page's own check (a concentration changes
L*) lives in tests/test_browser.py; here Predict is only opened.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
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
START_TIMEOUT_S = 120  # a loaded 2-core machine imports scikit-learn slowly
STEP_TIMEOUT_MS = 90_000
ARTEFACTS = REPO_ROOT / "tests" / "artifacts"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def sync_api():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package (.ci/run does)")
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")


@pytest.fixture(scope="module")
def server(sync_api, tmp_path_factory):
    """``streamlit run dashboard/app.py`` on a free loopback port, with tmp models and store."""
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(REPO_ROOT / "trained_models", root / "models")
    port = _free_port()
    log_path = root / "streamlit.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HUECAST_MODELS_DIR": str(root / "models"), "HUECAST_DATA_DIR": str(root / "data")}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
             "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
            # From the repository root: Streamlit reads .streamlit/config.toml (the upload cap,
            # showErrorDetails) from the working directory, not from the script's folder.
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        try:
            yield {"url": f"http://127.0.0.1:{port}", "root": root, "log": log_path, "process": process}
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _open(sync_api, page, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:  # the server needs a moment before it accepts connections
        try:
            page.goto(url, timeout=STEP_TIMEOUT_MS)
            break
        except sync_api.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    page.get_by_test_id("stApp").wait_for(timeout=STEP_TIMEOUT_MS)


def _settle(page) -> None:
    """Wait until the script run ends (the status widget stops showing 'Running')."""
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=STEP_TIMEOUT_MS)


def _assert_no_traceback(page, where: str) -> None:
    assert page.get_by_test_id("stException").count() == 0, f"{where}: a traceback reached the page"
    assert "Traceback (most recent call last)" not in page.content(), f"{where}: a traceback reached the page"


def _shot(page, name: str) -> Path:
    ARTEFACTS.mkdir(exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_every_page_does_its_main_task_in_a_browser(sync_api, server, tmp_path):
    from model import registry

    model, _ = registry.load_champion(REPO_ROOT / "trained_models")
    colorants = list(model.colorants_)
    url = server["url"]
    max_upload_mb = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["server"]["maxUploadSize"]

    recipes = tmp_path / "recipes.csv"
    with open(recipes, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *colorants, "thickness_um"])
        writer.writerow(["=cmd|' /C calc'!A0", *[1] * len(colorants), 10])
        writer.writerow(["plain", *[0.5] * len(colorants), 8])
    oversized = tmp_path / "oversized.csv"
    with open(oversized, "wb") as handle:  # one byte over the configured cap, sparse on disk
        handle.truncate(max_upload_mb * 1024 * 1024 + 1)

    visited = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()

            # ---- Predict (home): opens with a prediction -----------------------------------
            _open(sync_api, page, url)
            page.get_by_test_id("stMetric").first.wait_for(timeout=STEP_TIMEOUT_MS)
            _settle(page)
            _assert_no_traceback(page, "Predict")
            _shot(page, "page-predict")
            visited.append("predict")

            # ---- Batch: a file over the size cap is refused by the uploader, then a real upload,
            # its predictions and the download ------------------------------------------------
            _open(sync_api, page, f"{url}/batch")
            uploader = page.locator("input[type=file]").first
            uploader.wait_for(state="attached", timeout=STEP_TIMEOUT_MS)
            _settle(page)
            uploader.set_input_files(str(oversized))
            page.get_by_role("alert").filter(has_text=f"File must be {float(max_upload_mb):.1f}MB or smaller").wait_for(timeout=STEP_TIMEOUT_MS)
            assert page.get_by_text("were predicted").count() == 0
            assert page.get_by_text("cannot be used as it is").count() == 0  # never reached the server
            _shot(page, "page-batch-oversized")
            _open(sync_api, page, f"{url}/batch")  # a fresh uploader
            uploader = page.locator("input[type=file]").first
            uploader.wait_for(state="attached", timeout=STEP_TIMEOUT_MS)
            uploader.set_input_files(str(recipes))
            page.get_by_text("All 2 rows of recipes.csv were predicted").wait_for(timeout=STEP_TIMEOUT_MS)
            with page.expect_download(timeout=STEP_TIMEOUT_MS) as download_info:
                page.get_by_role("button", name="Download predictions (CSV)").click()
            downloaded = Path(download_info.value.path()).read_text(encoding="utf-8")
            rows = list(csv.DictReader(io.StringIO(downloaded)))
            assert [row["name"] for row in rows] == ["'=cmd|' /C calc'!A0", "plain"]
            assert all(row["hex"].startswith("#") and float(row["L"]) > 0 for row in rows)
            _assert_no_traceback(page, "Batch")
            _shot(page, "page-batch")
            visited.append("batch")

            # ---- Formulate: find recipes for the default target colour ----------------------
            _open(sync_api, page, f"{url}/formulate")
            page.get_by_role("button", name="Find recipes").click()
            page.get_by_role("button", name="Download these recipes (CSV)").wait_for(timeout=STEP_TIMEOUT_MS)
            page.get_by_text("Recipe 1: ΔE00").wait_for(timeout=STEP_TIMEOUT_MS)
            _settle(page)
            _assert_no_traceback(page, "Formulate")
            _shot(page, "page-formulate")
            visited.append("formulate")

            # ---- Compare (when the page exists) ------------------------------------------------
            if (REPO_ROOT / "dashboard" / "app_pages" / "compare.py").is_file():
                _open(sync_api, page, f"{url}/compare")
                page.get_by_test_id("stMainBlockContainer").get_by_role("heading").first.wait_for(timeout=STEP_TIMEOUT_MS)
                _settle(page)
                _assert_no_traceback(page, "Compare")
                _shot(page, "page-compare")
                visited.append("compare")

            # ---- Overview and its report download --------------------------------------------
            _open(sync_api, page, f"{url}/overview")
            page.get_by_text("How accurate are the predictions?").wait_for(timeout=STEP_TIMEOUT_MS)
            with page.expect_download(timeout=STEP_TIMEOUT_MS) as download_info:
                page.get_by_role("button", name="Download this overview as a report").click()
            report_html = Path(download_info.value.path()).read_text(encoding="utf-8")
            assert "<html" in report_html.lower() and len(report_html) > 10_000
            _settle(page)
            _assert_no_traceback(page, "Overview")
            _shot(page, "page-overview")
            visited.append("overview")

            # ---- Retrain as admin (local install: no sign-in configured): the upload step ----
            _open(sync_api, page, f"{url}/retrain")
            demo = REPO_ROOT / "data" / "demo"
            page.locator("input[type=file]").first.set_input_files([str(demo / "Spectra.csv"), str(demo / "Concentrations.csv")])
            page.get_by_text("Check the match report").wait_for(timeout=STEP_TIMEOUT_MS)
            _settle(page)
            _assert_no_traceback(page, "Retrain")
            _shot(page, "page-retrain")
            visited.append("retrain")
        finally:
            browser.close()
    assert server["process"].poll() is None, "the server died during the walk"
    log = server["log"].read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert {"predict", "batch", "formulate", "overview", "retrain"} <= set(visited)
