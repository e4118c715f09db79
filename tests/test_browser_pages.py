"""Every page in a real browser: `streamlit run` on loopback, headless Chromium via Playwright.

One server and one browser for the whole walk (a few page visits), against tmp copies
of the models and the store. Each page does its main task and leaves a screenshot in
tests/artifacts/ (gitignored). The Predict page's own check (a concentration changes
L*) lives in tests/test_browser.py; here Predict is only opened.
"""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path

import pytest
from _browser import ARTEFACTS, REPO_ROOT, STEP_TIMEOUT_MS, launch_chromium, open_app, playwright_or_skip, server_on_shipped_models

# Drives Debian's chromium against a live streamlit server.
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sync_api():
    return playwright_or_skip()


@pytest.fixture(scope="module")
def server(sync_api, tmp_path_factory):
    """``streamlit run dashboard/app.py`` on a free loopback port, with tmp models and store."""
    with server_on_shipped_models(tmp_path_factory.mktemp("browser")) as served:
        yield served


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
    from model.registry.registry import ModelRegistry

    model, _ = ModelRegistry(REPO_ROOT / "trained_models").load_champion()
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
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()

            # ---- Predict (home): opens with a prediction -----------------------------------
            open_app(sync_api, page, url)
            page.get_by_test_id("stMetric").first.wait_for(timeout=STEP_TIMEOUT_MS)
            _settle(page)
            _assert_no_traceback(page, "Predict")
            _shot(page, "page-predict")
            visited.append("predict")

            # ---- Batch: a file over the size cap is refused by the uploader, then a real upload,
            # its predictions and the download ------------------------------------------------
            open_app(sync_api, page, f"{url}/batch")
            uploader = page.locator("input[type=file]").first
            uploader.wait_for(state="attached", timeout=STEP_TIMEOUT_MS)
            _settle(page)
            uploader.set_input_files(str(oversized))
            page.get_by_role("alert").filter(has_text=f"File must be {float(max_upload_mb):.1f}MB or smaller").wait_for(timeout=STEP_TIMEOUT_MS)
            assert page.get_by_text("were predicted").count() == 0
            assert page.get_by_text("cannot be used as it is").count() == 0  # never reached the server
            _shot(page, "page-batch-oversized")
            open_app(sync_api, page, f"{url}/batch")  # a fresh uploader
            uploader = page.locator("input[type=file]").first
            uploader.wait_for(state="attached", timeout=STEP_TIMEOUT_MS)
            uploader.set_input_files(str(recipes))
            page.get_by_text("All 2 rows of recipes.csv were predicted").wait_for(timeout=STEP_TIMEOUT_MS)
            _settle(page)  # a click during a rerun can land on a button the rerun replaces
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
            open_app(sync_api, page, f"{url}/formulate")
            page.get_by_role("button", name="Find recipes").click()
            page.get_by_role("button", name="Download these recipes (CSV)").wait_for(timeout=STEP_TIMEOUT_MS)
            page.get_by_text("Recipe 1: ΔE00").wait_for(timeout=STEP_TIMEOUT_MS)
            _settle(page)
            _assert_no_traceback(page, "Formulate")
            _shot(page, "page-formulate")
            visited.append("formulate")

            # ---- Compare (when the page exists) ------------------------------------------------
            if (REPO_ROOT / "dashboard" / "app_pages" / "compare.py").is_file():
                open_app(sync_api, page, f"{url}/compare")
                page.get_by_test_id("stMainBlockContainer").get_by_role("heading").first.wait_for(timeout=STEP_TIMEOUT_MS)
                _settle(page)
                _assert_no_traceback(page, "Compare")
                _shot(page, "page-compare")
                visited.append("compare")

            # ---- Overview and its report download --------------------------------------------
            open_app(sync_api, page, f"{url}/overview")
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
            open_app(sync_api, page, f"{url}/retrain")
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
