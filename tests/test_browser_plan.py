"""The Plan experiments page in a real browser: plan a batch and download its recipe table.

`streamlit run` on loopback against the ``tiny_install`` fixture's install (a store and a
champion trained on it, so the champion's training data is always found), headless
Chromium via Playwright. Leaves a screenshot in tests/artifacts/ (gitignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _browser import (
    ARTEFACTS,
    CHART_LABELS_OVERLAP_JS,
    STEP_TIMEOUT_MS,
    TABLES_JS,
    cut_headers,
    launch_chromium,
    open_app,
    playwright_or_skip,
    streamlit_server,
)

from model.io.recipes import read_recipe_table

pytestmark = pytest.mark.browser


def test_plan_page_suggests_six_recipes_and_downloads_a_recipe_table_the_upload_reads(tiny_install, tmp_path):
    sync_api = playwright_or_skip()
    install = {"HUECAST_MODELS_DIR": str(tiny_install["models_dir"]), "HUECAST_DATA_DIR": str(tiny_install["store"].path.parent)}
    with streamlit_server(tmp_path / "streamlit.log", install) as (url, _), sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
            open_app(sync_api, page, f"{url}/plan")
            page.get_by_role("heading", name="Plan experiments").wait_for(timeout=STEP_TIMEOUT_MS)
            page.get_by_role("button", name="Plan experiments").click()
            download_button = page.get_by_role("button", name="Download the recipe table (CSV)")
            download_button.wait_for(timeout=STEP_TIMEOUT_MS)
            page.get_by_text("6 recipes to make next").wait_for(timeout=STEP_TIMEOUT_MS)
            page.wait_for_timeout(300)
            page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=STEP_TIMEOUT_MS)
            assert page.get_by_test_id("stException").count() == 0, "a traceback reached the page"
            with page.expect_download(timeout=STEP_TIMEOUT_MS) as download_info:
                download_button.click()
            recipes, colorants = read_recipe_table(Path(download_info.value.path()).read_bytes(), name="downloaded")
            assert list(recipes["recipe_id"]) == [f"PLAN{i}" for i in range(1, 7)]
            assert colorants == list(tiny_install["model"].colorants_) and (recipes[colorants].sum(axis=1) > 0).all()
            # The chart names every suggestion without two names overlapping, and the table's headers are whole,
            # at 1400 px and at 800 px (the same page, narrowed: the layout redraws without a rerun).
            for width in (1400, 800):
                page.set_viewport_size({"width": width, "height": 1000})
                page.wait_for_timeout(800)
                tables = page.evaluate(TABLES_JS)
                [plan_table] = [table for table in tables if "why this recipe" in [column["title"] for column in table["columns"]]]
                assert [column["title"] for column in plan_table["columns"][:3]] == ["recipe", "colour", "why this recipe"]
                assert cut_headers(tables) == [], (width, cut_headers(tables))
                assert page.evaluate(CHART_LABELS_OVERLAP_JS) == [], width
            ARTEFACTS.mkdir(exist_ok=True)
            shot = ARTEFACTS / "page-plan.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
