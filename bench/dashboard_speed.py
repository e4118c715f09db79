"""Dashboard speed, and the README's screenshots.

    python3 bench/dashboard_speed.py                 # everything (needs /usr/bin/chromium and playwright)
    python3 bench/dashboard_speed.py --no-browser    # only the server rerun and the 100,000-row batch

Measures, on the shipped champion:

1. **start-up**: from launching ``streamlit run dashboard/app.py`` to the first frame that
   headless Chromium draws with the predicted L* in it, timed inside the page (the browser is
   already open, as a user's would be; when Playwright itself saw it is reported beside it);
   also when the server first answers its health check (the warm start,
   ``dashboard/warm_start.py``, runs on in a thread from then on), and the warm start's two
   phases from the server log: seconds until it serves predictions (pandas and Plotly
   imported, the champion's serving snapshot and training samples loaded, one prediction
   made), and seconds more until every page can run (scikit-learn and the full champion;
   this phase waits for the first page run to end). ``--startup-only`` measures just
   this, ``--repeats N`` times (the median is reported);
2. **rerun, server side**: a widget change followed by a full rerun of the Predict page
   (router, sidebar and page), timed inside Streamlit's ScriptRunner around the script
   itself while AppTest drives it; also ``AppTest.run()`` as a whole (adds AppTest's
   polling), and in the browser the round trip from pressing Enter in a concentration
   box to the new L* on screen (adds websocket and drawing);
3. **batch**: 100,000 recipes as CSV bytes through ``model.serving.batch.predict_csv`` (read,
   validate, predict), and separately the CSV download's encoding.

Screenshots of the Predict and Batch pages go to ``dashboard/screenshots/``; the figures
to stdout and ``bench/out/dashboard.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard import state
from dashboard.server import start_dashboard, stop_dashboard, wait_until_healthy
from model import THICKNESS_COLUMN
from model.io.safe_csv import to_csv_bytes
from model.registry.registry import ModelRegistry
from model.serving import batch

# This script is not named dashboard.py: run as a file, its folder comes first on the
# import path, and that name would hide the dashboard package that AppTest imports.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = PROJECT_ROOT / "dashboard" / "screenshots"
OUT = PROJECT_ROOT / "bench" / "out"
BATCH_ROWS = 100_000


def random_recipes(model, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` recipes spread over the model's training range (wt %, µm), with a name column."""
    rng = np.random.default_rng(seed)
    trained = model.training_range_
    recipes = pd.DataFrame({c: rng.uniform(trained.minimum[c], trained.maximum[c], n).round(3) for c in model.colorants_})
    recipes[THICKNESS_COLUMN] = rng.choice([trained.minimum[THICKNESS_COLUMN], trained.maximum[THICKNESS_COLUMN]], n)
    recipes.insert(0, "name", [f"recipe-{i}" for i in range(n)])
    return recipes


def bench_batch(model) -> dict:
    content = random_recipes(model, BATCH_ROWS).to_csv(index=False).encode("utf-8")
    start, cpu_start = time.perf_counter(), time.process_time()
    result = batch.predict_csv(content, model, name="bench.csv")
    predict_s, predict_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    start = time.perf_counter()
    download = to_csv_bytes(result.table)
    download_s = time.perf_counter() - start
    assert result.n_predicted == BATCH_ROWS and not result.problems
    return {"batch_rows": BATCH_ROWS, "batch_upload_mb": round(len(content) / 1e6, 2), "batch_predict_s": round(predict_s, 2), "batch_predict_cpu_s": round(predict_cpu_s, 2),
            "batch_download_csv_s": round(download_s, 2), "batch_download_mb": round(len(download) / 1e6, 1)}


def bench_rerun(model, repeats: int = 20) -> dict:
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    # Time the script itself, as the server runs it, by wrapping the function Streamlit's
    # ScriptRunner executes the page with; AppTest's own polling is then left out.
    script_seconds = []
    original = script_runner.exec_func_with_error_handling

    def timed(func, ctx):
        start = time.perf_counter()
        try:
            return original(func, ctx)
        finally:
            script_seconds.append(time.perf_counter() - start)

    # AppTest compiles the page scripts afresh on every run; the server compiles them once
    # and keeps the bytecode. Keep it here too, so the figure is the server's.
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    compiled: dict[str, object] = {}
    original_get_bytecode = ScriptCache.get_bytecode

    def cached_get_bytecode(self, script_path):
        if script_path not in compiled:
            compiled[script_path] = original_get_bytecode(self, script_path)
        return compiled[script_path]

    script_runner.exec_func_with_error_handling = timed
    ScriptCache.get_bytecode = cached_get_bytecode
    try:
        at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=120)
        at.run()
        key = state.predict_input_key(model.colorants_[0])
        high = model.training_range_.maximum[model.colorants_[0]]
        apptest_seconds = []
        for index in range(repeats + 2):
            at.text_input(key=key).input(f"{high * (index % 5 + 1) / 6:.2f}")
            start = time.perf_counter()
            at.run()
            apptest_seconds.append(time.perf_counter() - start)
            assert not at.exception, at.exception
    finally:
        script_runner.exec_func_with_error_handling = original
        ScriptCache.get_bytecode = original_get_bytecode
    # Drop the first load and two warm-up reruns (training data and Plotly templates fill caches).
    script_seconds, apptest_seconds = script_seconds[3:], apptest_seconds[2:]
    return {
        "rerun_server_script_median_ms": round(1000 * statistics.median(script_seconds)),
        "rerun_server_script_p90_ms": round(1000 * float(np.percentile(script_seconds, 90))),
        "rerun_apptest_run_median_ms": round(1000 * statistics.median(apptest_seconds)),
        "rerun_repeats": len(script_seconds),
    }


#: Added to every page the start-up bench opens: records in ``window.__huecastFirstPrediction`` the
#: wall-clock time (ms since the epoch) of the first frame drawn with the predicted L* in it: a
#: MutationObserver sees the value enter the page, and the time is taken in the next animation
#: frame, the one that paints it. Playwright's own wait polls at growing intervals (up to 0.5 s
#: apart) from the page's busy main thread, so on its own it saw L* 0.1–0.4 s after it was drawn.
FIRST_PREDICTION_SCRIPT = """
(() => {
  const observer = new MutationObserver(() => {
    for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
      const label = metric.querySelector('[data-testid="stMetricLabel"]');
      const value = metric.querySelector('[data-testid="stMetricValue"]');
      if (label && value && label.textContent.trim() === "L*" && value.textContent.trim()) {
        observer.disconnect();
        requestAnimationFrame(() => { window.__huecastFirstPrediction = Date.now(); });
        return;
      }
    }
  });
  observer.observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


def _metric(page, label):
    label_match = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMetric").filter(has=label_match).get_by_test_id("stMetricValue").first


def _warm_start_seconds(log_path: Path) -> list[float]:
    """The warm start's phases from the server log (dashboard/warm_start.py): seconds until it serves
    predictions, then seconds more until every page can run (missing if the server stopped first)."""
    return [float(number) for line in log_path.read_text().splitlines() if line.startswith("Huecast warm start:")
            for number in re.findall(r"(\d+\.\d+) s", line)]


def _new_page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.add_init_script(FIRST_PREDICTION_SCRIPT)
    return page


def _first_prediction(page, launched_at: float) -> tuple[float, float]:
    """Seconds from the server's launch (``launched_at``, ``time.time()``) to the first frame drawn with
    the predicted L* (timed in the page, see :data:`FIRST_PREDICTION_SCRIPT`), and to Playwright seeing it."""
    _metric(page, "L*").wait_for(timeout=120_000)
    seen = time.time() - launched_at
    page.wait_for_function("window.__huecastFirstPrediction !== undefined", timeout=10_000)
    drawn = page.evaluate("window.__huecastFirstPrediction") / 1000 - launched_at
    return drawn, seen


def bench_startup(repeats: int) -> dict:
    """Only the start-up: ``repeats`` fresh servers, each to its first drawn L*; medians."""
    from playwright.sync_api import sync_playwright

    ready, first, seen, warm = [], [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = _new_page(browser)
            log_path = OUT / "streamlit.log"
            with open(log_path, "w") as log:
                start, launched_at = time.perf_counter(), time.time()
                server, url = start_dashboard(log)
                try:
                    wait_until_healthy(url)
                    ready.append(time.perf_counter() - start)
                    _open_once_served(page, url, start)
                    drawn, seen_s = _first_prediction(page, launched_at)
                    first.append(drawn)
                    seen.append(seen_s)
                finally:
                    stop_dashboard(server)
            warm.append(_warm_start_seconds(log_path))
            page.close()
        browser.close()
    return {"startup_server_ready_s": round(statistics.median(ready), 2), "startup_to_first_prediction_s": round(statistics.median(first), 2),
            "startup_to_first_prediction_all_s": [round(x, 2) for x in first],
            "startup_first_prediction_seen_by_playwright_s": round(statistics.median(seen), 2),
            "startup_warm_start_s": warm, "startup_repeats": repeats}


def _open_once_served(page, url: str, start: float, limit_s: float = 120.0) -> None:
    """Go to ``url``, retrying while the server starts (``start`` is when it was launched)."""
    from playwright.sync_api import Error

    while True:
        try:
            page.goto(url, timeout=120_000)
            return
        except Error:
            if time.perf_counter() - start > limit_s:
                raise
            time.sleep(0.05)


def _take_screenshots(page, model, L_star, changed_colorant: str) -> None:
    """The README's screenshots: a green-yellow recipe with two pinned neighbours, then a batch with a bad row.

    ``changed_colorant`` is the one the round trip typed into; it goes back to 0 first.
    """
    from playwright.sync_api import Error, expect

    colorant = model.colorants_[0]
    recipe = {changed_colorant: 0.0, colorant: 0.0, model.colorants_[1]: 12.0, model.colorants_[2]: 0.8}
    try:
        for name, value in recipe.items():
            field = page.get_by_label(f"{name} (wt %)", exact=True)
            if field.input_value() == f"{value:g}":
                continue
            before = L_star.inner_text()
            field.fill(f"{value:.2f}")
            field.press("Enter")
            expect(L_star).not_to_have_text(before, timeout=60_000)  # one rerun at a time, so no entry is typed over
        page.get_by_role("button", name="Pin this recipe").first.click()
        page.get_by_text("Pinned recipes (1 of 4)").wait_for(timeout=60_000)
        before = L_star.inner_text()
        field = page.get_by_label(f"{model.colorants_[2]} (wt %)", exact=True)
        field.fill("1.60")
        field.press("Enter")
        expect(L_star).not_to_have_text(before, timeout=60_000)
        page.get_by_role("button", name="Pin this recipe").first.click()
        page.get_by_text("Pinned recipes (2 of 4)").wait_for(timeout=60_000)
    except Error:
        page.screenshot(path=str(OUT / "failed.png"), full_page=True)
        raise
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
    # The app scrolls inside its own container, so make the window as tall as the page.
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.wait_for_timeout(2000)  # Plotly redraws after the resize
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "predict.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})

    page.get_by_role("link", name="Batch").click()
    uploader = page.locator("input[type=file]")
    uploader.wait_for(state="attached", timeout=60_000)
    example = random_recipes(model, 6, seed=4).astype({colorant: object})
    example.loc[3, colorant] = "a lot"
    example.loc[5, THICKNESS_COLUMN] = -8
    example_path = OUT / "example-recipes.csv"
    example.to_csv(example_path, index=False)
    uploader.set_input_files(str(example_path))
    page.get_by_text("Download predictions (CSV)").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # let the tables draw their images
    page.screenshot(path=str(SCREENSHOTS / "batch.png"), full_page=True)


def _most_visible_colorant(model) -> str:
    """The colorant whose 40–80 % of its trained maximum moves the default recipe's L* most.

    The round trip waits for L* (two decimals) to change; a near-white fluorescent yellow can
    go from 10 to 12.5 wt % without moving it.
    """
    from model.serving import explore

    default = explore.default_recipe(model)

    def lightness(colorant: str, fraction: float) -> float:
        recipe = {**default, colorant: fraction * model.training_range_.maximum[colorant]}
        return float(model.predict(pd.DataFrame([recipe])[model.input_columns]).Lab[0, 0])

    return max(model.colorants_, key=lambda colorant: abs(lightness(colorant, 0.8) - lightness(colorant, 0.4)))


def bench_browser(model) -> dict:
    from playwright.sync_api import expect, sync_playwright

    figures = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = _new_page(browser)
        log = open(OUT / "streamlit.log", "w")
        start, launched_at = time.perf_counter(), time.time()
        server, url = start_dashboard(log)
        try:
            wait_until_healthy(url)  # answers once the lifespan has started the warm start
            figures["startup_server_ready_s"] = round(time.perf_counter() - start, 2)
            _open_once_served(page, url, start)
            drawn, _ = _first_prediction(page, launched_at)
            figures["startup_to_first_prediction_s"] = round(drawn, 2)
            L_star = _metric(page, "L*")

            colorant = _most_visible_colorant(model)
            box = page.get_by_label(f"{colorant} (wt %)", exact=True)
            high = model.training_range_.maximum[colorant]
            round_trips = []
            for index in range(6):
                before = L_star.inner_text()
                box.fill(f"{high * (index % 3 + 2) / 5:.2f}")
                started = time.perf_counter()
                box.press("Enter")
                expect(L_star).not_to_have_text(before, timeout=60_000)
                round_trips.append(time.perf_counter() - started)
            figures["rerun_browser_round_trip_median_ms"] = round(1000 * statistics.median(round_trips[1:]))

            _take_screenshots(page, model, L_star, colorant)
        finally:
            stop_dashboard(server)
            log.close()
            browser.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-browser", action="store_true", help="skip start-up, browser round trip and screenshots")
    parser.add_argument("--startup-only", action="store_true", help="only the start-up to the first prediction, in the browser")
    parser.add_argument("--repeats", type=int, default=5, help="fresh servers for --startup-only (default 5; the median is reported)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    model, card = ModelRegistry().load_champion()
    figures = {"model": card.version, "cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}
    if args.startup_only:
        figures.update(bench_startup(args.repeats))
        for name, value in figures.items():
            print(f"{name:40s} {value}{'  (goal ≤ 3.0 s)' if name == 'startup_to_first_prediction_s' else ''}")
        (OUT / "dashboard_startup.json").write_text(json.dumps(figures, indent=2))
        return 0
    if not args.no_browser:
        if not CHROMIUM.exists():
            print(f"no Chromium at {CHROMIUM}; use --no-browser", file=sys.stderr)
            return 2
        figures.update(bench_browser(model))
    figures.update(bench_rerun(model))
    figures.update(bench_batch(model))
    goals = {"startup_to_first_prediction_s": 3.0, "rerun_server_script_median_ms": 150, "batch_predict_s": 10.0}
    for name, value in figures.items():
        goal = f"  (goal ≤ {goals[name]}{' ms' if name.endswith('_ms') else ' s'})" if name in goals else ""
        print(f"{name:40s} {value}{goal}")
    (OUT / "dashboard.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
