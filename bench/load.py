"""Load: many browser sessions predicting at once while an admin retrains and promotes.

Starts ``streamlit run dashboard/app.py`` on loopback (tmp copies of the models and the
store), opens N sessions as Playwright browser contexts in one headless Chromium, and
holds them all open. Each session then predicts K times: it types a new concentration
into a number input and waits until the L* metric shows a new value (time to a rendered
prediction, measured in the browser's own page). Meanwhile a background thread plays
the admin: it trains a model on the demo data, saves it and promotes it, again and
again, against the same models directory the server reads.

Reports p50, p99 and max time to a rendered prediction, and errors: timeouts, a
traceback on a page, a session that lost its connection, or a traceback in the
server's log.

Usage::

    python3 bench/load.py                      # 20 then 50 sessions, 5 predictions each
    python3 bench/load.py --sessions 20 --predictions 3 --promote-every 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from dashboard.server import start_dashboard, stop_dashboard

REPO_ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEP_TIMEOUT_MS = 180_000


def start_server(root: Path) -> tuple[subprocess.Popen, str, Path]:
    """The dashboard on a copy of the shipped models, with its own store, in ``root``."""
    shutil.copytree(REPO_ROOT / "trained_models", root / "models")
    log_path = root / "streamlit.log"
    process, url = start_dashboard(open(log_path, "w"), {"HUECAST_MODELS_DIR": str(root / "models"), "HUECAST_DATA_DIR": str(root / "data")})
    return process, url, log_path


class Admin(threading.Thread):
    """Retrains on the demo data and promotes, in a loop, until told to stop."""

    def __init__(self, models_dir: Path, every_s: float) -> None:
        super().__init__(daemon=True)
        self.models_dir = models_dir
        self.every_s = every_s
        self.stop = threading.Event()
        self.promotions: list[tuple[float, str]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        from model import FormulationModel, load_dataset
        from model.ops import registry
        from model.ops.access import LOCAL_ADMIN

        dataset, _ = load_dataset(REPO_ROOT / "data" / "demo")
        seed = 0
        while not self.stop.is_set():
            cycle_started = time.monotonic()
            try:
                model = FormulationModel(hidden_layer_sizes=(16,), max_iter=200, n_ensemble=1, alpha=0.1, random_state=seed).fit(dataset)
                info = {"fingerprint": dataset.fingerprint(), "n_samples": len(dataset), "n_recipes": dataset.n_recipes, "name": "demo (load bench)"}
                card = registry.save_model(model, metrics={"delta_e00_mean_headline": 1.0}, dataset_info=info, models_dir=self.models_dir)
                registry.promote(card.version, self.models_dir, user=LOCAL_ADMIN)
                self.promotions.append((time.monotonic(), card.version))
            except Exception as error:  # noqa: BLE001 - the bench reports every failure
                self.errors.append(f"admin: {type(error).__name__}: {error}")
            seed += 1
            self.stop.wait(max(0.0, self.every_s - (time.monotonic() - cycle_started)))


async def _metric(page, label: str):
    label_match = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMetric").filter(has=label_match).get_by_test_id("stMetricValue").first


async def open_session(browser, url: str, index: int, errors: list[str]):
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(f"session {index}: page error {error}"))
    for attempt in range(240):
        try:
            await page.goto(url, timeout=STEP_TIMEOUT_MS)
            break
        except Exception:
            if attempt == 239:
                raise
            await asyncio.sleep(0.5)
    await (await _metric(page, "L*")).wait_for(timeout=STEP_TIMEOUT_MS)
    return context, page


async def predict_loop(page, index: int, colorant: str, n_predictions: int, times: list[float], errors: list[str]) -> None:
    field = page.get_by_label(f"{colorant} (wt %)", exact=True)
    L_star = await _metric(page, "L*")
    for step in range(n_predictions):
        # A new value every step, and never the page's default (half the trained maximum,
        # a whole or half number), which would leave L* unchanged and time out.
        value = 0.25 + ((index * 7 + step * 3) % 19)
        try:
            before = await L_star.inner_text(timeout=STEP_TIMEOUT_MS)
            started = time.perf_counter()
            await field.fill(f"{value:g}")
            await field.press("Enter")
            await page.wait_for_function(
                """([before]) => {
                    const labels = [...document.querySelectorAll('[data-testid="stMetricLabel"]')];
                    const label = labels.find(l => l.innerText.trim() === 'L*');
                    if (!label) return false;
                    const value = label.closest('[data-testid="stMetric"]').querySelector('[data-testid="stMetricValue"]');
                    return value && value.innerText.trim() !== before.trim();
                }""",
                arg=[before],
                timeout=STEP_TIMEOUT_MS,
            )
            times.append(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001
            errors.append(f"session {index}, prediction {step}: {type(error).__name__}: {str(error).splitlines()[0]}")
        if await page.get_by_test_id("stException").count():
            errors.append(f"session {index}: a traceback on the page")
        if await page.get_by_text("Connection error").count():
            errors.append(f"session {index}: lost its connection")


async def run_level(url: str, n_sessions: int, n_predictions: int, colorant: str) -> dict:
    from playwright.async_api import async_playwright

    errors: list[str] = []
    times: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            opened = time.perf_counter()
            results = await asyncio.gather(*(open_session(browser, url, i, errors) for i in range(n_sessions)), return_exceptions=True)
            sessions = []
            for index, result in enumerate(results):
                if isinstance(result, Exception):
                    errors.append(f"session {index}: did not open: {type(result).__name__}: {str(result).splitlines()[0]}")
                else:
                    sessions.append((index, result))
            seconds_to_open = time.perf_counter() - opened
            started = time.perf_counter()
            await asyncio.gather(*(predict_loop(page, index, colorant, n_predictions, times, errors) for index, (_, page) in sessions))
            seconds = time.perf_counter() - started
            held = len(sessions)
            for _, (context, _) in sessions:
                await context.close()
        finally:
            await browser.close()
    return {
        "sessions": n_sessions,
        "sessions_held": held,
        "predictions_requested": n_sessions * n_predictions,
        "predictions_rendered": len(times),
        "p50_s": float(np.percentile(times, 50)) if times else None,
        "p99_s": float(np.percentile(times, 99)) if times else None,
        "max_s": max(times) if times else None,
        "mean_s": statistics.fmean(times) if times else None,
        "seconds_to_open_all": seconds_to_open,
        "seconds_predicting": seconds,
        "errors": errors,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--predictions", type=int, default=5, help="predictions per session")
    parser.add_argument("--promote-every", type=float, default=5.0, help="seconds between the admin's promotions (a retrain each time)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "load.json")
    args = parser.parse_args(argv)

    from model.ops import registry

    model, _ = registry.load_champion(REPO_ROOT / "trained_models")
    colorant = model.colorants_[0]
    root = Path(tempfile.mkdtemp(prefix="huecast-load-"))
    process, url, log_path = start_server(root)
    admin = Admin(root / "models", args.promote_every)
    levels = []
    try:
        admin.start()
        for n_sessions in args.sessions:
            promotions_before = len(admin.promotions)
            level = asyncio.run(run_level(url, n_sessions, args.predictions, colorant))
            level["promotions_during"] = len(admin.promotions) - promotions_before
            levels.append(level)
            shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in level.items() if k != "errors"}
            print(json.dumps(shown), flush=True)
            for error in level["errors"][:10]:
                print("  error:", error, flush=True)
    finally:
        admin.stop.set()
        admin.join(timeout=120)
        stop_dashboard(process, timeout_s=15)
    server_log = log_path.read_text(encoding="utf-8", errors="replace")
    server_tracebacks = server_log.count("Traceback (most recent call last)")
    summary = {
        "levels": levels,
        "admin_promotions": len(admin.promotions),
        "admin_errors": admin.errors,
        "server_tracebacks": server_tracebacks,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"admin promotions: {len(admin.promotions)}; admin errors: {len(admin.errors)}; server tracebacks: {server_tracebacks}")
    for error in admin.errors[:5]:
        print("  admin error:", error)
    if server_tracebacks:
        print(server_log[-3000:])
    shutil.rmtree(root, ignore_errors=True)
    total_errors = sum(len(level["errors"]) for level in levels) + len(admin.errors) + server_tracebacks
    return 0 if total_errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
