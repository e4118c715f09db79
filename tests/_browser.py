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

# Every table (Streamlit draws it on a canvas): its columns, in order, with their data names (from the
# grid's column ids), titles and widths, the width of the frame they show in, and the header font.
# Read from the grid component's props (glide-data-grid under React): the canvas has no header
# elements to measure. Should Streamlit change that, this returns no tables, and the width test's
# Batch check (which needs the results table) fails rather than passing unseen.
TABLES_JS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].flatMap(frame => {
  const canvas = frame.querySelector('canvas');
  if (!canvas) return [];
  let fiber = canvas[Object.keys(canvas).find(key => key.startsWith('__reactFiber'))];
  while (fiber && !(Array.isArray(fiber.memoizedProps?.columns) && fiber.memoizedProps?.theme)) fiber = fiber.return;
  if (!fiber) return [];
  const {columns, theme, width} = fiber.memoizedProps;
  const context = document.createElement('canvas').getContext('2d');
  context.font = `${theme.headerFontStyle} ${theme.fontFamily}`;
  return [{
    frameWidth: width,
    columns: columns.map(column => ({
      name: (column.id || '').replace(/^_column-/, '').replace(/-\\d+$/, ''),
      title: column.title,
      width: column.width,
      // The header text's width plus the grid's padding on both sides: more than the column holds is cut.
      needed: context.measureText(column.title).width + 2 * theme.cellHorizontalPadding,
    })),
  }];
})"""
# Labels drawn inside charts (line labels, point names) that overlap one another.
CHART_LABELS_OVERLAP_JS = """() => {
  const overlaps = [];
  for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    const labels = [...chart.querySelectorAll('text.annotation-text, .textpoint text')]
      .map(element => ({text: element.textContent, box: element.getBoundingClientRect()}))
      .filter(label => label.box.width > 0);
    labels.forEach((one, index) => labels.slice(index + 1).forEach(other => {
      const a = one.box, b = other.box;
      if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlaps.push(`"${one.text}" and "${other.text}"`);
    }));
  }
  return overlaps;
}"""


def cut_headers(tables) -> list[str]:
    """Table headers wider than their column (drawn cut off), as ``"title" (needs N px, has M)``."""
    return [
        f'"{column["title"]}" (needs {column["needed"]:.0f} px, has {column["width"]:.0f})'
        for table in tables for column in table["columns"] if column["needed"] > column["width"] + 0.5
    ]


def fully_visible_columns(table) -> list[str]:
    """The data names of the columns shown whole before any sideways scroll."""
    shown, right = [], 0.0
    for column in table["columns"]:
        right += column["width"]
        if right > table["frameWidth"] + 0.5:
            break
        shown.append(column["name"])
    return shown


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
