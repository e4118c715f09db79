"""The dashboard as a person uses it: `streamlit run` in a subprocess, headless Chromium via Playwright."""

from __future__ import annotations

import pytest
from _browser import ARTEFACTS, STEP_TIMEOUT_MS, launch_chromium, open_app, playwright_or_skip, streamlit_server

# Drives Debian's chromium against a live streamlit server.
pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path):
    with streamlit_server(tmp_path / "streamlit.log") as (url, _):
        yield url


def _metric_value(page, label: str):
    label_match = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMetric").filter(has=label_match).get_by_test_id("stMetricValue").first  # a rerun may briefly leave a stale copy


def test_changing_a_concentration_changes_L_star_in_the_browser(server):
    sync_api = playwright_or_skip()
    ARTEFACTS.mkdir(exist_ok=True)

    from model.registry.registry import ModelRegistry

    model, _ = ModelRegistry().load_champion()
    colorant = model.colorants_[0]
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_app(sync_api, page, server)
            L_star = _metric_value(page, "L*")
            L_star.wait_for(timeout=STEP_TIMEOUT_MS)
            before = L_star.inner_text()

            concentration = page.get_by_label(f"{colorant} (wt %)", exact=True)
            concentration.fill(f"{model.training_range_.maximum[colorant]:g}")
            concentration.press("Enter")
            sync_api.expect(L_star).not_to_have_text(before, timeout=STEP_TIMEOUT_MS)
            after = L_star.inner_text()
            page.screenshot(path=str(ARTEFACTS / "predict.png"), full_page=True)
        finally:
            browser.close()
    assert float(after) != float(before)
    assert (ARTEFACTS / "predict.png").stat().st_size > 10_000
