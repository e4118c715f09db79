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

When a prediction does not render, the bench records what the page showed at the end:
the number box's value, L*, any error or exception, whether the app was still running,
and a screenshot (``bench/out/lost-*.png``), so a lost prediction can be explained.

Usage::

    python3 bench/load.py                      # 20 then 50 sessions, 5 predictions each
    python3 bench/load.py --sessions 20 --predictions 3 --promote-every 2
    python3 bench/load.py --sessions 20 --server-cpus 1 --browser-cpus 0   # pinned with taskset
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


def start_server(root: Path, server_cpus: str | None = None) -> tuple[subprocess.Popen, str, Path]:
    """The dashboard on a copy of the shipped models, with its own store, in ``root``."""
    shutil.copytree(REPO_ROOT / "trained_models", root / "models")
    log_path = root / "streamlit.log"
    prefix = ("taskset", "-c", server_cpus) if server_cpus else ()
    process, url = start_dashboard(open(log_path, "w"), {"HUECAST_MODELS_DIR": str(root / "models"), "HUECAST_DATA_DIR": str(root / "data")},
                                   command_prefix=prefix)
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
        from model.auth.access import LOCAL_ADMIN
        from model.registry.registry import ModelRegistry

        dataset, _ = load_dataset(REPO_ROOT / "data" / "demo")
        seed = 0
        while not self.stop.is_set():
            cycle_started = time.monotonic()
            try:
                model = FormulationModel(hidden_layer_sizes=(16,), max_iter=200, n_ensemble=1, alpha=0.1, random_state=seed).fit(dataset)
                info = {"fingerprint": dataset.fingerprint(), "n_samples": len(dataset), "n_recipes": dataset.n_recipes, "name": "demo (load bench)"}
                models = ModelRegistry(self.models_dir)
                card = models.save_model(model, metrics={"delta_e00_mean_headline": 1.0}, dataset_info=info)
                models.promote(card.version, user=LOCAL_ADMIN)
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


def typed_value(index: int, step: int, high: float) -> float:
    """What session ``index`` types at ``step``: alternately low and high in the colorant's range.

    The bench knows a prediction rendered when L* shows a new value (2 decimals). So two
    steps in a row must give clearly different L*: values 0.25–18.25 wt % of FluoYellow did
    not, because it saturates (with the demo champion of 2026-12-02, L* reads 99.19 for every
    value from 14.25 to 18.25 wt %, so 22 of 250 steps could never change L* and counted as
    lost). Here each step jumps between the lower and the upper part of the range of the
    colorant that moves L* most, and never types 0 (the page's default for all but one colorant).
    """
    fraction = (0.05 + 0.03 * ((index + step) % 10)) if step % 2 == 0 else (0.62 + 0.03 * ((index + step) % 10))
    return round(fraction * high, 2)


def darkest_colorant(model) -> str:
    """The colorant whose trained range moves L* most (from the default recipe), so each step moves L* by whole units."""
    import pandas as pd

    from model.serving import explore

    base = explore.default_recipe(model)
    spans = {}
    for colorant in model.colorants_:
        low, high = dict(base), dict(base)
        low[colorant], high[colorant] = 0.0, model.training_range_.maximum[colorant]
        Lab = model.predict(pd.DataFrame([low, high])[list(model.input_columns)]).Lab
        spans[colorant] = abs(Lab[0, 0] - Lab[1, 0])
    return max(spans, key=spans.get)


async def predict_loop(page, index: int, colorant: str, n_predictions: int, times: list[float], errors: list[str], high: float = 19.0) -> None:
    field = page.get_by_label(f"{colorant} (wt %)", exact=True)
    L_star = await _metric(page, "L*")
    for step in range(n_predictions):
        value = typed_value(index, step, high)
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
            errors.append(f"session {index}, prediction {step}: {type(error).__name__}: {str(error).splitlines()[0]}; "
                          f"typed {value:g}, L* before {before!r}; page then: {await _page_state(page, field, L_star, index, step)}")
        if await page.get_by_test_id("stException").count():
            errors.append(f"session {index}: a traceback on the page")
        if await page.get_by_text("Connection error").count():
            errors.append(f"session {index}: lost its connection")


async def _page_state(page, field, L_star, index: int, step: int) -> str:
    """What the page shows after a prediction did not render: for the report, and a screenshot."""
    parts = []
    for name, read in (("box", lambda: field.input_value(timeout=5000)), ("L*", lambda: L_star.inner_text(timeout=5000)),
                       ("url", lambda: asyncio.sleep(0, page.url))):
        try:
            parts.append(f"{name}={await read()!r}")
        except Exception as error:  # noqa: BLE001
            parts.append(f"{name}=<{type(error).__name__}>")
    for test_id in ("stException", "stAlertContentError", "stAlertContentWarning", "stStatusWidget"):
        try:
            texts = await page.get_by_test_id(test_id).all_inner_texts()
        except Exception:  # noqa: BLE001
            texts = []
        if texts:
            parts.append(f"{test_id}={[t[:120] for t in texts]}")
    try:
        out = REPO_ROOT / "bench" / "out"
        out.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out / f"lost-{index}-{step}.png"), full_page=True, timeout=20_000)
    except Exception:  # noqa: BLE001
        pass
    return "; ".join(parts)


async def run_level(url: str, n_sessions: int, n_predictions: int, colorant: str, high: float) -> dict:
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
            await asyncio.gather(*(predict_loop(page, index, colorant, n_predictions, times, errors, high) for index, (_, page) in sessions))
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
    parser.add_argument("--server-cpus", help="pin the Streamlit server with taskset, e.g. 1")
    parser.add_argument("--browser-cpus", help="pin this process, its Chromium and the admin's training, e.g. 0")
    parser.add_argument("--step-timeout", type=float, default=STEP_TIMEOUT_MS / 1000, help="seconds a prediction may take before it counts as lost (default 180)")
    args = parser.parse_args(argv)
    globals()["STEP_TIMEOUT_MS"] = int(1000 * args.step_timeout)
    if args.browser_cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.browser_cpus.split(",")})  # Chromium inherits it

    from model.registry.registry import ModelRegistry

    model, _ = ModelRegistry(REPO_ROOT / "trained_models").load_champion()
    colorant = darkest_colorant(model)
    high = float(model.training_range_.maximum[colorant])
    print(f"typing {colorant} (0–{high:g} wt %)", flush=True)
    root = Path(tempfile.mkdtemp(prefix="huecast-load-"))
    process, url, log_path = start_server(root, args.server_cpus)
    admin = Admin(root / "models", args.promote_every)
    levels = []
    try:
        admin.start()
        for n_sessions in args.sessions:
            promotions_before = len(admin.promotions)
            level = asyncio.run(run_level(url, n_sessions, args.predictions, colorant, high))
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
        "server_cpus": args.server_cpus,
        "browser_cpus": args.browser_cpus,
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
